"""Bookings of a seat in a cohort."""
