"""No overbooking under concurrency: applicants racing for the last seats, payments arriving twice at once,
cancellations racing capacity changes and the waitlist, on SQLite (a file) and on PostgreSQL.

Each racer is a thread with its own app context, so Flask-SQLAlchemy gives it its own session and its own
database connection (the racing app's pool has one for every racer at once). A barrier releases them together.
What the racers answered is checked, and then what the database holds, read back afresh.

Timing, for whoever wonders why a SQLite race of 50 takes about 0.5 s when the same 50 bookings one after the
other take about 0.2 s: SQLite has no queue of lock waiters. A writer that finds BEGIN IMMEDIATE busy polls in
its busy handler, sleeping 1, 2, 5 ... up to 100 ms between tries, so the write lock sits idle for a while after
each commit; and the 50 threads share one interpreter lock, which slows the holder. No racer comes anywhere near
the 15 s busy timeout (the longest wait measured is well under 1 s).
"""

import threading
from collections import Counter
from collections.abc import Callable

import pytest
import sqlalchemy as sa

from retreat import create_app
from retreat.booking import availability, cohorts, services
from retreat.booking.models import Booking, WaitlistEntry
from retreat.catalog.models import Cohort
from retreat.core.errors import DomainError, ValidationFailed
from retreat.extensions import db
from retreat.notify.models import OutboxEmail
from retreat.payments.models import Payment
from retreat.screening import services as screening_services
from tests.booking.support import APPLICANT, eligible_token, make_cohort

ATTEMPTS = 50
CAPACITY = 5
REPETITIONS = 20
RACE_TIMEOUT_SECONDS = 60


@pytest.fixture
def racing_app(app, database_url):
    """A second app on the test's database, whose pool holds a connection for every racer at once (the default
    pool of 15 would queue most of them before they ever reached the database)."""
    racing = create_app("testing", SQLALCHEMY_DATABASE_URI=database_url,
                        SQLALCHEMY_ENGINE_OPTIONS={"pool_size": ATTEMPTS, "max_overflow": 0, "pool_timeout": 30})
    with racing.app_context():
        if db.engine.dialect.name == "sqlite":  # in memory, each connection would have a database of its own
            assert db.engine.url.database not in (None, "", ":memory:"), "the race needs a SQLite file"
            assert db.session.scalar(sa.text("PRAGMA journal_mode")) == "wal"
    yield racing
    with racing.app_context():
        db.engine.dispose()


def race(racing_app, attempts: list[Callable]) -> list:
    """Run each attempt in its own thread and app context, all released at once; return what each returned or
    raised, in order. The test's own session then reads what the racers committed."""
    db.session.rollback()  # the test holds no transaction while the racers run
    barrier = threading.Barrier(len(attempts))
    outcomes: list = [None] * len(attempts)

    def run(index: int, attempt: Callable) -> None:
        with racing_app.app_context():
            try:
                barrier.wait(timeout=RACE_TIMEOUT_SECONDS)
                outcomes[index] = attempt()
            except Exception as error:  # noqa: BLE001  (the racer's answer, checked by the test)
                outcomes[index] = error

    threads = [threading.Thread(target=run, args=(index, attempt), daemon=True)
               for index, attempt in enumerate(attempts)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(RACE_TIMEOUT_SECONDS)
    assert not any(thread.is_alive() for thread in threads), "a racer is stuck: a lock was never let go"
    return outcomes


def answers(outcomes: list) -> Counter:
    """How many racers got each answer: "ok", a refusal's code, or an unexpected error's type."""
    return Counter("ok" if not isinstance(o, Exception) else o.code if isinstance(o, DomainError)
                   else type(o).__name__ for o in outcomes)


def book(cohort_id: int, token: str, email: str = APPLICANT["email"]) -> Callable[[], int]:
    applicant = dict(APPLICANT, email=email)

    def attempt() -> int:
        return services.create_booking(policy_accepted=True, cohort_id=cohort_id, screening_token=token,
                                       lodging="shared",
                                       applicant=applicant).booking.id

    return attempt


def cancel(reference: str) -> Callable[[], str]:
    return lambda: services.cancel_booking(services.booking_by_reference(reference), by="applicant").rule


def set_capacity(cohort_id: int, seats: int) -> Callable[[], dict]:
    return lambda: cohorts.set_capacity(cohort_id, seats)


def offer_seats(cohort_id: int) -> Callable[[], None]:
    return lambda: services.offer_seats_of(cohort_id)


def bookings_of(cohort_id: int) -> list[Booking]:
    return list(db.session.scalars(sa.select(Booking).where(Booking.cohort_id == cohort_id)))


def seats_taken(cohort_id: int) -> int:
    return availability.seats_taken([cohort_id]).get(cohort_id, 0)


def capacity_of(cohort_id: int) -> int:
    return db.session.scalar(sa.select(Cohort.capacity).where(Cohort.id == cohort_id))


def full_cohort(capacity: int) -> tuple[int, list[str]]:
    """A cohort whose seats are all held; returns its id and the holds' references."""
    cohort_id = make_cohort(capacity).id
    references = [services.create_booking(policy_accepted=True, cohort_id=cohort_id, screening_token=eligible_token(),
                                          lodging="shared",
                                          applicant=APPLICANT).booking.reference for _ in range(capacity)]
    return cohort_id, references


def test_fifty_applicants_racing_for_five_seats_get_exactly_five_holds(app, racing_app):
    for repetition in range(1, REPETITIONS + 1):
        cohort_id = make_cohort(CAPACITY).id
        tokens = [eligible_token() for _ in range(ATTEMPTS)]

        outcomes = race(racing_app, [book(cohort_id, token, f"racer{i}@example.org")
                                     for i, token in enumerate(tokens)])

        where = f"repetition {repetition} of {REPETITIONS}"
        assert answers(outcomes) == {"ok": CAPACITY, "cohort_full": ATTEMPTS - CAPACITY}, where
        assert all(isinstance(o, services.CohortFull) for o in outcomes if isinstance(o, Exception)), where
        bookings = bookings_of(cohort_id)
        assert len(bookings) == seats_taken(cohort_id) == CAPACITY, f"{where}: oversold"
        assert {b.id for b in bookings} == {o for o in outcomes if isinstance(o, int)}, where
        assert {b.status for b in bookings} == {"held"}, where
        winners = [token for token, o in zip(tokens, outcomes, strict=True) if isinstance(o, int)]
        assert {screening_services.by_token(t).id for t in winners} == {b.screening_id for b in bookings}, where
        losers = [token for token, o in zip(tokens, outcomes, strict=True) if isinstance(o, Exception)]
        assert all(screening_services.by_token(t).token_used_at is None for t in losers), \
            f"{where}: a refused applicant's pre-screen was used up"
    unsent = db.session.scalar(sa.select(sa.func.count()).select_from(OutboxEmail).where(
        OutboxEmail.kind == "booking_held", OutboxEmail.sent_at.is_(None)))
    assert unsent == 0, "emails of bookings made under contention must be sent at once, not left to the retry"


def test_one_payment_arriving_ten_times_at_once_is_recorded_once(app, racing_app):
    cohort = make_cohort(2)
    booking = services.create_booking(policy_accepted=True, cohort_id=cohort.id, screening_token=eligible_token(),
                                      lodging="shared",
                                      applicant=APPLICANT).booking
    reference, deposit = booking.reference, booking.deposit_cents

    def pay() -> tuple[bool, int]:
        outcome = services.payment_received(reference, kind="deposit", amount_cents=deposit, provider="demo",
                                            provider_reference="pi_same_intent")
        return outcome.created, outcome.payment.id

    outcomes = race(racing_app, [pay] * 10)

    assert answers(outcomes) == {"ok": 10}, outcomes
    assert sorted(created for created, _ in outcomes) == [False] * 9 + [True]
    payments = list(db.session.scalars(sa.select(Payment).where(Payment.booking_id == booking.id)))
    assert [(p.provider_reference, p.amount_cents) for p in payments] == [("pi_same_intent", deposit)]
    assert {payment_id for _, payment_id in outcomes} == {payments[0].id}
    assert services.booking_by_reference(reference).status == "confirmed"
    assert seats_taken(cohort.id) == 1
    receipts = db.session.scalar(sa.select(sa.func.count()).select_from(OutboxEmail)
                                 .where(OutboxEmail.kind == "receipt_deposit"))
    assert receipts == 1, "the applicant was sent a receipt per arrival of the same payment"


def test_cancellations_racing_capacity_cuts_and_bookings_never_oversell(app, racing_app):
    """A cohort of four seats, three held: one holder cancels while a coordinator cuts a seat and applicants
    race for the free ones. Whichever order the database picks, the cut happens only if it fits, at most the two
    free seats are taken, and the seats taken never exceed the capacity."""
    for repetition in range(1, 11):
        cohort_id, references = full_cohort(4)
        services.cancel_booking(services.booking_by_reference(references.pop()))
        tokens = [eligible_token() for _ in range(10)]

        outcomes = race(racing_app, [cancel(references[0]), set_capacity(cohort_id, 3),
                                     *[book(cohort_id, token) for token in tokens]])

        where = f"repetition {repetition}: {answers(outcomes)}"
        cancelled, cut, bookers = outcomes[0], outcomes[1], outcomes[2:]
        assert isinstance(cancelled, str), where
        assert all(isinstance(o, services.CohortFull) for o in bookers if isinstance(o, Exception)), where
        booked = [o for o in bookers if isinstance(o, int)]
        assert len(booked) <= 2, f"{where}: more applicants got in than seats were free"
        if isinstance(cut, ValidationFailed):  # all four seats were taken when the cut came
            assert list(cut.fields) == ["capacity"], where
        else:
            assert cut == {"from": 4, "to": 3}, where
        capacity = capacity_of(cohort_id)
        assert capacity == (4 if isinstance(cut, ValidationFailed) else 3), where
        assert seats_taken(cohort_id) == 2 + len(booked) <= capacity, \
            f"{where}: {seats_taken(cohort_id)} seats taken of {capacity}"


def test_seats_freed_at_once_go_to_the_waitlist_in_order_and_never_twice(app, racing_app):
    """Two holders cancel at the same moment, while walk-in applicants race for the seats and the waitlist is
    asked to fill the cohort: each freed seat is offered to the next one waiting, once, and no walk-in gets in
    ahead of the queue."""
    for repetition in range(1, 6):
        cohort_id, references = full_cohort(2)
        waiting = [services.join_waitlist(cohort_id=cohort_id, screening_token=eligible_token(),
                                          applicant=dict(APPLICANT, email=f"waiting{i}@example.org")).entry.id
                   for i in range(3)]
        walk_ins = [book(cohort_id, eligible_token()) for _ in range(8)]

        outcomes = race(racing_app, [cancel(references[0]), cancel(references[1]), offer_seats(cohort_id),
                                     offer_seats(cohort_id), *walk_ins])

        where = f"repetition {repetition}: {answers(outcomes)}"
        assert answers(outcomes) == {"ok": 4, "cohort_full": 8}, where
        entries = {e.id: e for e in db.session.scalars(
            sa.select(WaitlistEntry).where(WaitlistEntry.cohort_id == cohort_id))}
        assert [entries[i].status for i in waiting] == ["offered", "offered", "waiting"], where
        offered = [entries[i].booking_id for i in waiting[:2]]
        assert len(set(offered)) == 2 and None not in offered, where
        live = [b for b in bookings_of(cohort_id) if b.status == "held"]
        assert sorted(b.id for b in live) == sorted(offered), f"{where}: a walk-in took a seat of the queue"
        assert seats_taken(cohort_id) == capacity_of(cohort_id) == 2, where
