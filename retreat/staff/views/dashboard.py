"""Coordinator console: dashboard (routes of staff_bp)."""
