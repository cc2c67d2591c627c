"""`flask bookings expire | remind | charge-balances | offer-seats`: the cron jobs, each one call of a booking
service, safe to run twice (retreat/booking/cli.py)."""

from datetime import timedelta

import pytest
import sqlalchemy as sa

from retreat.booking import services
from retreat.booking.models import Booking, WaitlistEntry
from retreat.catalog.models import Cohort
from retreat.core.clock import now, today
from retreat.extensions import db
from retreat.notify.models import OutboxEmail
from retreat.payments import ledger, providers
from tests.booking.support import APPLICANT, eligible_token, make_cohort

DEPOSIT = 99_400


@pytest.fixture
def runner(app):
    return app.test_cli_runner()


def run(runner, *args: str) -> str:
    result = runner.invoke(args=["bookings", *args])
    assert result.exit_code == 0, result.output
    db.session.rollback()  # read what the command committed
    db.session.expire_all()
    return result.output


def book(cohort, email: str) -> Booking:
    return services.create_booking(policy_accepted=True, cohort_id=cohort.id, screening_token=eligible_token(),
                                   lodging="shared",
                                   applicant=APPLICANT | {"email": email}).booking


def pay_deposit(booking: Booking) -> None:
    services.payment_received(booking.reference, kind="deposit", amount_cents=DEPOSIT, provider="demo",
                              provider_reference=providers.DemoProvider.new_reference())


def status_of(booking: Booking) -> str:
    return db.session.scalar(sa.select(Booking.status).where(Booking.id == booking.id))


def emails_to(kind: str) -> list[str]:
    return list(db.session.scalars(sa.select(OutboxEmail.to_address).where(OutboxEmail.kind == kind)
                                   .order_by(OutboxEmail.id)))


def test_the_help_gives_the_cron_lines(runner):
    result = runner.invoke(args=["bookings", "--help"])
    assert result.exit_code == 0
    for line in ("*/5 * * * *  flask --app wsgi bookings expire", "flask --app wsgi notify send",
                 "flask --app wsgi bookings remind", "flask --app wsgi bookings charge-balances"):
        assert line in result.output


def test_expire_marks_lapsed_holds_and_offers_their_seats_to_the_waitlist(runner):
    cohort = make_cohort(1)
    lapsed = book(cohort, "late@example.org")
    services.join_waitlist(cohort_id=cohort.id, screening_token=eligible_token(),
                           applicant=APPLICANT | {"email": "waiting@example.org"})
    lapsed.hold_expires_at = now() - timedelta(minutes=1)
    db.session.commit()

    assert run(runner, "expire") == "Expired 1 lapsed hold(s).\n"
    assert status_of(lapsed) == "expired"
    assert emails_to("booking_expired") == ["late@example.org"]
    entry = db.session.scalar(sa.select(WaitlistEntry))
    assert entry.status == "offered" and status_of(entry.booking) == "held"
    assert emails_to("waitlist_offer") == ["waiting@example.org"]

    assert run(runner, "expire") == "Expired 0 lapsed hold(s).\n", "a second run finds nothing to do"


def test_remind_sends_each_balance_reminder_once(runner):
    cohort = make_cohort(starts_in_days=30)  # balance due 14 days before: in 16 days, so the 21-day reminder
    booking = book(cohort, "due@example.org")
    pay_deposit(booking)
    # The checklist reminders (retreat/arrival/cli.py adds `remind`) start 21 days before the start: none yet.
    assert run(runner, "remind") == "Queued 1 balance reminder(s).\nQueued 0 checklist reminder(s).\n"
    assert emails_to("balance_reminder") == ["due@example.org"]
    assert run(runner, "remind") == "Queued 0 balance reminder(s).\nQueued 0 checklist reminder(s).\n"


class FakeStripe:
    """Charges saved cards: declines the card of `declined_email`, takes the others."""

    name = "stripe"

    def __init__(self, declined_email: str):
        self.declined_email = declined_email
        self.charged: list[tuple[str, int]] = []

    def charge_saved_card(self, booking, cents, **options):
        if booking.applicant_email == self.declined_email:
            raise providers.CardDeclined("Your card was declined.")
        self.charged.append((booking.reference, cents))
        return providers.Charged(f"pi_fake_{len(self.charged)}", fee_cents=100, net_cents=cents - 100)


def test_charge_balances_charges_saved_cards_and_tells_the_declined(runner, monkeypatch):
    cohort = make_cohort(starts_in_days=30)
    good, declined = book(cohort, "good@example.org"), book(cohort, "declined@example.org")
    pay_deposit(good)
    pay_deposit(declined)
    for booking in (good, declined):
        booking.save_card_consent = True
        booking.stripe_customer_id, booking.stripe_payment_method_id = "cus_fake", "pm_fake"
        booking.balance_due_date = today()
    db.session.commit()
    fake = FakeStripe("declined@example.org")
    real_provider = providers.provider
    monkeypatch.setattr(providers, "provider", lambda name: fake if name == "stripe" else real_provider(name))

    assert run(runner, "charge-balances") == ("Charged 1 balance(s); 1 card(s) declined, applicants emailed.\n"
                                              "Charged 0 monthly part(s); 0 not charged, applicants emailed.\n")
    assert fake.charged == [(good.reference, 497_000 - DEPOSIT)]
    assert status_of(good) == "paid_in_full" and ledger.paid_cents(good.id) == 497_000
    assert status_of(declined) == "confirmed" and ledger.paid_cents(declined.id) == DEPOSIT
    assert emails_to("balance_charge_failed") == ["declined@example.org"]

    # Once a day (core.jobs.claim_once): a second run that day neither charges nor emails anyone again.
    assert run(runner, "charge-balances").startswith("Charged 0 balance(s); 0 card(s) declined")
    assert fake.charged == [(good.reference, 497_000 - DEPOSIT)], "a paid balance is never charged twice"
    assert emails_to("balance_charge_failed") == ["declined@example.org"]


def test_offer_seats_offers_a_cohorts_free_seats_to_its_waitlist(runner):
    cohort = make_cohort(1)
    book(cohort, "booked@example.org")
    services.join_waitlist(cohort_id=cohort.id, screening_token=eligible_token(),
                           applicant=APPLICANT | {"email": "waiting@example.org"})
    assert run(runner, "offer-seats", "--cohort", str(cohort.id)) == \
        f"Offered 0 seat(s) to the waitlist of cohort {cohort.id}.\n"
    db.session.get(Cohort, cohort.id).capacity = 2
    db.session.commit()
    assert run(runner, "offer-seats", "--cohort", str(cohort.id)) == \
        f"Offered 1 seat(s) to the waitlist of cohort {cohort.id}.\n"
    assert emails_to("waitlist_offer") == ["waiting@example.org"]


def test_offer_seats_refuses_an_unknown_cohort(runner):
    unknown = runner.invoke(args=["bookings", "offer-seats", "--cohort", "98765"])
    assert unknown.exit_code == 1 and "There is no such cohort." in unknown.output
    out_of_range = runner.invoke(args=["bookings", "offer-seats", "--cohort", str(2**40)])
    assert out_of_range.exit_code == 2
