"""Imports every area's models, so Alembic and SQLAlchemy see all tables."""

__all__ = ["AuditEntry", "Booking", "Cohort", "CohortStaff", "DiscountCode", "DiscountUse", "FeeRequest", "JobClaim",
           "LoginAttempt", "OutboxEmail", "Payment", "PriceList", "PriceListItem", "ProcessedStripeEvent", "Program",
           "Room", "RoomPlacement", "Screening", "StaffApiToken", "StaffUser", "WaitlistEntry"]
from retreat.booking.models import Booking, FeeRequest, WaitlistEntry
from retreat.booking.rooms_models import Room, RoomPlacement
from retreat.booking.staffing_models import CohortStaff
from retreat.catalog.models import Cohort, DiscountCode, DiscountUse, Program
from retreat.core.audit import AuditEntry
from retreat.core.jobs import JobClaim
from retreat.notify.models import OutboxEmail
from retreat.payments.models import Payment, ProcessedStripeEvent
from retreat.pricing.models import PriceList, PriceListItem
from retreat.screening.models import Screening
from retreat.staff.models import LoginAttempt, StaffApiToken, StaffUser

__all__ = ["AuditEntry", "Booking", "Cohort", "CohortStaff", "DiscountCode", "DiscountUse", "FeeRequest", "JobClaim",
           "LoginAttempt", "OutboxEmail", "Payment", "PriceList", "PriceListItem", "ProcessedStripeEvent", "Program",
           "Room", "RoomPlacement", "Screening", "StaffApiToken", "StaffUser", "WaitlistEntry"]
