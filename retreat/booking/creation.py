"""A new booking: its price frozen from the current price list, its reference, its manage link, and the pre-screen
it used. Inside the caller's unit of work, which holds the cohort."""

from dataclasses import dataclass
from datetime import date, datetime, timedelta

import sqlalchemy as sa

from retreat.booking import hold_rules, plans
from retreat.booking.access import manage_token, manage_token_hash
from retreat.booking.models import Booking, new_booking_reference
from retreat.booking.requests import Applicant
from retreat.catalog import discounts
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

# The least a booking made with a discount code may cost: a payment provider takes no smaller payment.
MIN_PAYABLE_CENTS = 100


def price_of(cohort: Cohort, lodging: str, discount: discounts.Discount | None = None) -> estimator.Estimate:
    """The price of the cohort's program with a lodging, its nights the program's length less one, less a discount
    code's (checked) discount. A cohort whose dates do not last that length (saved before the rule) is refused
    rather than priced for other nights."""
    program = cohort.program
    if not catalog.lasts_its_program(cohort, program.duration_days):
        raise DomainError("These dates cannot be booked online. Please contact the clinic.",
                          code="cohort_not_bookable", status=409)
    configuration = estimator.Configuration(
        program.duration_days, program.ketamine_route, program.dosing_sessions, program.therapy_modality,
        program.integration_sessions, program.intensive_sessions, lodging)
    prices = pricing.current_price_sheet()
    estimate = estimator.estimate(configuration, prices)
    if estimate.custom_quote_required:
        raise DomainError(f"This program needs a custom quote at current prices. Please {clinic.contact_words()}.",
                          code="custom_quote_required", status=409)
    if discount is not None:  # a line of the frozen price: the deposit rule applies to the discounted total
        estimate = estimator.discounted(estimate, discount.cents_off(estimate.total_cents), prices)
        if estimate.total_cents < MIN_PAYABLE_CENTS:  # no card payment is that small: the clinic arranges it
            raise ValidationFailed({discounts.FIELD: [
                f"This code leaves almost nothing to pay, which cannot be booked online. Please "
                f"{clinic.contact_words()} to book with it."]})
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
    if estimate.takes_whole_price(cohort_start, today()):
        return PaymentSplit(estimate.total_cents, 0, None)
    return PaymentSplit(estimate.deposit_cents, estimate.balance_cents, estimate.balance_due_date(cohort_start))


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
                client_address: str | None = None, policy_version: str | None = None,
                discount: discounts.Discount | None = None,
                payment_plan: str = "deposit") -> tuple[Booking, str]:
    """Add a booking with its price frozen from the current price list (caller holds the cohort lock), less a
    discount code's discount (whose use it takes, atomically: ValidationFailed naming `promo_code` when none is
    left, and the caller's unit rolls back), the version of the cancellation policy its applicant accepted (now),
    if they did, and its payment plan (booking.plans: a plan that does not fit these dates or this provider is
    refused, naming `payment_plan`). The deposit rule and the plan apply to the discounted total."""
    estimate = price_of(cohort, lodging, discount)
    discount_cents = estimate.discount_cents
    split = payment_split(estimate, cohort.start_date)
    parts = plans.parts_of(payment_plan, total_cents=estimate.total_cents, deposit_cents=split.deposit_cents,
                           balance_cents=split.balance_cents, balance_due_date=split.balance_due_date, on=today())
    plans.check_plan_fits(payment_plan, parts, provider_name)
    if payment_plan == "full":
        split = PaymentSplit(estimate.total_cents, 0, None)
    installments = payment_plan == "installments"
    booking = Booking(
        reference=_unused_reference(), cohort_id=cohort.id, status=status, lodging=lodging,
        applicant_first_name=applicant.first_name, applicant_last_name=applicant.last_name,
        applicant_email=applicant.email, applicant_phone=applicant.phone,
        applicant_email_key=hold_rules.email_key(applicant.email),
        applicant_phone_key=hold_rules.phone_key(applicant.phone), client_address=client_address,
        price_list_version=estimate.price_list_version, total_cents=estimate.total_cents,
        discount_cents=discount_cents, discount_code=discount.code if discount is not None else None,
        deposit_cents=split.deposit_cents, balance_cents=split.balance_cents, balance_due_date=split.balance_due_date,
        hold_expires_at=hold_expires_at, screening_id=screening.id, payment_provider=provider_name,
        save_card_consent=(bool(save_card) or installments) and provider_name == "stripe" and split.balance_cents > 0,
        balance_reminders_sent=[], policy_version=policy_version, payment_plan=payment_plan,
        policy_accepted_at=now() if policy_version is not None else None,
    )
    db.session.add(booking)
    db.session.flush()
    if installments:
        plans.write_schedule(booking, parts)
    token = manage_token(booking)
    booking.manage_token_hash = manage_token_hash(token)
    if discount is not None:
        discounts.take_use(discount, booking_id=booking.id, booking_reference=booking.reference,
                           discount_cents=discount_cents)
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
