"""Money for a booking: what is owed and can be paid now, starting a payment with the booking's provider, money
received (which moves the booking on, or is returned when the booking cannot take it), and refunds decided.

One function records money (payments.ledger.record_payment) and one moves the booking (booking.states.transition);
payment_received calls both in one unit of work holding the cohort, and is safe to repeat (once per provider
reference). Refunds are decided here, as pending refunds beside the change that owes them, and asked of the
provider after the commit (payments.refunds).
"""

from dataclasses import dataclass
from datetime import datetime

import sqlalchemy as sa

from retreat.booking import availability, emails, plans
from retreat.booking.access import booking_by_reference, fresh, manage_token
from retreat.booking.models import ACTIVE_STATUSES, HOLDING_STATUSES, Booking, FeeRequest
from retreat.booking.states import transition
from retreat.core.clock import now, today
from retreat.extensions import db
from retreat.notify import services as notify
from retreat.payments import ledger, providers, refunds
from retreat.payments.models import Payment
from retreat.screening import services as screening_services

# The statuses that can owe money: a booking holding a seat (while its hold lasts) or having one. A cancelled,
# declined or expired booking (or a hold that lapsed unpaid, before `bookings expire` writes it down) owes nothing.
OWING_STATUSES = ("held", "pending_review", "confirmed", "paid_in_full")


def owed_cents(*, status: str, total_cents: int, received_cents: int, hold_expires_at: datetime | None,
               at: datetime | None = None) -> int:
    """The one rule for what a booking still owes (pure, so lists and reports apply it row by row): the total less
    what was received (a goodwill refund is not owed again; flagged money is not the booking's), for a booking
    that holds a live seat or has one; nothing for a cancelled, declined or expired booking or a lapsed hold. The
    manage page, the staff bookings list, booking page and roster, finance's booking page and month close and the
    JSON API all show this figure."""
    if status not in OWING_STATUSES:
        return 0
    if status in HOLDING_STATUSES and hold_expires_at is not None and hold_expires_at <= (at or now()):
        return 0
    return max(0, total_cents - received_cents)


def outstanding_cents(booking: Booking) -> int:
    """What `booking` still owes now (owed_cents, over the ledger)."""
    return owed_cents(status=booking.status, total_cents=booking.total_cents,
                      received_cents=ledger.received_cents(booking.id), hold_expires_at=booking.hold_expires_at)


def left_to_pay_cents(booking: Booking) -> int:
    """The most that may still be paid towards the booking's price (the total less what was received), whatever
    its state: a late bank transfer for a lapsed hold may still confirm it (payment_received decides)."""
    return max(0, booking.total_cents - ledger.received_cents(booking.id))


def policy_first(booking: Booking) -> bool:
    """A booking made without the cancellation policy being accepted (a seat offered from the waitlist) asks for
    it before its first payment: nothing is paid, by any provider, until it is (holds.accept_policy)."""
    return booking.policy_version is None and next_payment(booking) is not None


def next_payment(booking: Booking, *, after_lapse: bool = False) -> tuple[str, int] | None:
    """The payment the applicant can make now: (kind, cents), or None. `after_lapse` also offers the deposit of
    a hold that lapsed (money that reached the clinic anyway, such as a bank transfer: payment_received confirms
    the booking if a seat is still free, and returns the money otherwise)."""
    if booking.cohort.status == "cancelled" or _awaits_fee_decision(booking):
        return None
    live_hold = booking.status == "held" and (booking.hold_expires_at is None or booking.hold_expires_at > now())
    if live_hold or (after_lapse and booking.status in ("held", "expired")):
        return "deposit", max(0, booking.deposit_cents - ledger.received_cents(booking.id)) or booking.deposit_cents
    if booking.status == "confirmed":
        left = outstanding_cents(booking)
        if left and booking.payment_plan == "installments":
            # A part not charged when due (a declined card) is paid by hand; before then, the whole rest may be.
            overdue = plans.overdue_cents(booking, ledger.received_cents(booking.id), today())
            if overdue:
                return "installment", min(overdue, left)
        return ("balance", left) if left else None
    return None


def _awaits_fee_decision(booking: Booking) -> bool:
    """A hold whose reduced fee is still to be decided (booking.fee_requests): nothing can be paid yet."""
    return booking.status in HOLDING_STATUSES and db.session.scalar(sa.select(FeeRequest.id).where(
        FeeRequest.booking_id == booking.id, FeeRequest.status == "requested")) is not None


def start_payment(booking: Booking) -> providers.PaymentStart | None:
    """What the applicant needs to pay what is due now (deposit or balance) with the booking's provider."""
    page = payment_page(booking)
    return page.start if page is not None else None


@dataclass(frozen=True)
class PaymentPage:
    """The payment due now, started with the booking's provider, and what the provider's part of the page loads
    from elsewhere (Content-Security-Policy sources, by directive)."""

    kind: str
    amount_cents: int
    start: providers.PaymentStart
    sources: dict[str, tuple[str, ...]]


def payment_page(booking: Booking) -> PaymentPage | None:
    """What the payment page shows: None when nothing can be paid now."""
    due = next_payment(booking)
    if due is None:
        return None
    kind, cents = due
    provider = providers.provider(booking.payment_provider)
    return PaymentPage(kind, cents, provider.start(booking, kind, cents), provider.page_sources)


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
    with availability.changing_cohort(booking.cohort_id):
        booking = fresh(booking)
        recorded = ledger.record_payment(
            booking, kind=kind, amount_cents=amount_cents, provider=provider, provider_reference=provider_reference,
            fee_cents=fee_cents, net_cents=net_cents, recorded_by=recorded_by, note=note, actor=actor)
        returned = 0
        if card_on_file and booking.save_card_consent and not booking.stripe_payment_method_id:
            booking.stripe_customer_id, booking.stripe_payment_method_id = card_on_file
        if recorded.created:
            returned = _apply_payment(booking, recorded.payment, actor or recorded_by)
            plans.settle(booking, ledger.received_cents(booking.id), recorded.payment.id)
            if returned < recorded.payment.amount_cents:
                notify.enqueue(*emails.payment_receipt(booking, recorded.payment, manage_token(booking)),
                               attachment=emails.receipt_attachment(booking))
            if returned:
                # Decided in this transaction (a pending refund beside the payment), asked of the provider after
                # the commit; the retry job finishes it if the provider cannot refund now.
                reason = ("paid beyond the booking's total" if returned < recorded.payment.amount_cents
                          else "no seat for this payment")
                issue_refunds(booking, returned, reason=reason, actor=actor or recorded_by, only=recorded.payment)
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
        if lapsed and availability.seats_left(booking.cohort) <= 0:
            return payment.amount_cents
        if booking.status == "expired" and not _pre_screen_taken_back(booking):
            return payment.amount_cents
        transition(booking, target, reason="payment received", actor=actor)
    elif booking.status == "confirmed" and target == "paid_in_full":
        transition(booking, target, reason="balance paid", actor=actor)
    return excess


def _pre_screen_taken_back(booking: Booking) -> bool:
    """A lapsed hold paid late takes its pre-screen back (its lapse freed it), unless another booking made with it
    since is live: one pre-screen, one live booking."""
    if screening_services.claim_for_booking(booking.screening_id):
        return True
    return not db.session.scalar(
        sa.select(sa.func.count()).select_from(Booking).where(
            Booking.screening_id == booking.screening_id, Booking.id != booking.id,
            Booking.status.in_(ACTIVE_STATUSES)))


def issue_refunds(booking: Booking, refund_cents: int, *, reason: str, actor=None,
                  only: Payment | None = None) -> int:
    """Refund `refund_cents` across the booking's payments (or `only` one of them), newest first: a pending refund
    per payment in the caller's transaction (counted as returned from then on, so nothing is refunded twice),
    which payments.refunds asks each payment's provider for after the commit; the applicant is emailed. Returns
    what is refunded."""
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
    if refunded > 0:
        notify.enqueue(*emails.refund_issued(booking, refunded, reason), attachment=emails.receipt_attachment(booking))
    return refunded
