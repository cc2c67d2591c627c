"""Ways to pay: which plans fit, how the balance splits into monthly parts, and what a booking with each plan
holds, charges and shows (demo provider; the Stripe charges are tests/payments/test_stripe_installments.py)."""

from datetime import UTC, date, datetime, timedelta

import pytest
import sqlalchemy as sa
import time_machine
from hypothesis import given
from hypothesis import strategies as st

from retreat.booking import plans, services
from retreat.booking.models import Booking, PaymentScheduleItem
from retreat.core.clock import today
from retreat.core.errors import ValidationFailed
from retreat.extensions import db
from retreat.notify.models import OutboxEmail
from retreat.payments import ledger, providers
from tests.booking.support import APPLICANT, booking_body, eligible_token, make_cohort
from tests.booking.test_concurrency import race, racing_app  # noqa: F401  (racing_app: the fixture)

# The test program with a shared room: $4,970, deposit $994, balance $3,976.
TOTAL, DEPOSIT, BALANCE = 497000, 99400, 397600
PINNED = datetime(2027, 3, 10, 15, 0, tzinfo=UTC)


@pytest.fixture(autouse=True)
def pinned_clock():
    """Every test here books on PINNED (tests that move on travel from it)."""
    with time_machine.travel(PINNED, tick=False):
        yield


# --- The rules (pure) ---------------------------------------------------------------------------------------------

@pytest.mark.parametrize("on, due, balance, expected", [
    # (booking day, balance due date, balance) -> the parts' due dates, or None: no plan offered
    (date(2027, 3, 10), date(2027, 9, 1), 397600, [date(2027, 4, 10), date(2027, 5, 10), date(2027, 6, 10),
                                                   date(2027, 7, 10)]),  # at most 4
    (date(2027, 3, 10), date(2027, 5, 10), 397600, [date(2027, 4, 10), date(2027, 5, 10)]),  # last on the due date
    (date(2027, 3, 10), date(2027, 5, 9), 397600, None),  # only one month fits
    (date(2027, 3, 10), date(2027, 6, 30), 397600, [date(2027, 4, 10), date(2027, 5, 10), date(2027, 6, 10)]),
    (date(2027, 1, 31), date(2027, 4, 1), 397600, [date(2027, 2, 28), date(2027, 3, 31)]),  # short months
    (date(2028, 1, 31), date(2028, 3, 1), 397600, None),  # 29 Feb, then 31 Mar is after the due date
    (date(2027, 3, 10), date(2027, 9, 1), 300, [date(2027, 4, 10), date(2027, 5, 10), date(2027, 6, 10)]),  # $1 each
    (date(2027, 3, 10), date(2027, 9, 1), 199, None),  # two parts would be under a dollar
    (date(2027, 3, 10), date(2027, 9, 1), 0, None),  # nothing to split
    (date(2027, 3, 10), None, 397600, None),  # the whole price at booking
])
def test_when_monthly_parts_are_offered(on, due, balance, expected):
    parts = plans.installment_parts(balance, due, on)
    assert (None if parts is None else [part.due_date for part in parts]) == expected
    if parts:
        assert sum(part.amount_cents for part in parts) == balance


@pytest.mark.parametrize("total, parts, expected", [
    (397600, 4, [99400, 99400, 99400, 99400]),
    (100001, 3, [33334, 33334, 33333]),
    (200, 2, [100, 100]),
    (7, 4, [2, 2, 2, 1]),
])
def test_split_evenly_sums_exactly(total, parts, expected):
    assert plans.split_evenly(total, parts) == expected


@given(balance=st.integers(0, 5_000_000), on=st.dates(date(2026, 1, 1), date(2030, 12, 31)),
       days=st.integers(0, 400))
def test_monthly_parts_sum_to_the_balance_each_a_dollar_monthly_by_the_due_date(balance, on, days):
    due = on + timedelta(days=days)
    parts = plans.installment_parts(balance, due, on)
    fitting_months = sum(1 for months in range(1, 5) if plans.add_months(on, months) <= due)
    if parts is None:
        assert fitting_months < 2 or balance < 2 * plans.MIN_PART_CENTS
        return
    assert 2 <= len(parts) <= 4
    assert sum(part.amount_cents for part in parts) == balance
    assert all(part.amount_cents >= 100 and part.kind == "installment" for part in parts)
    assert [part.due_date for part in parts] == [plans.add_months(on, i + 1) for i in range(len(parts))]
    assert parts[-1].due_date <= due
    assert max(p.amount_cents for p in parts) - min(p.amount_cents for p in parts) <= 1
    assert len(parts) == min(fitting_months, 4, balance // 100)


# --- Bookings with each plan ----------------------------------------------------------------------------------------

def _book(cohort=None, **changes) -> Booking:
    values = dict(cohort_id=(cohort or make_cohort(starts_in_days=200)).id, screening_token=eligible_token(),
                  lodging="shared", applicant=dict(APPLICANT), policy_accepted=True)
    values.update(changes)
    return services.create_booking(**values).booking


def _pay_deposit(booking: Booking) -> None:
    services.payment_received(booking.reference, kind="deposit", amount_cents=booking.deposit_cents,
                              provider="demo", provider_reference=f"demo_deposit_{booking.reference}")


def _items(booking: Booking) -> list[PaymentScheduleItem]:
    db.session.rollback()
    return plans.items_of(booking.id)


@pytest.mark.parametrize("plan, deposit, balance, kinds", [
    (None, DEPOSIT, BALANCE, ["deposit", "balance"]),
    ("deposit", DEPOSIT, BALANCE, ["deposit", "balance"]),
    ("full", TOTAL, 0, ["deposit"]),
    ("installments", DEPOSIT, BALANCE, ["deposit", "installment", "installment", "installment", "installment"]),
])
def test_each_plan_splits_the_price(app, plan, deposit, balance, kinds):
    with time_machine.travel(PINNED, tick=False):
        booking = _book(payment_plan=plan)
        schedule = plans.schedule_of(booking)
    assert (booking.payment_plan, booking.deposit_cents, booking.balance_cents) == (plan or "deposit", deposit,
                                                                                      balance)
    assert [part.kind for part in schedule] == kinds
    assert sum(part.amount_cents for part in schedule) == TOTAL == booking.total_cents
    assert schedule[0].due_date == PINNED.date()
    assert (booking.balance_due_date is None) == (plan == "full")
    assert len(_items(booking)) == (5 if plan == "installments" else 0)
    if plan == "installments":
        assert schedule[-1].due_date <= booking.balance_due_date


@pytest.mark.parametrize("starts_in_days, provider, why", [
    (60, None, "not offered for these dates"),  # fewer than two months before the balance is due
    (10, None, "not offered for these dates"),  # the whole price at booking
    (200, "offline", "charged to a card"),  # a bank transfer cannot be charged
])
def test_installments_that_do_not_fit_are_refused_and_nothing_is_held(app, starts_in_days, provider, why):
    app.config["BANK_TRANSFER_INSTRUCTIONS"] = "Bank of Example, account 123"
    cohort = make_cohort(starts_in_days=starts_in_days)
    token = eligible_token()
    with pytest.raises(ValidationFailed) as refused:
        _book(cohort, screening_token=token, payment_plan="installments", payment_provider=provider)
    assert set(refused.value.fields) == {"payment_plan"} and why in refused.value.fields["payment_plan"][0]
    db.session.rollback()
    assert db.session.scalar(sa.select(sa.func.count()).select_from(Booking)) == 0
    assert db.session.scalar(sa.select(sa.func.count()).select_from(PaymentScheduleItem)) == 0
    assert _book(cohort, screening_token=token).status == "held"  # the pre-screen is still usable


def test_an_unknown_plan_is_refused(app):
    with pytest.raises(ValidationFailed) as refused:
        _book(payment_plan="weekly")
    assert set(refused.value.fields) == {"payment_plan"}


# --- Charging the parts (demo provider) ----------------------------------------------------------------------------

def test_parts_are_charged_when_due_once_each_and_the_last_pays_in_full(app):
    with time_machine.travel(PINNED, tick=False):
        booking = _book(payment_plan="installments")
        _pay_deposit(booking)
    parts = _items(booking)[1:]
    assert services.charge_due_installments(on=parts[0].due_date - timedelta(days=1)) == (0, 0)
    for number, part in enumerate(parts, start=1):
        with time_machine.travel(datetime.combine(part.due_date, PINNED.timetz()), tick=False):
            assert services.charge_due_installments() == (1, 0)
            assert services.charge_due_installments() == (0, 0)  # the same day again charges nothing
        received = ledger.payments_of(booking.id)
        assert [p.kind for p in received] == ["deposit"] + ["installment"] * number
        assert received[-1].amount_cents == part.amount_cents
        assert [item.status for item in _items(booking)[1:]] == ["paid"] * number + ["scheduled"] * (4 - number)
        expected = "paid_in_full" if number == len(parts) else "confirmed"
        assert db.session.get(Booking, booking.id).status == expected
    assert ledger.received_cents(booking.id) == TOTAL
    receipts = db.session.scalars(sa.select(OutboxEmail).where(OutboxEmail.to_address == APPLICANT["email"],
                                                               OutboxEmail.kind.like("receipt%"))).all()
    assert len(receipts) == 5


def test_cancelling_stops_the_parts_not_yet_due_and_refunds_by_the_policy(app):
    with time_machine.travel(PINNED, tick=False):
        booking = _book(payment_plan="installments")
        _pay_deposit(booking)
    first = _items(booking)[1]
    with time_machine.travel(datetime.combine(first.due_date, PINNED.timetz()), tick=False):
        assert services.charge_due_installments() == (1, 0)
        quote = services.cancel_booking(db.session.get(Booking, booking.id), by="applicant")
    # More than 30 days before the start: everything paid back less the $100 fee.
    assert quote.refund_cents == DEPOSIT + first.amount_cents - 10000
    assert [item.status for item in _items(booking)] == ["paid", "paid", "cancelled", "cancelled", "cancelled"]
    for item in _items(booking)[2:]:
        assert services.charge_due_installments(on=item.due_date + timedelta(days=5)) == (0, 0)
    assert len([p for p in ledger.payments_of(booking.id) if p.kind == "installment"]) == 1


def test_a_part_paid_by_hand_is_not_charged_again(app, client):
    with time_machine.travel(PINNED, tick=False):
        booking = _book(payment_plan="installments")
        _pay_deposit(booking)
    first = _items(booking)[1]
    with time_machine.travel(datetime.combine(first.due_date + timedelta(days=1), PINNED.timetz()), tick=False):
        # Not charged on its day (say the job did not run): the pay page asks for that part alone.
        assert services.next_payment(db.session.get(Booking, booking.id)) == ("installment", first.amount_cents)
        services.payment_received(booking.reference, kind="installment", amount_cents=first.amount_cents,
                                  provider="demo", provider_reference="demo_by_hand")
        assert services.charge_due_installments() == (0, 0)
    assert [item.status for item in _items(booking)][:3] == ["paid", "paid", "scheduled"]


def test_reminders_show_the_schedule_a_week_before_each_part(app):
    with time_machine.travel(PINNED, tick=False):
        booking = _book(payment_plan="installments")
        _pay_deposit(booking)
    first = _items(booking)[1]
    with time_machine.travel(datetime.combine(first.due_date - timedelta(days=7), PINNED.timetz()), tick=False):
        assert services.send_balance_reminders() == 1
        assert services.send_balance_reminders() == 0
    [email] = db.session.scalars(sa.select(OutboxEmail).where(OutboxEmail.kind == "installment_reminder")).all()
    assert "Your payment schedule" in email.body and "$994.00 (paid)" in email.body
    assert email.body.count("Monthly part $994.00 (to pay)") == 4


# --- Pages and the API ------------------------------------------------------------------------------------------

def test_the_booking_form_offers_the_plans_and_the_pay_and_manage_pages_show_the_schedule(client):
    cohort = make_cohort(starts_in_days=200)
    token = eligible_token()
    page = client.get(f"/bookings/new/{token}?cohort={cohort.id}").get_data(as_text=True)
    assert 'name="payment_plan"' in page and 'value="installments"' in page
    form = {"cohort": str(cohort.id), "lodging": "shared", **APPLICANT, "payment_plan": "installments",
            "policy_accepted": "y"}
    response = client.post(f"/bookings/new/{token}", data=form)
    assert response.status_code == 303 and "/pay" in response.location
    pay = client.get(response.location).get_data(as_text=True)
    assert "Your payment schedule" in pay and pay.count("Monthly part") == 4 and "$994.00" in pay
    manage = client.get(response.location.removesuffix("/pay")).get_data(as_text=True)
    assert "Payment schedule" in manage and manage.count("Monthly part") == 4


def test_the_booking_form_names_payment_plan_when_the_months_do_not_fit(client):
    cohort = make_cohort(starts_in_days=60)
    token = eligible_token()
    form = {"cohort": str(cohort.id), "lodging": "shared", **APPLICANT, "payment_plan": "installments",
            "policy_accepted": "y"}
    response = client.post(f"/bookings/new/{token}", data=form)
    page = response.get_data(as_text=True)
    assert response.status_code == 422 and 'href="#payment_plan-0"' in page and "not offered for these dates" in page
    assert db.session.scalar(sa.select(sa.func.count()).select_from(Booking)) == 0


def test_the_api_takes_a_plan_and_returns_the_schedule(client):
    cohort = make_cohort(starts_in_days=200)
    with time_machine.travel(PINNED, tick=False):
        response = client.post("/api/v1/bookings", json=booking_body(cohort, eligible_token(),
                                                                     payment_plan="installments"))
    assert response.status_code == 201, response.get_data(as_text=True)
    body = response.get_json()
    assert body["payment_plan"] == "installments"
    assert body["payment_schedule"][0] == {"due_date": "2027-03-10", "amount_cents": DEPOSIT, "kind": "deposit"}
    assert [item["due_date"] for item in body["payment_schedule"][1:]] == [
        "2027-04-10", "2027-05-10", "2027-06-10", "2027-07-10"]
    assert sum(item["amount_cents"] for item in body["payment_schedule"]) == body["total_cents"]
    fetched = client.get(f"/api/v1/bookings/{body['reference']}",
                         headers={"Authorization": f"Bearer {body['manage_token']}"}).get_json()
    assert (fetched["payment_plan"], fetched["payment_schedule"]) == ("installments", body["payment_schedule"])

    full = client.post("/api/v1/bookings", json=booking_body(
        make_cohort(starts_in_days=200), eligible_token(), payment_plan="full",
        applicant={**APPLICANT, "email": "sam@example.org", "phone": "+1 555 987 6543"})).get_json()
    assert (full["deposit_cents"], full["balance_cents"], full["balance_due_date"]) == (TOTAL, 0, None)
    assert full["payment"]["amount_cents"] == TOTAL
    assert [item["kind"] for item in full["payment_schedule"]] == ["deposit"]


@pytest.mark.parametrize("plan, starts_in_days", [("installments", 60), ("monthly", 200), (3, 200)])
def test_the_api_refuses_a_plan_naming_payment_plan(client, plan, starts_in_days):
    response = client.post("/api/v1/bookings", json=booking_body(make_cohort(starts_in_days=starts_in_days),
                                                                 eligible_token(), payment_plan=plan))
    assert response.status_code == 422
    assert set(response.get_json()["error"]["fields"]) == {"payment_plan"}
    assert db.session.scalar(sa.select(sa.func.count()).select_from(Booking)) == 0


def test_today_is_the_booking_day(app):
    """The schedule starts on the clinic's today (core.clock), not on a date baked into the code."""
    with time_machine.travel(PINNED + timedelta(days=40), tick=False):
        booking = _book(payment_plan="installments")
        assert plans.schedule_of(booking)[1].due_date == plans.add_months(today(), 1)


# --- Job runs racing ----------------------------------------------------------------------------------------------

def test_job_runs_racing_on_one_day_try_a_part_once(app, racing_app, monkeypatch):  # noqa: F811
    """Four runs of the job at once on a part's day, its card declining (so no payment marks it paid): the card is
    asked once, the part has one attempt, the applicant one email."""
    with time_machine.travel(PINNED, tick=False):
        booking = _book(payment_plan="installments")
        _pay_deposit(booking)
    first = _items(booking)[1]
    asked = []

    class Declining:
        def charge_saved_card(self, payer, cents, *, kind, key):
            asked.append(key)
            raise providers.CardDeclined("Your card was declined.")

    monkeypatch.setattr(providers, "provider", lambda name: Declining())
    with time_machine.travel(datetime.combine(first.due_date, PINNED.timetz()), tick=True):
        outcomes = race(racing_app, [services.charge_due_installments] * 4)
    assert sorted(outcomes) == [(0, 0)] * 3 + [(0, 1)], outcomes
    assert len(asked) == 1 and asked[0].endswith(f"-installment-{first.id}-attempt-1")
    item = _items(booking)[1]
    assert (item.attempts, item.status, item.last_attempt_on) == (1, "scheduled", first.due_date)
    assert db.session.scalar(sa.select(sa.func.count()).select_from(OutboxEmail).where(
        OutboxEmail.kind == "installment_charge_failed")) == 1
