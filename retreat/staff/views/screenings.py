"""Clinician console: the screening review queue (routes of staff_bp)."""
