"""Coordinator console: prices (routes of staff_bp)."""
