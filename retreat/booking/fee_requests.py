"""A reduced fee (sliding scale, scholarship): the applicant asks for one with their booking, in a few words of
why; a coordinator or admin grants a price (never below REDUCED_FEE_FLOOR_PERCENT of the list price) or declines,
with a reason of their own (audited, amounts in dollars). Both decisions email the applicant their manage link.

While the request waits the booking holds its seat as a review does (booking.hold_rules: a card hold's length
until the applicant opens the emailed link, then REVIEW_HOLD_HOURS from when it was made) and nothing can be paid
(booking.payments.next_payment). A grant sets the booking's reduction and its deposit and balance by the deposit
rule on the new total (the whole price when the dates start within the balance's days); it extends no hold. On a
decline the list price stands: the applicant pays it or cancels, free, as nothing was paid.

A booking that also waits for a clinician (pending_review) is payable only when both are resolved; `awaited`
names in plain words what a booking still waits for.
"""

from datetime import timedelta

import sqlalchemy as sa
from flask import current_app

from retreat.booking import availability, emails, plans
from retreat.booking.access import booking_by_reference, fresh, manage_token
from retreat.booking.creation import split_of_total
from retreat.booking.models import HOLDING_STATUSES, PAID_STATUSES, Booking, FeeRequest
from retreat.booking.requests import UNPRINTABLE
from retreat.catalog.models import Cohort
from retreat.core import audit, clinic
from retreat.core.clock import now, today
from retreat.core.errors import DomainError, NotFound, ValidationFailed
from retreat.core.money import ceil_div, format_usd
from retreat.extensions import db
from retreat.notify import services as notify
from retreat.payments import ledger

REASON_MAX_LENGTH = 500
DECISION_REASON_MAX_LENGTH = 500
# Who may decide a request: coordinators and admins (not finance, not clinicians).
DECIDING_ROLES = ("coordinator", "admin")
DECISIONS = ("grant", "decline")

# The form field each refusal names (the booking form's names; the staff form's are `decision`, `price`, `reason`).
FIELD = "reduced_fee"
REASON_FIELD = "reduced_fee_reason"


class FeeRequestRefused(DomainError):
    status = 409
    code = "fee_request_refused"


class NotAllowedToDecide(DomainError):
    status = 403
    code = "forbidden"


# --- Asking ------------------------------------------------------------------------------------------------------

def check_reason(reason: object) -> str:
    """The applicant's few words, tidied; empty, too long or with control characters is refused by field name."""
    text = " ".join(reason.split()) if isinstance(reason, str) else ""
    if not text:
        raise ValidationFailed({REASON_FIELD: ["Tell us in a few words why you are asking for a reduced fee."]})
    if len(text) > REASON_MAX_LENGTH:
        raise ValidationFailed({REASON_FIELD: [f"Enter at most {REASON_MAX_LENGTH} characters (you entered "
                                               f"{len(text)})."]})
    if UNPRINTABLE.search(text):
        raise ValidationFailed({REASON_FIELD: ["Remove the invisible control characters from this text."]})
    return text


def decision_window() -> timedelta:
    """How long a request may wait for its decision: the hold it keeps (a review's)."""
    return timedelta(hours=current_app.config["REVIEW_HOLD_HOURS"])


def check_dates_allow(cohort: Cohort) -> None:
    """A request needs the hold period before the dates start, to be decided and then paid."""
    if cohort.start_date <= clinic.clinic_date(now() + decision_window()):
        raise ValidationFailed({FIELD: [
            "These dates start too soon for a reduced fee to be decided before them. Book at the price shown, "
            f"choose later dates, or {clinic.contact_words()}."]})


def add_request(booking: Booking, reason: str) -> FeeRequest:
    """Record the request with its booking (in the caller's unit of work, which holds the cohort). Refused for a
    booking that is paid (or has received money), that is not holding a seat, or that asked already."""
    if booking.status in PAID_STATUSES or ledger.received_cents(booking.id) > 0:
        raise FeeRequestRefused("This booking is paid already, so a reduced fee cannot be asked for it. Please "
                                f"{clinic.contact_words()}.")
    if booking.status not in HOLDING_STATUSES:
        raise FeeRequestRefused("A reduced fee can be asked only while the seat is held, before paying.")
    if request_of(booking) is not None:
        raise FeeRequestRefused("A reduced fee was asked for this booking already.")
    check_dates_allow(booking.cohort)
    request = FeeRequest(booking_id=booking.id, status="requested", reason=check_reason(reason),
                         requested_from_cents=booking.total_cents, requested_at=now())
    db.session.add(request)
    db.session.flush()
    audit.record("booking.fee_requested", "booking", booking.reference,
                 {"price": format_usd(booking.total_cents, show_cents=True)}, actor="applicant")
    return request


# --- Reading -----------------------------------------------------------------------------------------------------

def request_of(booking: Booking) -> FeeRequest | None:
    return db.session.scalar(sa.select(FeeRequest).where(FeeRequest.booking_id == booking.id))


def awaits_decision(booking: Booking) -> bool:
    return db.session.scalar(sa.select(FeeRequest.id).where(
        FeeRequest.booking_id == booking.id, FeeRequest.status == "requested")) is not None


def awaited(booking: Booking) -> list[str]:
    """What a live hold still waits for before it can be paid, in plain words (empty: nothing)."""
    if booking.status not in HOLDING_STATUSES:
        return []
    waits = []
    if booking.status == "pending_review":
        waits.append("a clinician's review of your pre-screen")
    if awaits_decision(booking):
        waits.append("the clinic's decision on your request for a reduced fee")
    return waits


def floor_percent() -> int:
    return int(current_app.config["REDUCED_FEE_FLOOR_PERCENT"])


def floor_cents(list_price_cents: int) -> int:
    """The lowest price that may be granted: REDUCED_FEE_FLOOR_PERCENT of the list price, rounded up to the cent."""
    return ceil_div(list_price_cents * floor_percent(), 100)


def waiting_condition():
    """Requests waiting for staff, for the to-do and the console's filter: on a live hold whose applicant confirmed
    their email address (as a review reaches clinicians only then)."""
    return Booking.id.in_(sa.select(FeeRequest.booking_id).where(FeeRequest.status == "requested")) & sa.and_(
        Booking.status.in_(HOLDING_STATUSES), Booking.hold_expires_at > now(), Booking.email_confirmed_at.is_not(None))


# --- Deciding ----------------------------------------------------------------------------------------------------

def may_decide(staff) -> bool:
    return bool(set(getattr(staff, "roles", None) or ()) & set(DECIDING_ROLES))


def check_decision(request: FeeRequest, booking: Booking, *, decision: object, price_cents: object,
                   reason: object) -> tuple[str, int | None, str]:
    """What staff sent, checked against the rules; each bad field named (decision, price, reason)."""
    errors: dict[str, list[str]] = {}
    if decision not in DECISIONS:
        errors["decision"] = ["Choose to grant a price or to decline."]
    text = " ".join(reason.split()) if isinstance(reason, str) else ""
    if not text:
        errors["reason"] = ["Give the reason for this decision."]
    elif len(text) > DECISION_REASON_MAX_LENGTH:
        errors["reason"] = [f"Enter at most {DECISION_REASON_MAX_LENGTH} characters."]
    elif UNPRINTABLE.search(text):
        errors["reason"] = ["Remove the invisible control characters from this text."]
    price = None
    if decision == "grant":
        floor = floor_cents(booking.list_price_cents)
        if not isinstance(price_cents, int) or isinstance(price_cents, bool):
            errors["price"] = ["Give the price granted, in dollars."]
        elif price_cents < floor:
            errors["price"] = [f"The price may not be below {floor_percent()}% of the list price "
                               f"({format_usd(booking.list_price_cents, show_cents=True)}): at least "
                               f"{format_usd(floor, show_cents=True)}."]
        elif price_cents >= request.requested_from_cents:
            errors["price"] = ["Give a price below the one asked now, "
                               f"{format_usd(request.requested_from_cents, show_cents=True)}."]
        else:
            price = price_cents
    if errors:
        raise ValidationFailed(errors)
    return decision, price, text


def decide(reference: str, *, decision: object, price_cents: object = None, reason: object = "",
           staff) -> FeeRequest:
    """A coordinator or admin grants `price_cents` (the new total) or declines, with a reason: in one unit of work
    holding the cohort, audited, the applicant emailed. Only a waiting request of a live hold, with nothing paid,
    can be decided; deciding twice is refused (the second sees the first's decision)."""
    if not may_decide(staff):
        raise NotAllowedToDecide("Only coordinators and admins decide reduced fees.")
    booking = booking_by_reference(reference)
    with availability.changing_cohort(booking.cohort_id):
        booking = fresh(booking)
        request = request_of(booking)
        if request is None:
            raise NotFound("This booking has no request for a reduced fee.")
        db.session.refresh(request)
        if request.status != "requested":
            raise FeeRequestRefused(f"This request was {request.status} already.")
        if booking.status not in HOLDING_STATUSES or booking.hold_expires_at is None \
                or booking.hold_expires_at <= now():
            raise FeeRequestRefused("The hold on this seat has lapsed or ended, so there is nothing to decide.")
        if ledger.received_cents(booking.id) > 0:
            raise FeeRequestRefused("Money has been received for this booking, so its price cannot be reduced here.")
        decision, price, text = check_decision(request, booking, decision=decision, price_cents=price_cents,
                                               reason=reason)
        request.decided_by_id = staff.id
        request.decided_at = now()
        request.decision_reason = text
        list_price = booking.list_price_cents
        if decision == "grant":
            request.status = "granted"
            request.granted_total_cents = price
            booking.reduction_cents = list_price - booking.discount_cents - price
            booking.total_cents = price
            split = split_of_total(price, booking.price_list_version, booking.cohort.start_date)
            booking.deposit_cents, booking.balance_cents = split.deposit_cents, split.balance_cents
            booking.balance_due_date = split.balance_due_date
            plans.reprice(booking, today())
            audit.record("booking.fee_granted", "booking", booking.reference, {
                "list price": format_usd(list_price, show_cents=True),
                "price granted": format_usd(price, show_cents=True),
                "reduction": format_usd(booking.reduction_cents, show_cents=True),
                "deposit": format_usd(booking.deposit_cents, show_cents=True),
                "reason": text}, actor=staff)
            notify.enqueue(*emails.reduced_fee_granted(booking, manage_token(booking)))
        else:
            request.status = "declined"
            audit.record("booking.fee_declined", "booking", booking.reference, {
                "price stands": format_usd(booking.total_cents, show_cents=True), "reason": text}, actor=staff)
            notify.enqueue(*emails.reduced_fee_declined(booking, manage_token(booking)))
        db.session.flush()
    return request
