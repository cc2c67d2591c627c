"""Imports every area's models, so Alembic and SQLAlchemy see all tables."""

from retreat.arrival.clearance_models import Clearance
from retreat.booking.models import Booking, FeeRequest, WaitlistEntry
from retreat.catalog.models import Cohort, DiscountCode, DiscountUse, Program
from retreat.core.audit import AuditEntry
from retreat.notify.models import OutboxEmail
from retreat.payments.models import Payment, ProcessedStripeEvent
from retreat.pricing.models import PriceList, PriceListItem
from retreat.screening.models import Screening
from retreat.staff.models import LoginAttempt, StaffApiToken, StaffUser

__all__ = ["AuditEntry", "Booking", "Clearance", "Cohort", "DiscountCode", "DiscountUse", "FeeRequest", "LoginAttempt",
           "OutboxEmail", "Payment", "PriceList", "PriceListItem", "ProcessedStripeEvent", "Program", "Screening",
           "StaffApiToken", "StaffUser", "WaitlistEntry"]
