"""A new booking: its price frozen from the current price list, its reference, its manage link, and the pre-screen
it used. Inside the caller's unit of work, which holds the cohort."""

from datetime import date, datetime

import sqlalchemy as sa

from retreat.booking import hold_rules
from retreat.booking.access import manage_token, manage_token_hash
from retreat.booking.models import Booking, new_booking_reference
from retreat.booking.requests import Applicant
from retreat.catalog import services as catalog
from retreat.catalog.models import Cohort
from retreat.core.clock import now, today
from retreat.core.errors import DomainError, ValidationFailed
from retreat.extensions import db
from retreat.pricing import estimator
from retreat.pricing import services as pricing
from retreat.screening.models import Screening


def price_of(cohort: Cohort, lodging: str) -> estimator.Estimate:
    """The price of the cohort's program with a lodging, its nights the program's length less one. A cohort whose
    dates do not last that length (saved before the rule) is refused rather than priced for other nights."""
    program = cohort.program
    if not catalog.lasts_its_program(cohort, program.duration_days):
        raise DomainError("These dates cannot be booked online. Please contact the clinic.",
                          code="cohort_not_bookable", status=409)
    configuration = estimator.Configuration(
        program.duration_days, program.ketamine_route, program.dosing_sessions, program.therapy_modality,
        program.integration_sessions, program.intensive_sessions, lodging)
    estimate = estimator.estimate(configuration, pricing.current_price_sheet())
    if estimate.custom_quote_required:
        raise DomainError("This program needs a custom quote at current prices. Please contact the clinic.",
                          code="custom_quote_required", status=409)
    return estimate


def balance_due_date(estimate: estimator.Estimate, cohort_start: date) -> date:
    """When the balance of a booking made today falls due: the policy's days before the start, never before
    today (a booking close to its start owes the balance at once)."""
    return max(estimate.balance_due_date(cohort_start), today())


def new_booking(cohort: Cohort, screening: Screening, lodging: str, applicant: Applicant, *, status: str,
                provider_name: str, hold_expires_at: datetime, save_card: bool,
                client_address: str | None = None) -> tuple[Booking, str]:
    """Add a booking with its price frozen from the current price list (caller holds the cohort lock)."""
    estimate = price_of(cohort, lodging)
    due = balance_due_date(estimate, cohort.start_date)
    booking = Booking(
        reference=_unused_reference(), cohort_id=cohort.id, status=status, lodging=lodging,
        applicant_first_name=applicant.first_name, applicant_last_name=applicant.last_name,
        applicant_email=applicant.email, applicant_phone=applicant.phone,
        applicant_email_key=hold_rules.email_key(applicant.email),
        applicant_phone_key=hold_rules.phone_key(applicant.phone), client_address=client_address,
        price_list_version=estimate.price_list_version, total_cents=estimate.total_cents,
        deposit_cents=estimate.deposit_cents, balance_cents=estimate.balance_cents, balance_due_date=due,
        hold_expires_at=hold_expires_at, screening_id=screening.id, payment_provider=provider_name,
        save_card_consent=bool(save_card) and provider_name == "stripe", balance_reminders_sent=[],
    )
    db.session.add(booking)
    db.session.flush()
    token = manage_token(booking)
    booking.manage_token_hash = manage_token_hash(token)
    return booking, token


def _unused_reference() -> str:
    for _ in range(10):
        reference = new_booking_reference()
        if db.session.scalar(sa.select(Booking.id).where(Booking.reference == reference)) is None:
            return reference
    raise RuntimeError("could not find an unused booking reference")


def use_screening_token(screening: Screening) -> None:
    """Mark the pre-screen used, atomically: of two bookings racing with one token, one wins."""
    used = db.session.execute(
        sa.update(Screening).where(Screening.id == screening.id, Screening.token_used_at.is_(None))
        .values(token_used_at=now())
    ).rowcount
    if used != 1:
        raise ValidationFailed({"screening_token": ["This pre-screen was already used for a booking."]})
