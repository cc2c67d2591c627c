"""Imports every area's models, so Alembic and SQLAlchemy see all tables."""

from retreat.booking.models import Booking, FeeRequest, WaitlistEntry
from retreat.catalog.models import Cohort, DiscountCode, DiscountUse, Program
from retreat.core.audit import AuditEntry
from retreat.core.jobs import JobClaim
from retreat.notify.models import OutboxEmail
from retreat.payments.models import Payment, ProcessedStripeEvent
from retreat.pricing.models import PriceList, PriceListItem
from retreat.screening.models import Screening
from retreat.staff.models import LoginAttempt, StaffApiToken, StaffUser

__all__ = ["AuditEntry", "Booking", "Cohort", "DiscountCode", "DiscountUse", "FeeRequest", "JobClaim", "LoginAttempt",
           "OutboxEmail", "Payment", "PriceList", "PriceListItem", "ProcessedStripeEvent", "Program", "Screening",
           "StaffApiToken", "StaffUser", "WaitlistEntry"]
