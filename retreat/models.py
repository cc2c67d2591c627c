"""Imports every area's models, so Alembic and SQLAlchemy see all tables."""

from retreat.booking.models import Booking
from retreat.catalog.models import Cohort, Program
from retreat.core.audit import AuditEntry
from retreat.pricing.models import PriceList, PriceListItem
from retreat.staff.models import LoginAttempt, StaffUser

__all__ = ["AuditEntry", "Booking", "Cohort", "LoginAttempt", "PriceList", "PriceListItem", "Program", "StaffUser"]
