"""The policy before the money (issue 12): the cancellation and refund policy from its one source
(booking/policy.py) on the program page, the booking form (accepted there, and recorded), the payment page and the
"seat held" email; a cohort starting within 14 days takes the whole price at booking; and one rule for what a
booking owes (booking.payments.owed_cents), the same figure on every page that shows it."""

import re
from datetime import timedelta

import pytest
import sqlalchemy as sa
import time_machine

from retreat.booking import jobs, policy, services
from retreat.booking.models import BOOKING_STATUSES, Booking
from retreat.booking.policy import RefundTier
from retreat.core.clock import now, today
from retreat.extensions import db
from retreat.notify.models import OutboxEmail
from retreat.payments import providers
from tests.booking.support import APPLICANT, eligible_token, make_cohort
from tests.booking.test_booking_pages import book, booked, booking_count, manage_token_of
from tests.pricing.test_estimate_pages import parse

TOTAL, DEPOSIT = 497_000, 99_400  # the seven-day program of tests.booking.support, shared room
ACCEPT_LABEL = "I have read the cancellation and refund policy above, and I accept it"


def cents_of(text: str) -> int:
    """`$3,976` or `$3,976.00` -> 397600."""
    match = re.fullmatch(r"(-?)\$([\d,]+)(?:\.(\d\d))?", text.strip())
    assert match, text
    return (-1 if match[1] else 1) * (int(match[2].replace(",", "")) * 100 + int(match[3] or 0))


def assert_shows_the_policy(text: str) -> None:
    for point in policy.policy_points():
        assert point in text, point
    assert f"Policy version {policy.POLICY_VERSION}" in text or f"policy version {policy.POLICY_VERSION}" in text


# --- The policy: one source, its words written from its rules ---------------------------------------------------

def test_the_public_policy_is_its_rules_and_words_written_from_them():
    public = policy.public_policy()
    assert set(public) == {"version", "text", "rules"} and public["version"] == policy.POLICY_VERSION
    assert public["rules"] == [{"min_days_before_start": t.min_days_before_start, "refund_percent": t.percent,
                                "fee_cents": t.fee_cents} for t in policy.APPLICANT_CANCELLATION_TIERS]
    assert public["text"] == (
        "If you cancel 30 days or more before the start, we refund everything you paid, less a $100 administrative "
        "fee. If you cancel 14 to 29 days before the start, we refund half of what you paid. If you cancel fewer "
        "than 14 days before the start, there is no refund. If a clinician declines your booking after review, or "
        "the clinic cancels your dates, we refund everything you paid.")


def test_other_rules_give_other_words_and_the_same_refunds(monkeypatch):
    monkeypatch.setattr(policy, "APPLICANT_CANCELLATION_TIERS",
                        (RefundTier(45, 80, 50_00), RefundTier(10, 25, 0), RefundTier(0, 0, 0)))
    assert policy.public_policy()["text"].startswith(
        "If you cancel 45 days or more before the start, we refund 80% of what you paid, less a $50 administrative "
        "fee. If you cancel 10 to 44 days before the start, we refund 25% of what you paid. If you cancel fewer "
        "than 10 days before the start, there is no refund.")
    assert [rule["min_days_before_start"] for rule in policy.public_policy()["rules"]] == [45, 10, 0]
    assert policy.applicant_cancellation_refund(100_000, 50).refund_cents == 80_000 - 50_00
    assert policy.applicant_cancellation_refund(100_000, 44).rule == (
        "10 to 44 days before the start: 25% of what was paid")


# --- Shown before the money ---------------------------------------------------------------------------------------

def test_the_policy_is_on_the_program_page_the_booking_form_the_payment_page_and_the_seat_held_email(client):
    cohort = make_cohort(3)
    program = parse(client.get(f"/programs/{cohort.program.slug}"))
    assert_shows_the_policy(program.by_id("cancellation-policy").text())

    token = eligible_token()
    form = parse(client.get(f"/bookings/new/{token}?cohort={cohort.id}"))
    assert_shows_the_policy(form.find("form", class_="booking-form").text())
    box = form.find("input", name="policy_accepted")
    assert box["type"] == "checkbox" and "checked" not in box.attrs and "required" in box.attrs
    assert form.find("label", for_=box["id"]).text() == ACCEPT_LABEL

    response = book(client, token, cohort)
    assert response.status_code == 303 and response.headers["Location"].endswith("/pay")
    pay_page = parse(client.get(response.headers["Location"]))
    assert_shows_the_policy(pay_page.by_id("cancellation-policy").text())

    held = db.session.scalars(sa.select(OutboxEmail).where(OutboxEmail.kind == "booking_held")).one()
    assert_shows_the_policy(held.body)


def test_booking_needs_the_box_ticked_and_records_the_version_and_when(client):
    cohort = make_cohort(3)
    token = eligible_token()
    refused = book(client, token, cohort, policy_accepted=None)
    assert refused.status_code == 422 and booking_count() == 0
    page = parse(refused)
    assert (f"{ACCEPT_LABEL}: Read and accept the cancellation and refund policy to book."
            in page.find("div", class_="error-summary").text())
    box = page.find("input", name="policy_accepted")
    assert box["aria-invalid"] == "true" and "checked" not in box.attrs
    assert page.find("input", name="first_name")["value"] == APPLICANT["first_name"]  # the rest is kept

    kept = parse(book(client, token, cohort, email="nope"))  # ticked, another field refused: still ticked
    assert "checked" in kept.find("input", name="policy_accepted").attrs
    assert "policy_accepted" not in str(kept.find("div", class_="error-summary").text())

    moment = now()
    with time_machine.travel(moment, tick=False):
        response = book(client, token, cohort)
    assert response.status_code == 303
    booking = services.booking_by_manage_token(manage_token_of(response))
    assert (booking.policy_version, booking.policy_accepted_at) == (policy.POLICY_VERSION, moment)


def test_the_staff_booking_page_shows_the_policy_accepted(client, login_as):
    booking, _ = booked(client)
    login_as("coordinator")
    page = parse(client.get(f"/staff/bookings/{booking.reference}"))
    facts = {div.find("dt").text(): div.find("dd").text() for div in page.find_all("div")
             if div.find("dt") is not None and div.find("dd") is not None}
    assert facts["Cancellation policy"].startswith(f"version {policy.POLICY_VERSION}, accepted ")


# --- Within 14 days of the start: the whole price at booking ----------------------------------------------------

@pytest.mark.parametrize(("starts_in_days", "deposit", "balance_due_in_days"), [
    (1, TOTAL, None), (13, TOTAL, None), (14, TOTAL, None),  # the balance would be due today or before
    (15, DEPOSIT, 1), (60, DEPOSIT, 46),
])
def test_a_cohort_starting_within_the_balance_days_takes_the_whole_price(app, starts_in_days, deposit,
                                                                        balance_due_in_days):
    with time_machine.travel("2027-03-10T23:30:00Z", tick=False):  # late in the day, in UTC and in the clinic
        cohort = make_cohort(3, starts_in_days=starts_in_days)
        booking = services.create_booking(policy_accepted=True, cohort_id=cohort.id, lodging="shared",
                                          screening_token=eligible_token(), applicant=dict(APPLICANT),
                                          save_card=True, payment_provider=None).booking
        assert (booking.total_cents, booking.deposit_cents, booking.balance_cents) == (TOTAL, deposit, TOTAL - deposit)
        due = None if balance_due_in_days is None else today() + timedelta(days=balance_due_in_days)
        assert booking.balance_due_date == due
        assert services.next_payment(booking) == ("deposit", deposit)


def test_the_whole_price_booking_is_paid_in_full_and_never_reminded_or_charged_again(client):
    cohort = make_cohort(3, starts_in_days=10)
    form = parse(client.get(f"/bookings/new/{eligible_token()}?cohort={cohort.id}"))
    assert "starts soon: the whole price is paid when you book" in form.find("fieldset", id="cohort").text()
    assert "balance due" not in form.find("fieldset", id="cohort").text()

    booking, token = booked(client, cohort)
    pay_page = parse(client.get(f"/bookings/manage/{token}/pay"))
    assert pay_page.find("h1").text() == "Pay the whole price: $4,970"
    totals = pay_page.find("dl", class_="totals").text()
    assert "Balance None Your dates start soon, so the whole price is paid now." in totals
    assert "Due by" not in pay_page.text()
    held = db.session.scalars(sa.select(OutboxEmail).where(OutboxEmail.kind == "booking_held")).one()
    assert "the whole price is paid now: there is no balance to pay later" in held.body

    services.payment_received(booking.reference, kind="deposit", amount_cents=TOTAL, provider="demo",
                              provider_reference=providers.DemoProvider.new_reference())
    booking = db.session.get(Booking, booking.id)
    assert booking.status == "paid_in_full" and services.outstanding_cents(booking) == 0
    manage = parse(client.get(f"/bookings/manage/{token}"))
    assert "The whole price was due at booking." in manage.find("dl", class_="totals").text()
    assert "Pay the" not in manage.find("p", class_="actions").text()  # (the checklist has the balance done)
    for day in range(0, 12):
        assert jobs.send_balance_reminders(today() + timedelta(days=day)) == 0
        assert jobs.charge_due_balances(today() + timedelta(days=day)) == (0, 0)


# --- One rule for what is owed ---------------------------------------------------------------------------------

RECEIVED = {"nothing": 0, "deposit": DEPOSIT, "all": TOTAL}
# status, what was received, whether the hold lapsed -> owed. Holding a live seat or having one owes the total
# less what was received; cancelled, declined, expired and a lapsed hold owe nothing.
OWED_CASES = [
    *[(status, received, False, TOTAL - RECEIVED[received])
      for status in ("held", "pending_review", "confirmed", "paid_in_full") for received in RECEIVED],
    *[(status, received, False, 0) for status in ("cancelled", "declined", "expired") for received in RECEIVED],
    *[(status, received, True, 0) for status in ("held", "pending_review") for received in RECEIVED],
]


@pytest.mark.parametrize(("status", "received", "lapsed", "owed"), OWED_CASES)
def test_what_a_booking_owes_by_status_and_payments(status, received, lapsed, owed):
    moment = now()
    hold = moment + (timedelta(minutes=-1) if lapsed else timedelta(minutes=30))
    assert services.owed_cents(status=status, total_cents=TOTAL, received_cents=RECEIVED[received],
                               hold_expires_at=hold, at=moment) == owed


def test_every_status_is_in_the_table():
    assert {case[0] for case in OWED_CASES} == set(BOOKING_STATUSES)


def _owed_on_every_page(client, booking: Booking, token: str) -> dict[str, int | None]:
    """The owed figure each page shows for the booking (None: the page does not list it, as owing nothing)."""
    reference = booking.reference
    found = {}
    manage = parse(client.get(f"/bookings/manage/{token}"))
    found["manage page"] = cents_of(manage.find("dd", data_owed=reference).text())
    listing = parse(client.get(f"/staff/bookings?q={reference}"))
    found["staff bookings list"] = cents_of(listing.find("td", data_owed=reference).text())
    detail = parse(client.get(f"/staff/bookings/{reference}"))
    found["staff booking page"] = cents_of(detail.find("dd", data_total="owed").text())
    roster = parse(client.get(f"/staff/cohorts/{booking.cohort_id}/roster"))
    found["cohort roster"] = cents_of(roster.find("td", data_owed=reference).text())
    finance = parse(client.get(f"/staff/finance/bookings/{reference}"))
    found["finance booking page"] = cents_of(finance.find("dd", data_total="owed").text())
    close = parse(client.get("/staff/finance/close"))
    row = close.find("td", data_owed=reference)
    found["month close"] = cents_of(row.text()) if row is not None else 0
    api = client.get(f"/api/v1/bookings/{reference}", headers={"Authorization": f"Bearer {token}"}).get_json()
    found["API owed_cents"] = api["owed_cents"]
    if api["payment"].get("kind") == "balance":
        found["API balance due now"] = api["payment"]["amount_cents"]
    return found


@pytest.mark.parametrize(("state", "owed"), [
    ("held", TOTAL), ("confirmed", TOTAL - DEPOSIT), ("paid_in_full", 0), ("cancelled after the deposit", 0),
    ("lapsed hold", 0), ("expired", 0), ("declined", 0),
])
def test_every_page_shows_the_same_owed_figure(client, login_as, state, owed):
    booking, token = booked(client, make_cohort(3, starts_in_days=60))
    if state in ("confirmed", "paid_in_full", "cancelled after the deposit"):
        services.payment_received(booking.reference, kind="deposit", provider="demo", provider_reference="demo_1",
                                  amount_cents=TOTAL if state == "paid_in_full" else DEPOSIT)
    if state == "cancelled after the deposit":
        services.cancel_booking(db.session.get(Booking, booking.id))
    booking = db.session.get(Booking, booking.id)
    if state == "lapsed hold":
        booking.hold_expires_at = now() - timedelta(minutes=1)
    elif state in ("expired", "declined"):
        booking.status = state
    db.session.commit()
    login_as("admin")
    shown = _owed_on_every_page(client, booking, token)
    assert shown == dict.fromkeys(shown, owed), shown
    assert services.outstanding_cents(db.session.get(Booking, booking.id)) == owed
