"""Helpers for the payment tests: a booking, its deposit's PaymentIntent, and polling the database for what a
webhook (served in another thread) changed."""

import sqlalchemy as sa

from retreat.booking import services
from retreat.booking.models import Booking
from retreat.extensions import db
from retreat.notify.models import OutboxEmail
from retreat.payments import ledger
from retreat.payments.models import Payment, ProcessedStripeEvent
from tests.booking.support import APPLICANT, eligible_token, make_cohort
from tests.support.localstripe import wait_until


def book(cohort=None, token=None, **changes) -> Booking:
    values = dict(cohort_id=(cohort or make_cohort()).id, screening_token=token or eligible_token(),
                  lodging="shared", applicant=dict(APPLICANT))
    values.update(changes)
    return services.create_booking(policy_accepted=True, **values).booking


def deposit_intent(booking: Booking) -> str:
    """Start the deposit as the pay page does; the PaymentIntent's id."""
    start = services.start_payment(booking)
    assert start.provider == "stripe" and start.kind == "deposit"
    return start.fields["payment_intent"]


def fresh(booking: Booking) -> Booking:
    """The booking as the database has it now (another thread may have changed it)."""
    db.session.rollback()
    return db.session.get(Booking, booking.id)


def wait_for_status(booking: Booking, status: str) -> Booking:
    return wait_until(lambda: (b := fresh(booking)).status == status and b, what=f"{booking.reference} {status}")


def payments(booking: Booking) -> list[Payment]:
    db.session.rollback()
    return ledger.payments_of(booking.id)


def emails(kind: str) -> list[OutboxEmail]:
    db.session.rollback()
    return db.session.scalars(sa.select(OutboxEmail).where(OutboxEmail.kind == kind)).all()


def handled(event_id: str) -> bool:
    db.session.rollback()
    return db.session.get(ProcessedStripeEvent, event_id) is not None


def wait_until_handled(event_id: str) -> None:
    """Wait for the app to record a webhook event as handled (localstripe posts it about a second after)."""
    wait_until(lambda: handled(event_id), what=f"event {event_id} handled")
