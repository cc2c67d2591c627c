"""Coordinator console: programs (routes of staff_bp)."""
