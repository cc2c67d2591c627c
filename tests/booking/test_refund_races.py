"""Two cancellations, or a cancellation and a clinician's decline, racing for one booking refund its money once,
on SQLite and on PostgreSQL. What a booking can still be refunded counts the refunds decided and not yet sent,
and a decline reads the booking again once it holds the cohort lock."""

import threading

import sqlalchemy as sa

from retreat.booking import availability, services
from retreat.booking.models import Booking
from retreat.booking.states import IllegalTransition
from retreat.extensions import db
from retreat.payments import ledger
from retreat.payments.models import Payment, PendingRefund
from retreat.screening import review
from retreat.screening.models import Screening
from retreat.staff.models import StaffUser
from tests.booking.support import make_cohort, review_token
from tests.booking.test_concurrency import race, racing_app  # noqa: F401  (racing_app: a fixture)
from tests.payments.support import book

REPETITIONS = 5
FEE = 100_00  # an applicant cancelling 30 or more days before keeps this


def paid_booking(token=None) -> Booking:
    booking = book(make_cohort(starts_in_days=60), token=token)
    services.payment_received(booking.reference, kind="deposit", amount_cents=booking.deposit_cents,
                              provider="demo", provider_reference=f"demo_{booking.reference}")
    return db.session.get(Booking, booking.id)


def refunds_of(booking_id: int) -> tuple[int, int]:
    """(refunds in the ledger, refunds decided and not sent), in cents, as the database has them now."""
    db.session.rollback()
    made = -db.session.scalar(sa.select(sa.func.coalesce(sa.func.sum(Payment.amount_cents), 0))
                              .where(Payment.booking_id == booking_id, Payment.kind == "refund"))
    waiting = db.session.scalar(sa.select(sa.func.coalesce(sa.func.sum(PendingRefund.amount_cents), 0))
                                .where(PendingRefund.booking_id == booking_id, PendingRefund.status == "pending"))
    return made, waiting


def test_two_cancellations_at_once_refund_once(app, racing_app):  # noqa: F811
    for _ in range(REPETITIONS):
        booking = paid_booking()
        booking_id, deposit = booking.id, booking.deposit_cents  # the racers never touch the test's session

        def cancel(by, booking_id=booking_id):
            def attempt():
                return services.cancel_booking(db.session.get(Booking, booking_id), by=by, actor=by).refund_cents
            return attempt

        outcomes = race(racing_app, [cancel("applicant"), cancel("clinic")])
        refused = [o for o in outcomes if isinstance(o, IllegalTransition)]
        done = [o for o in outcomes if isinstance(o, int)]
        assert len(refused) == 1 and len(done) == 1, outcomes
        assert done[0] in (deposit, deposit - FEE)
        assert refunds_of(booking_id) == (done[0], 0)
        assert db.session.get(Booking, booking_id).status == "cancelled"
        assert ledger.paid_cents(booking_id) == deposit - done[0]


def test_a_decline_racing_a_cancellation_refunds_once(app, racing_app, staff_user, monkeypatch):  # noqa: F811
    """The clinician's decision has read the booking (confirmed) when the applicant's cancellation commits. On
    PostgreSQL the decision then waits for the cohort lock and must see the booking cancelled: declining the stale
    booking refunded the $100 fee the cancellation kept, on top of its refund. On SQLite the decision holds the
    database's write lock from its start, so the cancellation waits and is refused."""
    clinician_id = staff_user("clinician").id
    booking = paid_booking(review_token(approved=True))
    booking_id, screening_id, deposit = booking.id, booking.screening_id, booking.deposit_cents
    screening = db.session.get(Screening, screening_id)
    screening.review_status = "pending"  # the review reopened (new records arrived)
    db.session.commit()

    decision_has_read = threading.Event()
    cancellation_done = threading.Event()
    lock_cohort = availability.lock_cohort
    decider = []

    def slow_lock(cohort_id):
        if threading.current_thread() in decider:  # the decision, not the cancellation
            decision_has_read.set()
            cancellation_done.wait(timeout=3)  # on SQLite the cancellation cannot finish first: go on after 3 s
        return lock_cohort(cohort_id)

    monkeypatch.setattr(availability, "lock_cohort", slow_lock)

    def decline():
        decider.append(threading.current_thread())
        review.decide(screening_id, "declined", "Not safe with the current medicines.",
                      db.session.get(StaffUser, clinician_id))
        return "declined"

    def cancel():
        try:
            assert decision_has_read.wait(timeout=10)
            return services.cancel_booking(db.session.get(Booking, booking_id), by="applicant",
                                           actor="applicant").refund_cents
        finally:
            cancellation_done.set()

    decided, cancelled = race(racing_app, [decline, cancel])
    assert decided == "declined", decided
    db.session.rollback()
    status = db.session.get(Booking, booking_id).status
    if db.engine.dialect.name == "postgresql":
        assert cancelled == deposit - FEE
        assert status == "cancelled"
        assert refunds_of(booking_id) == (deposit - FEE, 0)  # the decline found nothing left to decide
    else:
        assert isinstance(cancelled, IllegalTransition)
        assert status == "declined"
        assert refunds_of(booking_id) == (deposit, 0)
    assert ledger.paid_cents(booking_id) >= 0


def test_money_decided_for_a_refund_is_not_refunded_again(app, monkeypatch):
    """A refund decided and not sent yet (the provider down) counts as returned: the next decision refunds only
    what is left."""
    from retreat.payments import providers

    def unreachable(self, payment, cents, *, idempotency_key):
        raise providers.ProviderUnavailable("The card provider cannot be reached.")

    monkeypatch.setattr(providers.DemoProvider, "refund", unreachable)
    booking = paid_booking()
    deposit = booking.deposit_cents
    services.cancel_booking(booking, by="applicant")
    assert refunds_of(booking.id) == (0, deposit - FEE)
    assert services.cancellation_quote(db.session.get(Booking, booking.id), by="clinic").refund_cents == FEE
    assert [cents for _, cents in ledger.refundable(booking.id)] == [FEE]
    monkeypatch.undo()
    from retreat.payments import refunds
    assert len(refunds.retry_pending().sent) == 1
    assert refunds_of(booking.id) == (deposit - FEE, 0)
    assert ledger.paid_cents(booking.id) == FEE
