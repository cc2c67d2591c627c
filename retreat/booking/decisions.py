"""A clinician's decision on a pre-screen, applied to the bookings made with it (screening.review.decide sends
`screening_decided` inside its unit of work; booking sits above screening and listens).

Approval lets a booking awaiting review be paid (held again, for HOLD_AFTER_APPROVAL), unless its hold lapsed and
the seat went to someone else; a decline declines it and refunds everything paid."""

import sqlalchemy as sa

from retreat.booking import availability, emails, fee_requests, policy
from retreat.booking.access import fresh, manage_token
from retreat.booking.models import ACTIVE_STATUSES, Booking
from retreat.booking.payments import issue_refunds
from retreat.booking.states import transition
from retreat.booking.waitlist import offer_freed_seats
from retreat.core.clock import now
from retreat.extensions import db
from retreat.notify import services as notify
from retreat.payments import ledger
from retreat.screening.models import Screening
from retreat.screening.review import screening_decided


@screening_decided.connect
def on_screening_decided(screening: Screening, *, decision: str, clinician) -> bool:
    """Apply the decision to each active booking of this pre-screen, each under its cohort's lock, in the decision's
    unit of work. Returns whether a booking's own email told the applicant of an approval (the decision's generic
    email is then not sent)."""
    bookings = db.session.scalars(
        sa.select(Booking).where(Booking.screening_id == screening.id, Booking.status.in_(ACTIVE_STATUSES))
    ).all()
    told = False
    for booking in bookings:
        with availability.changing_cohort(booking.cohort_id):
            booking = fresh(booking)  # as it is now that the cohort is locked: a cancellation may have come first
            if decision == "approved" and booking.status == "pending_review":
                told = True
                lapsed = booking.hold_expires_at is None or booking.hold_expires_at <= now()
                if booking.cohort.status != "open" or (lapsed and availability.seats_left(booking.cohort) <= 0):
                    # The seat went to someone else after the review hold lapsed (or the dates closed).
                    transition(booking, "expired", reason="approved after the seat was released", actor=clinician)
                    notify.enqueue(*emails.approved_without_seat(booking))
                    continue
                # At least HOLD_AFTER_APPROVAL to pay; never shorter than the review hold it replaces.
                hold = max(now() + policy.HOLD_AFTER_APPROVAL, booking.hold_expires_at or now())
                transition(booking, "held", reason="approved", actor=clinician, hold_expires_at=hold)
                notify.enqueue(*emails.approved_to_pay(booking, manage_token(booking),
                                                       fee_awaited=fee_requests.awaits_decision(booking)))
            elif decision == "declined" and booking.status in ACTIVE_STATUSES:
                # Neutral words: finance staff read booking histories, and a decline is a clinical decision.
                paid = max(0, ledger.paid_cents(booking.id))
                transition(booking, "declined", reason="declined", actor=clinician)
                issue_refunds(booking, policy.full_refund(paid, "").refund_cents,
                              reason="booking declined: everything paid is refunded", actor=clinician)
                offer_freed_seats(booking.cohort)
    return told
