"""Every job is safe when every host runs it at the same moment (retreat/core/jobs.py).

Each job runs twice at once: two threads, each with its own app context, session and database connection (the
racing app of tests/booking/test_concurrency.py), released together by a barrier, as two hosts' cron would. The
services are raced directly (their row claims must hold even without the job lock), then the commands: a host
that finds the job lock taken does nothing. Then what the database holds is counted: no email sent twice, no card
charged twice, no hold expired or seat offered twice, no reminder queued twice.

On PostgreSQL this is the real test (FOR UPDATE SKIP LOCKED, advisory locks, unique claims); on SQLite the
runs are serialised by the write lock (BEGIN IMMEDIATE) and the second finds the first's work done.
"""

import threading
from collections import Counter
from datetime import timedelta

import pytest
import sqlalchemy as sa

from retreat.booking import services
from retreat.booking.models import Booking, WaitlistEntry
from retreat.core import jobs
from retreat.core.audit import AuditEntry
from retreat.core.clock import now, today
from retreat.extensions import db
from retreat.notify import services as notify
from retreat.notify.models import OutboxEmail
from retreat.payments import ledger, providers
from retreat.screening.models import Screening
from tests.booking.support import APPLICANT, eligible_token, make_cohort
from tests.booking.test_concurrency import race, racing_app  # noqa: F401  (racing_app: the fixture)

DEPOSIT = 99_400
BALANCE = 497_000 - DEPOSIT
HOLDERS = 6


def book(cohort, email: str) -> Booking:
    return services.create_booking(policy_accepted=True, cohort_id=cohort.id, screening_token=eligible_token(),
                                   lodging="shared", applicant=APPLICANT | {"email": email}).booking


def pay_deposit(booking: Booking) -> None:
    services.payment_received(booking.reference, kind="deposit", amount_cents=DEPOSIT, provider="demo",
                              provider_reference=providers.DemoProvider.new_reference())


def outbox(kind: str) -> Counter:
    db.session.rollback()
    return Counter(db.session.scalars(sa.select(OutboxEmail.to_address).where(OutboxEmail.kind == kind)))


def twice(racing_app, job) -> list:  # noqa: F811
    outcomes = race(racing_app, [job, job])
    errors = [outcome for outcome in outcomes if isinstance(outcome, Exception)]
    assert not errors, errors
    db.session.rollback()
    db.session.expire_all()
    return outcomes


# --- notify send -----------------------------------------------------------------------------------------------

def test_two_senders_at_once_send_each_email_once(app, racing_app, monkeypatch):  # noqa: F811
    for number in range(12):
        notify.enqueue("test", f"person{number}@example.org", "Hello", "Body")  # no unit of work: left queued
    db.session.commit()
    delivered = []
    lock = threading.Lock()

    def deliver(email):
        with lock:
            delivered.append(email.id)

    monkeypatch.setattr(notify, "_deliver", deliver)
    outcomes = twice(racing_app, notify.send_pending)
    assert sum(outcomes) == 12
    assert sorted(delivered) == sorted(set(delivered)) and len(delivered) == 12, "an email was sent twice"
    assert db.session.scalar(sa.select(sa.func.count()).select_from(OutboxEmail)
                             .where(OutboxEmail.sent_at.is_(None))) == 0


# --- bookings expire -------------------------------------------------------------------------------------------

def test_two_expiry_runs_expire_each_hold_once_and_offer_each_seat_once(app, racing_app):  # noqa: F811
    cohorts = [make_cohort(HOLDERS // 2) for _ in range(2)]
    holders = [book(cohort, f"holder{c}{n}@example.org") for c, cohort in enumerate(cohorts)
               for n in range(HOLDERS // 2)]
    for c, cohort in enumerate(cohorts):
        services.join_waitlist(cohort_id=cohort.id, screening_token=eligible_token(),
                               applicant=APPLICANT | {"email": f"waiting{c}@example.org"})
    for booking in holders:
        booking.hold_expires_at = now() - timedelta(minutes=1)
    db.session.commit()

    outcomes = twice(racing_app, services.expire_lapsed_holds)

    assert sum(outcomes) == HOLDERS
    expired = db.session.scalars(sa.select(AuditEntry).where(AuditEntry.action == "booking.expired")).all()
    assert Counter(entry.target_id for entry in expired) == Counter(b.reference for b in holders), \
        "a hold expired twice (or not at all)"
    assert outbox("booking_expired") == Counter(b.applicant_email for b in holders)
    assert outbox("waitlist_offer") == Counter({"waiting0@example.org": 1, "waiting1@example.org": 1})
    offered = db.session.scalars(sa.select(WaitlistEntry)).all()
    assert [entry.status for entry in offered] == ["offered", "offered"]
    for cohort in cohorts:
        held = db.session.scalars(sa.select(Booking).where(Booking.cohort_id == cohort.id,
                                                           Booking.status == "held")).all()
        assert len(held) == 1, "a freed seat was offered twice"


# --- bookings remind -------------------------------------------------------------------------------------------

def test_two_reminder_runs_queue_each_reminder_once(app, racing_app):  # noqa: F811
    cohort = make_cohort(HOLDERS, starts_in_days=30)  # balance due in 16 days: the 21-day reminder is due
    for number in range(HOLDERS):
        pay_deposit(book(cohort, f"due{number}@example.org"))
    outcomes = twice(racing_app, services.send_balance_reminders)
    assert sum(outcomes) == HOLDERS
    assert outbox("balance_reminder") == Counter({f"due{n}@example.org": 1 for n in range(HOLDERS)})


# --- bookings charge-balances ----------------------------------------------------------------------------------

class CountingStripe:
    """Takes every saved-card charge, counting them; thread-safe."""

    name = "stripe"

    def __init__(self):
        self.charged: list[tuple[str, int, str]] = []
        self.lock = threading.Lock()

    def charge_saved_card(self, booking, cents, *, kind="balance", key=None):
        with self.lock:
            self.charged.append((booking.reference, cents, key))
            return providers.Charged(f"pi_counted_{len(self.charged)}", fee_cents=100, net_cents=cents - 100)


def test_two_charging_runs_charge_each_balance_once(app, racing_app, monkeypatch):  # noqa: F811
    cohort = make_cohort(HOLDERS, starts_in_days=30)
    bookings = [book(cohort, f"card{number}@example.org") for number in range(HOLDERS)]
    for booking in bookings:
        pay_deposit(booking)
    for booking in bookings:
        booking.save_card_consent = True
        booking.stripe_customer_id, booking.stripe_payment_method_id = "cus_fake", "pm_fake"
        booking.balance_due_date = today()
    db.session.commit()
    stripe = CountingStripe()
    monkeypatch.setattr(providers, "provider", lambda name: stripe)

    outcomes = twice(racing_app, services.charge_due_balances)

    assert sum(charged for charged, _ in outcomes) == HOLDERS and all(failed == 0 for _, failed in outcomes)
    assert Counter(reference for reference, _, _ in stripe.charged) == Counter(b.reference for b in bookings), \
        "a card was charged twice"
    assert all(cents == BALANCE for _, cents, _ in stripe.charged)
    for booking in bookings:
        assert ledger.paid_cents(booking.id) == 497_000
    assert twice(racing_app, services.charge_due_balances) == [(0, 0), (0, 0)]
    assert len(stripe.charged) == HOLDERS


def test_a_balance_claimed_then_the_provider_down_is_tried_again_with_the_same_key(app, monkeypatch):
    cohort = make_cohort(1, starts_in_days=30)
    booking = book(cohort, "retry@example.org")
    pay_deposit(booking)
    booking.save_card_consent = True
    booking.stripe_customer_id, booking.stripe_payment_method_id = "cus_fake", "pm_fake"
    booking.balance_due_date = today()
    db.session.commit()
    keys = []

    class Down:
        def charge_saved_card(self, booking, cents, *, kind="balance", key=None):
            keys.append(key)
            raise providers.ProviderUnavailable("down")

    monkeypatch.setattr(providers, "provider", lambda name: Down())
    assert services.charge_due_balances() == (0, 1)
    stripe = CountingStripe()
    monkeypatch.setattr(providers, "provider", lambda name: stripe)
    assert services.charge_due_balances() == (1, 0)
    assert [key for _, _, key in stripe.charged] == keys, "the retry is the same charge at Stripe"


def test_two_charging_runs_charge_each_monthly_part_once(app, racing_app, monkeypatch):  # noqa: F811
    cohort = make_cohort(HOLDERS, starts_in_days=200)
    bookings = [services.create_booking(policy_accepted=True, cohort_id=cohort.id, screening_token=eligible_token(),
                                        lodging="shared", payment_plan="installments",
                                        applicant=APPLICANT | {"email": f"part{n}@example.org"}).booking
                for n in range(3)]
    for booking in bookings:
        pay_deposit(booking)
    stripe = CountingStripe()
    monkeypatch.setattr(providers, "provider", lambda name: stripe)
    first_due = today() + timedelta(days=40)  # past the first part's day (a month after booking)
    outcomes = race(racing_app, [lambda: services.charge_due_installments(on=first_due)] * 2)
    assert sum(charged for charged, _ in outcomes) == 3
    assert Counter(reference for reference, _, _ in stripe.charged) == Counter(b.reference for b in bookings)


# --- screening purge -------------------------------------------------------------------------------------------

def test_two_purges_at_once_purge_each_screening_once(app, racing_app):  # noqa: F811
    for _ in range(4):
        eligible_token()
    db.session.execute(sa.update(Screening).values(created_at=now() - timedelta(days=400)))
    db.session.commit()
    from retreat.screening import services as screening

    outcomes = twice(racing_app, screening.purge_old_answers)
    assert sorted(outcomes) == [0, 4]
    purges = db.session.scalars(sa.select(AuditEntry).where(AuditEntry.action == "screening.purge")).all()
    assert len(purges) == 1


# --- The mechanism and the commands -------------------------------------------------------------------------------

def test_a_claim_is_taken_once(app):
    assert jobs.claim_once("test-job", "booking-1:2027-01-01")
    assert not jobs.claim_once("test-job", "booking-1:2027-01-01")
    assert jobs.claim_once("test-job", "booking-1:2027-01-02")
    jobs.release_claim("test-job", "booking-1:2027-01-02")
    assert jobs.claim_once("test-job", "booking-1:2027-01-02")


def test_two_hosts_claiming_at_once_one_wins(app, racing_app):  # noqa: F811
    outcomes = twice(racing_app, lambda: jobs.claim_once("test-job", "same"))
    assert sorted(outcomes) == [False, True]


JOB_COMMANDS = [
    ["notify", "send"], ["notify", "purge"], ["bookings", "expire"], ["bookings", "remind"],
    ["bookings", "charge-balances"], ["payments", "reconcile"], ["payments", "retry-refunds"],
    ["screening", "purge"], ["screening", "rotate-keys"],
]


@pytest.mark.parametrize("command", JOB_COMMANDS, ids=" ".join)
def test_a_job_another_host_runs_is_skipped_here(app, command):
    """While one host holds a job's lock, the same command elsewhere does nothing (PostgreSQL); on SQLite, one
    host, it runs."""
    name = " ".join(command)
    held, release, done = threading.Event(), threading.Event(), threading.Event()

    def other_host():
        with app.app_context(), jobs.job_lock(name) as mine:
            assert mine
            held.set()
            release.wait(30)
        done.set()

    if db.engine.dialect.name == "postgresql":
        thread = threading.Thread(target=other_host, daemon=True)
        thread.start()
        assert held.wait(30)
    try:
        result = app.test_cli_runner().invoke(args=command)
    finally:
        release.set()
    if db.engine.dialect.name == "postgresql":
        thread.join(30)
        assert result.output == jobs.skipped(name) + "\n", result.output
        # Let go: the next run here takes it.
        with jobs.job_lock(name) as mine:
            assert mine
    else:
        assert jobs.skipped(name) not in result.output


def test_two_commands_at_once_remind_once(app, racing_app):  # noqa: F811
    cohort = make_cohort(HOLDERS, starts_in_days=30)
    for number in range(HOLDERS):
        pay_deposit(book(cohort, f"cli{number}@example.org"))

    def command():
        result = racing_app.test_cli_runner().invoke(args=["bookings", "remind"])
        assert result.exit_code == 0, (result.output, result.exception)

    twice(racing_app, command)  # (click's runner swaps sys.stdout: the two outputs are not told apart)
    assert outbox("balance_reminder") == Counter({f"cli{n}@example.org": 1 for n in range(HOLDERS)})
