"""A new booking: its price frozen from the current price list, its reference, its manage link, and the pre-screen
it used. Inside the caller's unit of work, which holds the cohort."""

from dataclasses import dataclass
from datetime import date, datetime, timedelta

import sqlalchemy as sa

from retreat.booking import hold_rules
from retreat.booking.access import manage_token, manage_token_hash
from retreat.booking.models import Booking, new_booking_reference
from retreat.booking.requests import Applicant
from retreat.catalog import services as catalog
from retreat.catalog.models import Cohort
from retreat.core import clinic
from retreat.core.clock import now, today
from retreat.core.errors import DomainError, ValidationFailed
from retreat.extensions import db
from retreat.pricing import estimator
from retreat.pricing import services as pricing
from retreat.screening import services as screening_services
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
        raise DomainError(f"This program needs a custom quote at current prices. Please {clinic.contact_words()}.",
                          code="custom_quote_required", status=409)
    return estimate


@dataclass(frozen=True)
class PaymentSplit:
    """What a booking made today takes at booking (the deposit) and later (the balance, due on `balance_due_date`)."""

    deposit_cents: int
    balance_cents: int
    balance_due_date: date | None  # None: no balance, the whole price is taken at booking


def payment_split(estimate: estimator.Estimate, cohort_start: date) -> PaymentSplit:
    """The deposit and balance of a booking made today. The balance falls due the price list's days before the
    start (domain/pricing.md: 14); for a cohort that starts within those days (counted in the clinic's calendar,
    today from core.clock) it would be due at once, so the whole price is the deposit and there is no balance."""
    due = estimate.balance_due_date(cohort_start)
    if due <= today():
        return PaymentSplit(estimate.total_cents, 0, None)
    return PaymentSplit(estimate.deposit_cents, estimate.balance_cents, due)


def split_of_total(total_cents: int, price_list_version: int, cohort_start: date) -> PaymentSplit:
    """The deposit and balance of a price set today (a reduced fee granted by staff): the deposit rule of the
    booking's frozen price list applied to `total_cents`, the whole price when the balance would be due today or
    before (as payment_split)."""
    prices = pricing.price_sheet(price_list_version)
    due = cohort_start - timedelta(days=prices.balance_due_days_before_start)
    if due <= today():
        return PaymentSplit(total_cents, 0, None)
    deposit = estimator.deposit_for(total_cents, prices)
    return PaymentSplit(deposit, total_cents - deposit, due)


def balance_due_date(estimate: estimator.Estimate, cohort_start: date) -> date | None:
    """When the balance of a booking made today falls due; None when the whole price is taken at booking."""
    return payment_split(estimate, cohort_start).balance_due_date


def new_booking(cohort: Cohort, screening: Screening, lodging: str, applicant: Applicant, *, status: str,
                provider_name: str, hold_expires_at: datetime, save_card: bool,
                client_address: str | None = None, policy_version: str | None = None) -> tuple[Booking, str]:
    """Add a booking with its price frozen from the current price list (caller holds the cohort lock), and the
    version of the cancellation policy its applicant accepted (now), if they did."""
    estimate = price_of(cohort, lodging)
    split = payment_split(estimate, cohort.start_date)
    booking = Booking(
        reference=_unused_reference(), cohort_id=cohort.id, status=status, lodging=lodging,
        applicant_first_name=applicant.first_name, applicant_last_name=applicant.last_name,
        applicant_email=applicant.email, applicant_phone=applicant.phone,
        applicant_email_key=hold_rules.email_key(applicant.email),
        applicant_phone_key=hold_rules.phone_key(applicant.phone), client_address=client_address,
        price_list_version=estimate.price_list_version, total_cents=estimate.total_cents,
        deposit_cents=split.deposit_cents, balance_cents=split.balance_cents, balance_due_date=split.balance_due_date,
        hold_expires_at=hold_expires_at, screening_id=screening.id, payment_provider=provider_name,
        save_card_consent=bool(save_card) and provider_name == "stripe" and split.balance_cents > 0,
        balance_reminders_sent=[], policy_version=policy_version,
        policy_accepted_at=now() if policy_version is not None else None,
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
    if not screening_services.claim_for_booking(screening.id):
        raise ValidationFailed({"screening_token": ["This pre-screen was already used for a booking."]})
