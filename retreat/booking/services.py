"""Booking: hold a seat from a pre-screen, pay, cancel with the policy's refund, expire lapsed holds, the
waitlist, balance reminders. Every state change goes through booking.states.transition and every movement of
money through payments.ledger.record_payment, each call of a function below in one transaction.

Seats are checked and taken under the cohort lock (catalog.services.lock_cohort): a row lock on PostgreSQL, the
database write lock on SQLite. Seats left = capacity - confirmed - live holds, so a lapsed hold frees its seat at
once; `flask bookings expire` only writes down what already holds.
"""

import base64
import hashlib
import hmac
import re
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import date, datetime, timedelta

import sqlalchemy as sa
from email_validator import EmailNotValidError, validate_email
from flask import current_app

from retreat.booking import emails, holds, policy
from retreat.booking.models import (
    HOLDING_STATUSES,
    Booking,
    WaitlistEntry,
    is_plausible_reference,
    new_booking_reference,
)
from retreat.booking.states import CANCELLABLE_STATUSES, STATUS_MESSAGES, IllegalTransition, transition
from retreat.catalog import services as catalog
from retreat.catalog.models import Cohort
from retreat.core import audit, crypto
from retreat.core.clock import now, today
from retreat.core.errors import DomainError, NotFound, ValidationFailed
from retreat.core.transactions import unit_of_work
from retreat.extensions import db
from retreat.notify import services as notify
from retreat.notify.models import OutboxEmail
from retreat.payments import ledger, providers, refunds
from retreat.payments.models import Payment
from retreat.pricing import estimator
from retreat.pricing import services as pricing
from retreat.pricing.rules import LODGING_KINDS
from retreat.screening import services as screening_services
from retreat.screening.models import Screening

ACTIVE_STATUSES = ("held", "pending_review", "confirmed", "paid_in_full")
PAID_STATUSES = ("confirmed", "paid_in_full")
APPLICANT_FIELDS = ("first_name", "last_name", "email", "phone")


class CohortFull(DomainError):
    status = 409
    code = "cohort_full"


class ScreeningNotEligible(DomainError):
    status = 403
    code = "screening_not_eligible"


class Unauthorized(DomainError):
    status = 401
    code = "unauthorized"


# --- One change under the cohort lock ------------------------------------------------------------------------

@contextmanager
def _cohort_change(cohort_id: int) -> Iterator[tuple[Cohort, list[OutboxEmail]]]:
    """One transaction holding the cohort lock: yields the cohort and a list for the emails the change queues.
    Commits when the block ends (rolls back if it raises), then clears the cached catalog (seats changed) and
    sends the emails, so an email only ever leaves for a change that committed."""
    cohort = catalog.lock_cohort(cohort_id)
    outgoing: list[OutboxEmail] = []
    try:
        yield cohort, outgoing
        db.session.commit()
    except BaseException:
        db.session.rollback()
        raise
    catalog.forget_cached_catalog()
    notify.send_now(*outgoing)


def _fresh(booking: Booking) -> Booking:
    """The booking as it is now, read again inside the locked transaction."""
    return db.session.scalar(sa.select(Booking).where(Booking.id == booking.id)
                             .execution_options(populate_existing=True))


# --- Input -----------------------------------------------------------------------------------------------------

@dataclass(frozen=True)
class Applicant:
    first_name: str
    last_name: str
    email: str
    phone: str


# Control characters and lone surrogates (from pasting, or from hostile clients) cannot be stored or emailed.
UNPRINTABLE = re.compile(r"[\x00-\x08\x0b\x0c\x0e-\x1f\x7f\ud800-\udfff]")


def _clean_text(value: object) -> str:
    return " ".join(value.split()) if isinstance(value, str) else ""


def check_applicant(values: object, prefix: str = "applicant.") -> Applicant:
    """The applicant's name, email and phone, checked; ValidationFailed names each bad field."""
    if not isinstance(values, dict):
        raise ValidationFailed({prefix.rstrip("."): ["Give the applicant's first_name, last_name, email and phone."]})
    errors: dict[str, list[str]] = {}
    clean = {name: _clean_text(values.get(name)) for name in APPLICANT_FIELDS}
    for name, words, limit in (("first_name", "first name", 100), ("last_name", "last name", 100)):
        if not clean[name]:
            errors[prefix + name] = [f"Enter your {words}."]
        elif len(clean[name]) > limit:
            errors[prefix + name] = [f"Enter at most {limit} characters."]
    if not clean["email"]:
        errors[prefix + "email"] = ["Enter your email address."]
    else:
        try:
            clean["email"] = validate_email(clean["email"], check_deliverability=False).normalized
        except EmailNotValidError:
            errors[prefix + "email"] = ["Enter an email address like name@example.com."]
        if len(clean["email"]) > 254:
            errors[prefix + "email"] = ["Enter at most 254 characters."]
    digits = re.sub(r"\D", "", clean["phone"])
    if not clean["phone"]:
        errors[prefix + "phone"] = ["Enter a phone number we can call you on."]
    elif not re.fullmatch(r"[0-9+()\-.\s]{7,25}", clean["phone"]) or not 7 <= len(digits) <= 15:
        errors[prefix + "phone"] = ["Enter a phone number with its area code, for example 555 123 4567."]
    for name in APPLICANT_FIELDS:
        if UNPRINTABLE.search(clean[name]):
            errors[prefix + name] = ["Remove the invisible control characters from this text."]
    if errors:
        raise ValidationFailed(errors)
    return Applicant(**clean)


def _screening_for_booking(token: object, field: str = "screening_token") -> Screening:
    """The applicant's pre-screen, usable for booking: unexpired, unused, and not ineligible or crisis."""
    if not isinstance(token, str) or not token:
        raise ValidationFailed({field: ["Take the pre-screen first: booking needs its result."]})
    try:
        screening = screening_services.by_token(token, for_booking=True)
    except NotFound:
        raise ValidationFailed({field: ["There is no pre-screen with this token."]}) from None
    except DomainError as refusal:  # expired or already used
        raise ValidationFailed({field: [refusal.message]}) from None
    check_screening_allows_booking(screening)
    return screening


def check_screening_allows_booking(screening: Screening) -> None:
    if screening.outcome in ("ineligible", "crisis") or screening.review_status == "declined":
        raise ScreeningNotEligible("This pre-screen does not allow booking. Please contact the clinic to talk about "
                                   "other options.")


def _initial_status(screening: Screening) -> str:
    """held for an eligible or clinician-approved pre-screen; pending_review while a clinician decides."""
    if screening.outcome == "eligible" or screening.review_status == "approved":
        return "held"
    return "pending_review"


def _ask_for_review(screening: Screening) -> None:
    """A seat requested with a `review` pre-screen puts it in the clinicians' queue (if it is not there)."""
    if screening.review_status is None:
        screening.review_status = "pending"
        screening.review_requested_at = now()


def _check_lodging(lodging: object, cohort: Cohort, errors: dict[str, list[str]]) -> None:
    offered = tuple(cohort.program.lodging_options) or ("none",)
    if lodging not in LODGING_KINDS or lodging not in offered:
        errors["lodging"] = [f"Choose one of: {', '.join(offered)}."]


def _bookable_cohort(cohort_id: object) -> Cohort:
    if not isinstance(cohort_id, int) or isinstance(cohort_id, bool) or not 0 < cohort_id < 2**31:
        raise ValidationFailed({"cohort_id": ["Choose one of the cohorts in the catalog."]})
    cohort = db.session.get(Cohort, cohort_id)
    if cohort is None or not cohort.program.published or cohort.start_date <= today():
        raise ValidationFailed({"cohort_id": ["Choose one of the upcoming cohorts in the catalog."]})
    if cohort.status != "open":
        raise DomainError("This cohort is not taking bookings.", code="cohort_closed", status=409)
    return cohort


def _check_provider(name: object) -> str:
    if name is None:
        return providers.configured_provider_name()
    if name not in providers.available_provider_names():
        raise ValidationFailed({"payment_provider": [
            f"Choose one of: {', '.join(providers.available_provider_names())}."]})
    return name


# --- The manage link -------------------------------------------------------------------------------------------

def _manage_key() -> bytes:
    return hashlib.sha256(b"retreat.booking.manage\0" + current_app.config["SECRET_KEY"].encode()).digest()


def manage_token(booking: Booking) -> str:
    """The secret of the applicant's private manage link. Derived (HMAC) from the booking and the secret key, so
    every email can carry the same link; only its hash is stored, to find the booking. Rotating SECRET_KEY
    retires old links (the clinic can send new ones from the staff console)."""
    mac = hmac.new(_manage_key(), f"{booking.id}:{booking.reference}".encode(), hashlib.sha256).digest()
    return base64.urlsafe_b64encode(mac).decode().rstrip("=")


def manage_token_hash(token: str) -> str:
    return crypto.secret_digest(token)



def booking_by_manage_token(token: object) -> Booking:
    booking = None
    if isinstance(token, str) and 20 <= len(token) <= 100 and token.isascii():
        booking = db.session.scalar(sa.select(Booking).where(Booking.manage_token_hash == manage_token_hash(token)))
    if booking is None:
        raise NotFound("This booking link is not valid. Please contact the clinic.")
    return booking


def booking_for_applicant(reference: object, token: object) -> Booking:
    """The booking a reference names, if `token` is its manage token (401 otherwise, alike for unknown
    references, so a guess learns nothing)."""
    booking = None
    if is_plausible_reference(reference) and isinstance(token, str) and token:
        booking = db.session.scalar(sa.select(Booking).where(Booking.reference == reference))
    if booking is None or booking.manage_token_hash is None or not hmac.compare_digest(
            booking.manage_token_hash, manage_token_hash(token)):
        raise Unauthorized("Send the booking's manage token as 'Authorization: Bearer <manage_token>'.")
    return booking


def booking_by_reference(reference: str) -> Booking:
    booking = None
    if is_plausible_reference(reference):
        booking = db.session.scalar(sa.select(Booking).where(Booking.reference == reference))
    if booking is None:
        raise NotFound("There is no booking with this reference.")
    return booking


# --- Holding a seat --------------------------------------------------------------------------------------------

@dataclass(frozen=True)
class Created:
    booking: Booking
    manage_token: str


def _price(cohort: Cohort, lodging: str) -> estimator.Estimate:
    program = cohort.program
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


def _new_booking(cohort: Cohort, screening: Screening, lodging: str, applicant: Applicant, *, status: str,
                 provider_name: str, hold_expires_at: datetime, save_card: bool,
                 client_address: str | None = None) -> tuple[Booking, str]:
    """Add a booking with its price frozen from the current price list (caller holds the cohort lock)."""
    estimate = _price(cohort, lodging)
    due = balance_due_date(estimate, cohort.start_date)
    booking = Booking(
        reference=_unused_reference(), cohort_id=cohort.id, status=status, lodging=lodging,
        applicant_first_name=applicant.first_name, applicant_last_name=applicant.last_name,
        applicant_email=applicant.email, applicant_phone=applicant.phone,
        applicant_email_key=holds.email_key(applicant.email), applicant_phone_key=holds.phone_key(applicant.phone),
        client_address=client_address, price_list_version=estimate.price_list_version, total_cents=estimate.total_cents,
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


def _use_screening_token(screening: Screening) -> None:
    """Mark the pre-screen used, atomically: of two bookings racing with one token, one wins."""
    used = db.session.execute(
        sa.update(Screening).where(Screening.id == screening.id, Screening.token_used_at.is_(None))
        .values(token_used_at=now())
    ).rowcount
    if used != 1:
        raise ValidationFailed({"screening_token": ["This pre-screen was already used for a booking."]})


def _collect(errors: dict[str, list[str]], check, *args):
    """Run one check; its refusal's fields join `errors` (so every bad field is named at once) and None is
    returned in place of its result."""
    try:
        return check(*args)
    except ValidationFailed as refusal:
        errors.update(refusal.fields)
        return None


@dataclass(frozen=True)
class SeatRequest:
    cohort: Cohort
    screening: Screening
    lodging: str
    applicant: Applicant


def _checked_seat_request(cohort_id: object, screening_token: object, lodging: object, applicant: object,
                          errors: dict[str, list[str]], *, default_lodging: bool = False) -> SeatRequest | None:
    """What a booking and a waitlist entry both ask for, checked; each bad field is added to `errors` (and None
    returned). With `default_lodging`, a missing lodging is the program's first option."""
    cohort = _collect(errors, _bookable_cohort, cohort_id)
    if cohort is not None:
        if lodging is None and default_lodging:
            lodging = (tuple(cohort.program.lodging_options) or ("none",))[0]
        _check_lodging(lodging, cohort, errors)
    elif lodging not in LODGING_KINDS and not (lodging is None and default_lodging):
        errors["lodging"] = [f"Choose one of: {', '.join(LODGING_KINDS)}."]
    checked_applicant = _collect(errors, check_applicant, applicant)
    screening = _collect(errors, _screening_for_booking, screening_token)
    if errors:
        return None
    return SeatRequest(cohort, screening, lodging, checked_applicant)


def create_booking(*, cohort_id: object, screening_token: object, lodging: object, applicant: object,
                   payment_provider: object = None, save_card: bool = False,
                   client_address: str | None = None) -> Created:
    """Hold a seat for an applicant with a usable pre-screen: `held` while the deposit is paid, or
    `pending_review` while a clinician decides. A full cohort raises CohortFull and holds nothing; so do the hold
    limits (TooManyHolds, 429). A hold longer than the card hold starts as one and is kept once the applicant
    confirms their email address (confirm_email); a review request reaches the clinicians only then."""
    errors: dict[str, list[str]] = {}
    seat = _checked_seat_request(cohort_id, screening_token, lodging, applicant, errors)
    provider_name = _collect(errors, _check_provider, payment_provider)
    if errors:
        raise ValidationFailed(errors)
    with _cohort_change(seat.cohort.id) as (cohort, outgoing):
        if cohort.status != "open":
            raise DomainError("This cohort is not taking bookings.", code="cohort_closed", status=409)
        holds.check_hold_limits(cohort.id, seat.applicant.email, seat.applicant.phone, client_address)
        if catalog.seats_left(cohort) <= 0:
            raise CohortFull("This cohort is full. You can join its waitlist, or choose other dates.")
        _use_screening_token(seat.screening)
        status = _initial_status(seat.screening)
        booking, token = _new_booking(cohort, seat.screening, seat.lodging, seat.applicant, status=status,
                                      provider_name=provider_name,
                                      hold_expires_at=holds.initial_hold_until(status, provider_name),
                                      save_card=save_card, client_address=client_address)
        confirm = holds.needs_email_confirmation(booking)
        if status == "pending_review" and not confirm:
            _ask_for_review(seat.screening)
        audit.record(f"booking.{status}", "booking", booking.reference,
                     {"to": status, "cohort_id": cohort.id, "total_cents": booking.total_cents}, actor="applicant")
        outgoing.append(notify.enqueue(*emails.booking_held(booking, token, confirm=confirm)))
    return Created(booking, token)


def confirm_email(reference: object, token: object) -> Booking:
    """The applicant opened the link emailed to them: their address is real. A long hold (review, bank transfer)
    is kept for its full time from when it was made, and a review request reaches the clinicians. A hold that
    lapsed before the link was opened is taken again only if a seat is still free. Opening it again changes
    nothing. An unknown or wrong link is NotFound."""
    booking = None
    if is_plausible_reference(reference):
        booking = db.session.scalar(sa.select(Booking).where(Booking.reference == reference))
    if booking is None or not holds.is_email_confirmation_token(booking, token):
        raise NotFound("This confirmation link is not valid. Please use the link in our latest email, or contact "
                       "the clinic.")
    with _cohort_change(booking.cohort_id) as (cohort, _):
        booking = _fresh(booking)
        if booking.email_confirmed_at is not None:
            return booking
        booking.email_confirmed_at = now()
        audit.record("booking.email_confirmed", "booking", booking.reference, actor="applicant")
        if booking.status not in HOLDING_STATUSES:
            return booking
        lapsed = booking.hold_expires_at is None or booking.hold_expires_at <= now()
        if lapsed and (cohort.status != "open" or catalog.seats_left(cohort) <= 0):
            return booking
        extended = holds.confirmed_hold_until(booking)
        if extended > (booking.hold_expires_at or now()):
            audit.record("booking.hold_extended", "booking", booking.reference,
                         {"until": extended.isoformat(), "reason": "email address confirmed"}, actor="applicant")
            booking.hold_expires_at = extended
        if booking.status == "pending_review":
            _ask_for_review(db.session.get(Screening, booking.screening_id))
    return booking


def release_hold(reference: str, *, cohort_id: int, staff) -> Booking:
    """A coordinator releases an unpaid hold (say, one made by a script): the seat is freed at once and offered
    to the waitlist, and the applicant is told. Audited. Only a live hold of that cohort can be released."""
    booking = booking_by_reference(reference)
    if booking.cohort_id != cohort_id:
        raise NotFound("There is no booking with this reference on these dates.")
    with _cohort_change(booking.cohort_id) as (cohort, outgoing):
        booking = _fresh(booking)
        if booking.status not in HOLDING_STATUSES or booking.hold_expires_at is None or \
                booking.hold_expires_at <= now():
            raise DomainError("This booking is not holding a seat now, so there is nothing to release.",
                              code="not_a_live_hold", status=409)
        audit.record("booking.hold_released", "booking", booking.reference,
                     {"cohort_id": cohort.id, "status": booking.status}, actor=staff)
        transition(booking, "expired", reason="hold released by staff", actor=staff)
        _lapse_waitlist_offer(booking)
        outgoing.append(notify.enqueue(*emails.hold_released(booking)))
        outgoing += offer_freed_seats(cohort)
    return booking


# --- Payments --------------------------------------------------------------------------------------------------

def outstanding_cents(booking: Booking) -> int:
    """What is still owed: the total less what was received (a goodwill refund is not owed again); nothing for a
    booking that was cancelled or declined. The manage page, the staff pages and finance all show this."""
    if booking.status in ("cancelled", "declined"):
        return 0
    return max(0, booking.total_cents - ledger.received_cents(booking.id))


def next_payment(booking: Booking, *, after_lapse: bool = False) -> tuple[str, int] | None:
    """The payment the applicant can make now: (kind, cents), or None. `after_lapse` also offers the deposit of
    a hold that lapsed (money that reached the clinic anyway, such as a bank transfer: payment_received confirms
    the booking if a seat is still free, and returns the money otherwise)."""
    if booking.cohort.status == "cancelled":
        return None
    live_hold = booking.status == "held" and (booking.hold_expires_at is None or booking.hold_expires_at > now())
    if live_hold or (after_lapse and booking.status in ("held", "expired")):
        return "deposit", max(0, booking.deposit_cents - ledger.received_cents(booking.id)) or booking.deposit_cents
    if booking.status == "confirmed":
        left = outstanding_cents(booking)
        return ("balance", left) if left else None
    return None


def start_payment(booking: Booking, provider_name: str | None = None) -> providers.PaymentStart | None:
    """What the applicant needs to pay what is due now (deposit or balance) with the booking's provider."""
    due = next_payment(booking)
    if due is None:
        return None
    kind, cents = due
    return providers.provider(provider_name or booking.payment_provider).start(booking, kind, cents)


@dataclass(frozen=True)
class PaymentOutcome:
    booking: Booking
    payment: Payment
    created: bool
    refunded_unplaced: bool = False  # money for a booking that could not take it (lapsed and full): returned
    flagged: bool = False  # not a payment the app asked for: recorded for finance, the booking unchanged


def payment_received(reference: str, *, kind: str, amount_cents: int, provider: str, provider_reference: str,
                     fee_cents: int | None = None, net_cents: int | None = None, recorded_by=None,
                     note: str = "", actor=None, card_on_file: tuple[str, str] | None = None) -> PaymentOutcome:
    """Record money received for a booking and move the booking on, in one transaction under the cohort lock;
    the same provider reference twice changes nothing the second time.

    A deposit confirms (or, with the balance, pays in full) the booking. A deposit that arrives after its hold
    lapsed confirms it if a seat is still free; otherwise, and for a booking cancelled or declined meanwhile, the
    money is refunded at once: nobody is charged for a seat they do not have.

    `card_on_file` (Stripe customer id, payment method id) is kept when the applicant consented to the balance
    being charged to the card when due.

    Callers pass only money the app asked for (for Stripe: stripe_provider.record_succeeded_intent checks it).
    """
    booking = booking_by_reference(reference)
    with unit_of_work(), _cohort_change(booking.cohort_id) as (_, outgoing):
        booking = _fresh(booking)
        recorded = ledger.record_payment(
            booking, kind=kind, amount_cents=amount_cents, provider=provider, provider_reference=provider_reference,
            fee_cents=fee_cents, net_cents=net_cents, recorded_by=recorded_by, note=note, actor=actor)
        returned = 0
        if card_on_file and booking.save_card_consent and not booking.stripe_payment_method_id:
            booking.stripe_customer_id, booking.stripe_payment_method_id = card_on_file
        if recorded.created:
            returned = _apply_payment(booking, recorded.payment, actor or recorded_by)
            if returned < recorded.payment.amount_cents:
                outgoing.append(notify.enqueue(*emails.payment_receipt(booking, recorded.payment,
                                                                       manage_token(booking))))
            if returned:
                # Decided in this transaction (a pending refund beside the payment), asked of the provider after
                # the commit; the retry job finishes it if the provider cannot refund now.
                reason = ("paid beyond the booking's total" if returned < recorded.payment.amount_cents
                          else "no seat for this payment")
                outgoing += _issue_refunds(booking, returned, reason=reason, actor=actor or recorded_by,
                                           only=recorded.payment)
    return PaymentOutcome(booking, recorded.payment, recorded.created, returned > 0)


def _apply_payment(booking: Booking, payment: Payment, actor) -> int:
    """Move the booking on after `payment` arrived (caller holds the cohort lock). Returns how much of it must go
    back: all of it when the booking cannot take it (cancelled, declined, its cohort cancelled, awaiting a
    clinician, or its hold lapsed and the cohort filled), the excess when it pays beyond the total, else 0."""
    if booking.status in ("cancelled", "declined", "pending_review") or booking.cohort.status == "cancelled":
        return payment.amount_cents
    received = ledger.received_cents(booking.id)
    excess = min(payment.amount_cents, max(0, received - booking.total_cents))
    if booking.status == "paid_in_full":
        return excess
    target = "paid_in_full" if received >= booking.total_cents else "confirmed"
    if booking.status in ("held", "expired"):
        lapsed = booking.status == "expired" or (
            booking.hold_expires_at is not None and booking.hold_expires_at <= now())
        if lapsed and catalog.seats_left(booking.cohort) <= 0:
            return payment.amount_cents
        transition(booking, target, reason="payment received", actor=actor)
    elif booking.status == "confirmed" and target == "paid_in_full":
        transition(booking, target, reason="balance paid", actor=actor)
    return excess


def _issue_refunds(booking: Booking, refund_cents: int, *, reason: str, actor=None,
                   only: Payment | None = None) -> list[OutboxEmail]:
    """Refund `refund_cents` across the booking's payments (or `only` one of them), newest first: a pending refund
    per payment in the caller's transaction (counted as returned from then on, so nothing is refunded twice),
    which payments.refunds asks each payment's provider for after the commit. Returns the email telling the
    applicant."""
    left = refund_cents
    refunded = 0
    for payment, refundable_cents in ledger.refundable(booking.id):
        if only is not None and payment.id != only.id:
            continue
        if left <= 0:
            break
        cents = min(left, refundable_cents)
        refunds.request_refund(booking, payment, cents, reason=reason, actor=actor)
        left -= cents
        refunded += cents
    if refunded <= 0:
        return []
    return [notify.enqueue(*emails.refund_issued(booking, refunded, reason))]


def cancel_when_refunded_in_full(booking: Booking, *, actor) -> list[OutboxEmail]:
    """A refund made at the provider (Stripe's dashboard) returned everything a confirmed booking had paid: the
    booking is cancelled by the clinic, its seat freed and offered to the waitlist, and the applicant told; no
    refund is made (the money is back already). Caller's transaction, holding the cohort lock; returns the emails
    to send after commit. A partial refund changes no booking."""
    booking = _fresh(booking)
    if booking.status not in PAID_STATUSES:
        return []
    received = ledger.received_cents(booking.id)
    if received <= 0 or ledger.paid_cents(booking.id) > 0:
        return []
    transition(booking, "cancelled", reason=REFUNDED_IN_FULL_REASON, actor=actor)
    quote = CancellationQuote(booking, received, received, REFUNDED_IN_FULL_RULE,
                              (booking.cohort.start_date - today()).days)
    outgoing = [notify.enqueue(*emails.booking_cancelled(booking, quote))]
    return outgoing + offer_freed_seats(booking.cohort)


REFUNDED_IN_FULL_REASON = "cancelled by the clinic: everything paid was refunded at the payment provider"
REFUNDED_IN_FULL_RULE = "cancelled by the clinic: everything you paid was refunded"


# --- Cancelling ------------------------------------------------------------------------------------------------

@dataclass(frozen=True)
class CancellationQuote:
    booking: Booking
    paid_cents: int
    refund_cents: int
    rule: str
    days_before_start: int

    @property
    def kept_cents(self) -> int:
        return self.paid_cents - self.refund_cents


def cancellation_quote(booking: Booking, *, by: str = "applicant") -> CancellationQuote:
    """The refund a cancellation would give now, shown before confirming (pure over the ledger)."""
    paid = max(0, ledger.paid_cents(booking.id))
    days = (booking.cohort.start_date - today()).days
    if by == "clinic":
        quote = policy.full_refund(paid, "cancelled by the clinic: everything paid is refunded")
    else:
        quote = policy.applicant_cancellation_refund(paid, days)
    return CancellationQuote(booking, paid, quote.refund_cents, quote.rule, days)


def cancel_booking(booking: Booking, *, by: str = "applicant", actor=None, refund_override_cents: int | None = None,
                   reason: str = "") -> CancellationQuote:
    """Cancel a booking and decide the refund the policy gives (or, from staff, an audited override), in one
    transaction under the cohort lock; the freed seat is offered to the waitlist. The refund is asked of the
    provider after the commit (a provider that fails leaves it pending for the retry job, the booking cancelled).
    A booking that cannot be cancelled raises IllegalTransition (409)."""
    with unit_of_work(), _cohort_change(booking.cohort_id) as (_, outgoing):
        booking = _fresh(booking)
        if booking.status not in CANCELLABLE_STATUSES:
            raise IllegalTransition(STATUS_MESSAGES.get(booking.status, "This booking cannot be cancelled."),
                                    code="booking_not_cancellable")
        quote = cancellation_quote(booking, by=by)
        refund = quote.refund_cents
        if refund_override_cents is not None:
            if not isinstance(refund_override_cents, int) or not 0 <= refund_override_cents <= quote.paid_cents:
                raise ValidationFailed({"refund_cents": [
                    f"Refund between $0 and what was paid (${quote.paid_cents / 100:,.2f})."]})
            audit.record("booking.refund_override", "booking", booking.reference,
                         {"policy_refund_cents": quote.refund_cents, "refund_cents": refund_override_cents,
                          "reason": reason[:500]}, actor=actor)
            refund = refund_override_cents
            quote = CancellationQuote(booking, quote.paid_cents, refund, "set by staff", quote.days_before_start)
        transition(booking, "cancelled", reason=reason or f"cancelled by {by}", actor=actor or by)
        outgoing.append(notify.enqueue(*emails.booking_cancelled(booking, quote)))
        outgoing += _issue_refunds(booking, refund, reason=f"cancellation: {quote.rule}", actor=actor or by)
        outgoing += offer_freed_seats(booking.cohort)
    return quote


# --- Clinician decisions ---------------------------------------------------------------------------------------

def on_screening_decided(screening: Screening, decision: str, clinician) -> list[OutboxEmail]:
    """Apply a clinician's decision to the bookings made with this pre-screen, inside the decision's
    transaction: approval lets a booking awaiting review be paid (held again, for HOLD_AFTER_APPROVAL); a decline
    declines it and refunds everything paid. Returns the emails to send after commit (one per booking); the
    refunds are asked of the provider after the commit (the caller runs refunds.send_requested() then, unless it
    is a unit of work, whose after-commit step does it)."""
    bookings = db.session.scalars(
        sa.select(Booking).where(Booking.screening_id == screening.id, Booking.status.in_(ACTIVE_STATUSES))
    ).all()
    outgoing: list[OutboxEmail] = []
    for booking in bookings:
        _lock_cohort_row(booking.cohort_id)
        booking = _fresh(booking)  # as it is now that the cohort is locked: a cancellation may have come first
        if decision == "approved" and booking.status == "pending_review":
            lapsed = booking.hold_expires_at is None or booking.hold_expires_at <= now()
            if booking.cohort.status != "open" or (lapsed and catalog.seats_left(booking.cohort) <= 0):
                # The seat went to someone else after the review hold lapsed (or the dates closed).
                transition(booking, "expired", reason="approved after the seat was released", actor=clinician)
                outgoing.append(notify.enqueue(*emails.approved_without_seat(booking)))
                continue
            # At least HOLD_AFTER_APPROVAL to pay; never shorter than the review hold it replaces.
            hold = max(now() + policy.HOLD_AFTER_APPROVAL, booking.hold_expires_at or now())
            transition(booking, "held", reason="approved", actor=clinician, hold_expires_at=hold)
            outgoing.append(notify.enqueue(*emails.approved_to_pay(booking, manage_token(booking))))
        elif decision == "declined" and booking.status in ACTIVE_STATUSES:
            # Neutral words: finance staff read booking histories, and a decline is a clinical decision.
            paid = max(0, ledger.paid_cents(booking.id))
            transition(booking, "declined", reason="declined", actor=clinician)
            outgoing += _issue_refunds(booking, policy.full_refund(paid, "").refund_cents,
                                       reason="booking declined: everything paid is refunded", actor=clinician)
            outgoing += offer_freed_seats(booking.cohort)
    return outgoing


def _lock_cohort_row(cohort_id: int) -> Cohort:
    """Lock a cohort inside a transaction that is already a locked write (no new transaction)."""
    return db.session.scalar(sa.select(Cohort).where(Cohort.id == cohort_id).with_for_update())


# --- Expiry ----------------------------------------------------------------------------------------------------

def expire_lapsed_holds() -> int:
    """Mark holds past their time as expired (their seats were free already) and offer the seats to the
    waitlists. One transaction per cohort. Returns how many bookings expired."""
    cohort_ids = db.session.scalars(
        sa.select(Booking.cohort_id).where(Booking.status.in_(HOLDING_STATUSES), Booking.hold_expires_at <= now())
        .distinct()
    ).all()
    db.session.rollback()
    expired = 0
    for cohort_id in cohort_ids:
        with _cohort_change(cohort_id) as (cohort, outgoing):
            lapsed = db.session.scalars(
                sa.select(Booking).where(Booking.cohort_id == cohort_id, Booking.status.in_(HOLDING_STATUSES),
                                         Booking.hold_expires_at <= now())
                .execution_options(populate_existing=True)
            ).all()
            for booking in lapsed:
                transition(booking, "expired", reason="hold lapsed unpaid", actor="system (hold expiry)")
                _lapse_waitlist_offer(booking)
                outgoing.append(notify.enqueue(*emails.hold_expired(booking)))
            outgoing += offer_freed_seats(cohort)
        expired += len(lapsed)
    return expired


def _lapse_waitlist_offer(booking: Booking) -> None:
    entry = db.session.scalar(sa.select(WaitlistEntry).where(WaitlistEntry.booking_id == booking.id))
    if entry is not None and entry.status == "offered":
        entry.status = "lapsed"


# --- Waitlist --------------------------------------------------------------------------------------------------

@dataclass(frozen=True)
class Waiting:
    entry: WaitlistEntry
    position: int


def waitlist_position(entry: WaitlistEntry) -> int:
    return db.session.scalar(
        sa.select(sa.func.count()).select_from(WaitlistEntry).where(
            WaitlistEntry.cohort_id == entry.cohort_id, WaitlistEntry.status == "waiting",
            sa.or_(WaitlistEntry.created_at < entry.created_at,
                   sa.and_(WaitlistEntry.created_at == entry.created_at, WaitlistEntry.id <= entry.id)))
    )


def join_waitlist(*, cohort_id: object, screening_token: object, applicant: object,
                  lodging: object = None) -> Waiting:
    """Put an applicant with a usable pre-screen on a full cohort's waitlist (once per pre-screen and
    cohort). The pre-screen stays unused until a seat is offered."""
    errors: dict[str, list[str]] = {}
    seat = _checked_seat_request(cohort_id, screening_token, lodging, applicant, errors, default_lodging=True)
    if errors:
        raise ValidationFailed(errors)
    with _cohort_change(seat.cohort.id) as (cohort, outgoing):
        entry = db.session.scalar(sa.select(WaitlistEntry).where(
            WaitlistEntry.cohort_id == cohort.id, WaitlistEntry.screening_id == seat.screening.id,
            WaitlistEntry.status == "waiting"))
        if entry is None:  # joining twice keeps the first place in line
            if catalog.seats_left(cohort) > 0:
                raise DomainError("This cohort has seats free: book one instead of joining the waitlist.",
                                  code="seats_available", status=409)
            applicant = seat.applicant
            entry = WaitlistEntry(
                cohort_id=cohort.id, screening_id=seat.screening.id, lodging=seat.lodging,
                applicant_first_name=applicant.first_name, applicant_last_name=applicant.last_name,
                applicant_email=applicant.email, applicant_phone=applicant.phone, created_at=now())
            db.session.add(entry)
            db.session.flush()
            audit.record("waitlist.join", "cohort", cohort.id, {"waitlist_entry_id": entry.id}, actor="applicant")
            outgoing.append(notify.enqueue(*emails.waitlist_joined(entry, waitlist_position(entry))))
    return Waiting(entry, waitlist_position(entry))


def offer_freed_seats(cohort: Cohort) -> list[OutboxEmail]:
    """Offer each free seat of a cohort to the first applicant waiting: a booking held for them for
    HOLD_FOR_WAITLIST_OFFER, paid from the emailed link. Caller holds the cohort lock and commits."""
    outgoing: list[OutboxEmail] = []
    if cohort.status != "open" or cohort.start_date <= today():
        return outgoing
    free = catalog.seats_left(cohort)
    while free > 0:
        entry = db.session.scalar(
            sa.select(WaitlistEntry).where(WaitlistEntry.cohort_id == cohort.id, WaitlistEntry.status == "waiting")
            .order_by(WaitlistEntry.created_at, WaitlistEntry.id).limit(1))
        if entry is None:
            break
        screening = db.session.get(Screening, entry.screening_id)
        if screening.token_used_at is not None or screening.expires_at <= now() or \
                screening.outcome in ("ineligible", "crisis") or screening.review_status == "declined":
            entry.status = "lapsed"
            continue
        applicant = Applicant(entry.applicant_first_name, entry.applicant_last_name, entry.applicant_email,
                              entry.applicant_phone)
        status = _initial_status(screening)
        hold = now() + max(policy.HOLD_FOR_WAITLIST_OFFER,
                           timedelta(hours=current_app.config["REVIEW_HOLD_HOURS"]) if status == "pending_review"
                           else policy.HOLD_FOR_WAITLIST_OFFER)
        try:
            booking, token = _new_booking(cohort, screening, entry.lodging, applicant, status=status,
                                          provider_name=providers.configured_provider_name(), hold_expires_at=hold,
                                          save_card=False)
        except DomainError:  # no bookable price now (custom quote): the clinic must talk to them
            entry.status = "lapsed"
            continue
        screening.token_used_at = now()
        if status == "pending_review":
            _ask_for_review(screening)
        entry.status = "offered"
        entry.offered_at = now()
        entry.booking_id = booking.id
        audit.record("waitlist.offer", "booking", booking.reference,
                     {"waitlist_entry_id": entry.id, "to": status}, actor="system (waitlist)")
        outgoing.append(notify.enqueue(*emails.waitlist_offer(booking, token)))
        free -= 1
    return outgoing


def release_waitlist(cohort_id: int) -> int:
    """Tell everyone still waiting for a cancelled cohort that it will not run, and take them off its waitlist
    (their pre-screens stay usable for other dates). Returns how many were told."""
    entries = db.session.scalars(
        sa.select(WaitlistEntry).where(WaitlistEntry.cohort_id == cohort_id, WaitlistEntry.status == "waiting")
    ).all()
    outgoing = []
    for entry in entries:
        entry.status = "left"
        outgoing.append(notify.enqueue(*emails.waitlist_cohort_cancelled(entry)))
    if entries:
        audit.record("waitlist.release", "cohort", cohort_id, {"count": len(entries)}, actor="system (waitlist)")
    db.session.commit()
    notify.send_now(*outgoing)
    return len(outgoing)


def offer_seats_of(cohort_id: int) -> int:
    """Offer a cohort's free seats to its waitlist in a transaction of its own (after capacity was raised).
    Returns how many seats were offered."""
    with _cohort_change(cohort_id) as (cohort, outgoing):
        outgoing += offer_freed_seats(cohort)
    return len(outgoing)


# --- Balance reminders -----------------------------------------------------------------------------------------

def send_balance_reminders(on: date | None = None) -> int:
    """Email applicants whose balance falls due in 21 and in 7 days (each reminder once; a missed day of the
    cron job sends it late rather than never). Returns how many reminders were queued."""
    on = on or today()
    horizon = on + timedelta(days=max(policy.BALANCE_REMINDER_DAYS))
    bookings = db.session.scalars(
        sa.select(Booking).join(Cohort, Cohort.id == Booking.cohort_id).where(
            Booking.status == "confirmed", Booking.balance_due_date <= horizon, Booking.balance_due_date >= on,
            Cohort.status != "cancelled")
    ).all()
    outgoing = []
    for booking in bookings:
        days_left = (booking.balance_due_date - on).days
        due = [d for d in sorted(policy.BALANCE_REMINDER_DAYS) if days_left <= d]
        threshold = due[0] if due else None
        sent = list(booking.balance_reminders_sent or [])
        if threshold is None or threshold in sent or any(s < threshold for s in sent):
            continue
        left = outstanding_cents(booking)
        if left <= 0:
            continue
        booking.balance_reminders_sent = [*sent, threshold]
        outgoing.append(notify.enqueue(*emails.balance_reminder(booking, left, manage_token(booking))))
    db.session.commit()
    notify.send_now(*outgoing)
    return len(outgoing)


def charge_due_balances(on: date | None = None) -> tuple[int, int]:
    """Charge the saved card of each confirmed booking whose balance is due (the applicant consented when
    paying the deposit). Each booking is read again just before its charge; a declined card is told to the
    applicant, who pays from the manage page, and a provider failure leaves that booking for the next run.
    Money that arrives for a booking cancelled meanwhile, or beyond its total, is refunded by payment_received.
    Returns (charged, failed)."""
    on = on or today()
    booking_ids = db.session.scalars(
        sa.select(Booking.id).join(Cohort, Cohort.id == Booking.cohort_id).where(
            Booking.status == "confirmed", Booking.balance_due_date <= on, Booking.save_card_consent,
            Booking.stripe_payment_method_id.is_not(None), Cohort.status != "cancelled")
    ).all()
    db.session.rollback()
    charged = failed = 0
    for booking_id in booking_ids:
        booking = db.session.get(Booking, booking_id, populate_existing=True)
        left = outstanding_cents(booking)
        if booking.status != "confirmed" or left <= 0:
            db.session.rollback()
            continue
        try:
            result = providers.provider("stripe").charge_saved_card(booking, left)
        except providers.CardDeclined as declined:
            failed += 1
            email = notify.enqueue(*emails.balance_charge_failed(booking, left, manage_token(booking),
                                                                 declined.message))
            db.session.commit()
            notify.send_now(email)
            continue
        except providers.ProviderUnavailable:
            db.session.rollback()
            current_app.logger.warning("Balance of %s not charged: the provider is unavailable", booking.reference)
            failed += 1
            continue
        payment_received(booking.reference, kind="balance", amount_cents=left, provider="stripe",
                         provider_reference=result.provider_reference, fee_cents=result.fee_cents,
                         net_cents=result.net_cents, actor="system (balance charge)")
        charged += 1
    return charged, failed
