"""Cancelling a booking: the refund the policy gives (shown before confirming, then decided with the
cancellation), a staff override (audited), and a booking cancelled because everything it paid was refunded at the
provider."""

from dataclasses import dataclass

import sqlalchemy as sa

from retreat.booking import availability, emails, policy
from retreat.booking.access import fresh
from retreat.booking.models import ACTIVE_STATUSES, PAID_STATUSES, Booking
from retreat.booking.payments import issue_refunds
from retreat.booking.states import CANCELLABLE_STATUSES, STATUS_MESSAGES, IllegalTransition, transition
from retreat.booking.waitlist import offer_freed_seats
from retreat.core import audit
from retreat.core.clock import today
from retreat.core.errors import ValidationFailed
from retreat.extensions import db
from retreat.notify import services as notify
from retreat.payments import ledger
from retreat.screening import services as screening_services

REFUNDED_IN_FULL_REASON = "cancelled by the clinic: everything paid was refunded at the payment provider"
REFUNDED_IN_FULL_RULE = "cancelled by the clinic: everything you paid was refunded"


def free_pre_screen(booking: Booking, *, actor=None) -> bool:
    """A booking that ended unused (cancelled, or its hold lapsed unpaid) gives its pre-screen back: it books
    again for the rest of its 30 days, unless another booking made with it is still live or a clinician declined
    it. In the caller's unit of work, beside the change that ended the booking. Returns whether it was freed."""
    live = db.session.scalar(
        sa.select(sa.func.count()).select_from(Booking).where(
            Booking.screening_id == booking.screening_id, Booking.id != booking.id,
            Booking.status.in_(ACTIVE_STATUSES)))
    return not live and screening_services.free_for_booking(booking.screening_id, actor=actor)


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
    unit of work holding the cohort; the freed seat is offered to the waitlist. The refund is asked of the provider
    after the commit (a provider that fails leaves it pending for the retry job, the booking cancelled). A booking
    that cannot be cancelled raises IllegalTransition (409)."""
    with availability.changing_cohort(booking.cohort_id):
        booking = fresh(booking)
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
        free_pre_screen(booking, actor=actor or by)
        notify.enqueue(*emails.booking_cancelled(booking, quote))
        issue_refunds(booking, refund, reason=f"cancellation: {quote.rule}", actor=actor or by)
        offer_freed_seats(booking.cohort)
    return quote


def cancel_when_refunded_in_full(booking: Booking, *, actor) -> bool:
    """A refund made at the provider (Stripe's dashboard) returned everything a confirmed booking had paid: the
    booking is cancelled by the clinic, its seat freed and offered to the waitlist, and the applicant told; no
    refund is made (the money is back already). In the caller's unit of work, holding the cohort. A partial refund
    changes no booking. Returns whether the booking was cancelled."""
    booking = fresh(booking)
    if booking.status not in PAID_STATUSES:
        return False
    received = ledger.received_cents(booking.id)
    if received <= 0 or ledger.paid_cents(booking.id) > 0:
        return False
    transition(booking, "cancelled", reason=REFUNDED_IN_FULL_REASON, actor=actor)
    free_pre_screen(booking, actor=actor)
    quote = CancellationQuote(booking, received, received, REFUNDED_IN_FULL_RULE,
                              (booking.cohort.start_date - today()).days)
    notify.enqueue(*emails.booking_cancelled(booking, quote))
    offer_freed_seats(booking.cohort)
    return True
