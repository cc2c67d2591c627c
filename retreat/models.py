"""Imports every area's models, so Alembic and SQLAlchemy see all tables."""

from retreat.booking.models import Booking
from retreat.catalog.models import Cohort, Program
from retreat.core.audit import AuditEntry
from retreat.notify.models import OutboxEmail
from retreat.pricing.models import PriceList, PriceListItem
from retreat.screening.models import Screening
from retreat.staff.models import LoginAttempt, StaffUser

__all__ = ["AuditEntry", "Booking", "Cohort", "LoginAttempt", "OutboxEmail", "PriceList", "PriceListItem", "Program",
           "Screening", "StaffUser"]
