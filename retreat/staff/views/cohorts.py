"""Coordinator console: cohorts (routes of staff_bp)."""
