"""The applicant's booking pages with the test client: choosing dates, the booking form and its refusals, a full
cohort's waitlist, pre-screens that may not book, the manage page per status, paying (demo, bank transfer, the
Stripe page), cancelling with the policy's refund, and the calendar file.

Expected figures come from domain/pricing.md (the $4,970 program: deposit $994, balance $3,976 due 14 days before
the start; cancelling 30+ days before refunds what was paid less $100, 14-29 days half, under 14 nothing), not
from the code under test.
"""

import re
from datetime import timedelta
from zoneinfo import ZoneInfo

import pytest
import sqlalchemy as sa
from icalendar import Calendar

from retreat.booking import policy, services
from retreat.booking.models import Booking, WaitlistEntry
from retreat.catalog.models import Cohort
from retreat.core.clock import now, today
from retreat.extensions import db
from retreat.payment_events import stripe as stripe_events
from retreat.payments import ledger, providers, stripe_provider
from retreat.payments.models import Payment
from retreat.screening import early
from retreat.screening import services as screening_services
from retreat.screening.models import Screening
from retreat.web.filters import long_date
from tests.booking.support import (
    APPLICANT,
    eligible_token,
    ineligible_token,
    make_cohort,
    make_program,
    review_token,
)
from tests.pricing.test_estimate_pages import parse
from tests.support.localstripe import (  # noqa: F401  (localstripe: the session fixture)
    API_KEY,
    PUBLISHABLE_KEY,
    localstripe,
)

TOTAL, DEPOSIT, BALANCE = "$4,970", "$994", "$3,976"


def form_for(cohort, **changes) -> dict:
    data = {"cohort": str(cohort.id), "lodging": "shared", **APPLICANT, "policy_accepted": "y"}
    data.update(changes)
    return {name: value for name, value in data.items() if value is not None}


def book(client, token, cohort, **changes):
    return client.post(f"/bookings/new/{token}", data=form_for(cohort, **changes))


def manage_token_of(response) -> str:
    location = response.headers["Location"]
    match = re.fullmatch(r"(?:http://localhost)?/bookings/manage/([A-Za-z0-9_\-]+)(/pay)?", location)
    assert match, location
    return match.group(1)


def booked(client, cohort=None, token=None, **changes) -> tuple[Booking, str]:
    """Book a seat through the page: the booking and its manage token."""
    cohort = cohort or make_cohort()
    response = book(client, token or eligible_token(), cohort, **changes)
    assert response.status_code == 303, response.get_data(as_text=True)[:3000]
    manage = manage_token_of(response)
    return services.booking_by_manage_token(manage), manage


def only_booking() -> Booking:
    return db.session.scalars(sa.select(Booking)).one()


def booking_count() -> int:
    return db.session.scalar(sa.select(sa.func.count()).select_from(Booking))


def links(page) -> list[str]:
    return [a["href"] for a in page.find_all("a") if "href" in a.attrs]


def link_texts(page) -> list[str]:
    return [a.text() for a in page.find_all("a")]


def label_of(page, control_id: str) -> str:
    return page.find("label", for_=control_id).text()


def assert_private(response) -> None:
    assert response.headers["Cache-Control"] == "no-store"
    assert response.headers["Referrer-Policy"] == "no-referrer"


def fill_cohort(cohort, seats: int | None = None) -> None:
    """Take the cohort's seats with confirmed bookings made through the services."""
    for number in range(seats if seats is not None else cohort.capacity):
        created = services.create_booking(policy_accepted=True, 
            cohort_id=cohort.id, screening_token=eligible_token(), lodging="shared",
            applicant={**APPLICANT, "email": f"other{number}@example.org"})
        services.payment_received(created.booking.reference, kind="deposit", amount_cents=created.booking.deposit_cents,
                                  provider="demo", provider_reference=f"demo_fill_{cohort.id}_{number}")


# --- Choosing dates --------------------------------------------------------------------------------------------

def test_the_dates_page_lists_open_and_full_cohorts_with_prices(client):
    program = make_program()
    open_cohort = make_cohort(4, starts_in_days=60, program=program)
    full_cohort = make_cohort(1, starts_in_days=90, program=program)
    fill_cohort(full_cohort)
    make_cohort(4, starts_in_days=0, program=program)  # starts today: too late to book
    unpublished = make_cohort(4, program=make_program(published=False))
    token = eligible_token()

    response = client.get(f"/bookings/new/{token}")
    assert response.status_code == 200
    assert_private(response)
    assert '<meta name="referrer" content="no-referrer">' in response.get_data(as_text=True)
    page = parse(response)
    assert page.find("h1").text() == "Choose your dates"
    section = page.find("section", class_="panel offer")
    assert section.find("h2").text() == program.name
    prices = {div.find("dt").text(): div.find("dd").text() for div in section.find("dl").find_all("div")}
    assert prices == {"No lodging (I'll arrange my own)": "$4,250", "Shared room": TOTAL, "Private room": "$5,390"}
    hrefs = links(page)
    assert f"/bookings/new/{token}?cohort={open_cohort.id}" in hrefs
    assert f"/bookings/new/{token}?cohort={full_cohort.id}" in hrefs
    assert not any(f"cohort={unpublished.id}" in href for href in hrefs)
    assert len([href for href in hrefs if "?cohort=" in href]) == 2
    full_row = next(li for li in page.find_all("li") if f"cohort={full_cohort.id}" in str(links(li)))
    assert "Full" in full_row.text() and "Join the waitlist for " in full_row.text()
    open_row = next(li for li in page.find_all("li") if f"cohort={open_cohort.id}" in str(links(li)))
    assert "4 seats left" in open_row.text() and "Choose " in open_row.text()


def test_a_chosen_cohort_shows_the_form_with_the_price_deposit_balance_and_due_date(client):
    program = make_program(lodging_options=["none", "shared"])
    later = make_cohort(5, starts_in_days=90, program=program)
    cohort = make_cohort(5, starts_in_days=60, program=program)
    token = eligible_token()

    response = client.get(f"/bookings/new/{token}?cohort={cohort.id}")
    assert response.status_code == 200
    assert_private(response)
    page = parse(response)
    form = page.find("form", class_="booking-form")
    assert form["action"] == f"/bookings/new/{token}"
    cohorts = form.find_all("input", name="cohort")
    assert [c["value"] for c in cohorts] == [str(cohort.id), str(later.id)]
    assert ["checked" in c.attrs for c in cohorts] == [True, False]
    due = long_date(cohort.start_date - timedelta(days=14))
    assert f"balance due {due}" in label_of(page, cohorts[0]["id"])
    lodgings = form.find_all("input", name="lodging")
    assert [c["value"] for c in lodgings] == ["none", "shared"]  # the program offers no private room
    shared = label_of(page, lodgings[1]["id"])
    assert f"{TOTAL} in all: {DEPOSIT} deposit to hold your seat, then a balance of {BALANCE}" in shared
    assert "checked" in lodgings[1].attrs
    for name, autocomplete in (("first_name", "given-name"), ("last_name", "family-name"), ("email", "email"),
                               ("phone", "tel")):
        control = form.find("input", name=name)
        assert control["autocomplete"] == autocomplete and label_of(page, control["id"])
    assert form.find("input", type="email")["name"] == "email"
    # Demo is the only provider here: no payment method to choose and no card to keep.
    assert form.find("input", name="payment_provider") is None and form.find("input", name="save_card") is None
    assert "We hold your seat for 30 minutes while you pay the deposit" in page.text()
    assert form.find("button").text() == "Hold my seat and continue to payment"


def test_booking_holds_the_seat_at_the_frozen_price_and_goes_to_the_payment_page(client):
    cohort = make_cohort(5, starts_in_days=60)
    token = eligible_token()
    response = book(client, token, cohort)
    assert response.status_code == 303
    assert response.headers["Location"].endswith("/pay")
    booking = only_booking()
    assert (booking.status, booking.cohort_id, booking.lodging) == ("held", cohort.id, "shared")
    assert (booking.total_cents, booking.deposit_cents, booking.balance_cents) == (497000, 99400, 397600)
    assert booking.balance_due_date == cohort.start_date - timedelta(days=14)
    assert services.booking_by_manage_token(manage_token_of(response)).id == booking.id
    assert (booking.applicant_first_name, booking.applicant_email) == ("Alex", "alex@example.org")

    again = book(client, token, cohort)  # the pre-screen books once
    assert again.status_code == 410
    assert "This pre-screen was used already" in parse(again).text()
    assert booking_count() == 1


def test_refused_fields_are_named_in_a_summary_and_next_to_each_field(client):
    program = make_program(lodging_options=["none", "shared"])
    cohort = make_cohort(5, program=program)
    response = book(client, eligible_token(), cohort, first_name="  ", last_name=None, email="alex@", phone="12",
                    lodging="private")
    assert response.status_code == 422
    assert_private(response)
    page = parse(response)
    assert re.match(r"There is a problem: ", response.get_data(as_text=True).split("<title>")[1])
    summary = page.find("div", class_="error-summary")
    assert summary["role"] == "alert"
    items = [li.text() for li in summary.find_all("li")]
    assert items == [
        "Where will you stay?: Choose one of: none, shared.",
        "First name: Enter your first name.",
        "Last name: Enter your last name.",
        "Email address: Enter an email address like name@example.com.",
        "Phone number: Enter a phone number with its area code, for example 555 123 4567.",
    ]
    targets = [a["href"] for a in summary.find_all("a")]
    assert targets == ["#lodging-0", "#first_name", "#last_name", "#email", "#phone"]
    for name in ("first_name", "last_name", "email", "phone"):
        control = page.find("input", name=name)
        assert control["aria-invalid"] == "true"
        assert f"{name}-error" in control["aria-describedby"].split()
        assert page.by_id(f"{name}-error").text()
    assert page.find("input", name="email")["value"] == "alex@"  # what was typed stays
    assert booking_count() == 0


def test_a_cohort_that_fills_before_sending_offers_its_waitlist(client):
    cohort = make_cohort(1, starts_in_days=60)
    token = eligible_token()
    assert client.get(f"/bookings/new/{token}?cohort={cohort.id}").status_code == 200
    fill_cohort(cohort)

    response = book(client, token, cohort, lodging="private")
    assert response.status_code == 409
    assert "<title>Those dates are full: " in response.get_data(as_text=True)
    page = parse(response)
    waitlist = page.by_id("waitlist")
    assert waitlist.find("h2").text().endswith("has just filled up")
    assert "Nothing was held or charged." in waitlist.text()
    form = waitlist.find("form")
    assert form["action"] == f"/bookings/new/{token}/waitlist"
    carried = {i["name"]: i["value"] for i in form.find_all("input", type="hidden")}
    assert carried["cohort"] == str(cohort.id) and carried["lodging"] == "private"
    assert carried["email"] == APPLICANT["email"]
    assert form.find("button").text().startswith("Join the waitlist for ")
    assert booking_count() == 1  # the other applicant's

    joined = client.post(f"/bookings/new/{token}/waitlist", data=carried)
    assert joined.status_code == 200
    assert_private(joined)
    assert "number 1 in line" in parse(joined).text()
    entry = db.session.scalars(sa.select(WaitlistEntry)).one()
    assert (entry.cohort_id, entry.lodging, entry.status) == (cohort.id, "private", "waiting")

    second = eligible_token()
    page = parse(client.get(f"/bookings/new/{second}?cohort={cohort.id}"))
    assert page.find("h1").text().startswith("Join the waitlist")
    form = page.find("form", class_="booking-form")
    data = {"cohort": str(cohort.id), "lodging": "shared", **APPLICANT, "email": "sam@example.org"}
    assert form.find("input", name="cohort")["value"] == str(cohort.id)
    assert "number 2 in line" in parse(client.post(f"/bookings/new/{second}/waitlist", data=data)).text()
    refused = client.post(f"/bookings/new/{eligible_token()}/waitlist", data={**data, "email": "nope"})
    assert refused.status_code == 422
    assert "Email address: Enter an email address like name@example.com." in parse(refused).text()


def _crisis_token() -> str:
    token = eligible_token()
    screening = db.session.scalars(sa.select(Screening).order_by(Screening.id.desc())).first()
    screening.outcome = "crisis"
    db.session.commit()
    return token


def _declined_token() -> str:
    token = review_token()
    screening = db.session.scalars(sa.select(Screening).order_by(Screening.id.desc())).first()
    screening.review_status = "declined"
    db.session.commit()
    return token


@pytest.mark.parametrize("make_token", [ineligible_token, _crisis_token, _declined_token],
                         ids=["ineligible", "crisis", "declined"])
def test_a_pre_screen_that_may_not_book_gets_a_kind_page_with_no_booking_or_payment_path(client, make_token):
    cohort = make_cohort()
    token = make_token()
    for response in (client.get(f"/bookings/new/{token}"), client.get(f"/bookings/new/{token}?cohort={cohort.id}"),
                     book(client, token, cohort),
                     client.post(f"/bookings/new/{token}/waitlist", data=form_for(cohort))):
        assert response.status_code == 403
        assert_private(response)
        page = parse(response)
        assert page.find("form") is None
        assert all(href.startswith(("tel:", "sms:", "https://988lifeline.org", "#", "mailto:hello@cedarhouse.example"))
                   for href in links(page)), links(page)
        assert not re.search(r"\b(pay|deposit|choose)\b", page.text(), re.I)
    html = client.get(f"/bookings/new/{token}").get_data(as_text=True)
    anywhere = set(re.findall(r'<a [^>]*href="([^"]*)"', html))  # header and footer too: no way to the catalog
    assert anywhere <= {"#main", "tel:988", "sms:988", "https://988lifeline.org", "tel:911",
                        "tel:+18285550142", "mailto:hello@cedarhouse.example"}, anywhere  # the clinic: no way on
    if make_token is _crisis_token:
        assert parse(client.get(f"/bookings/new/{token}")).find("h1").text().startswith("Please reach out now")
    assert booking_count() == 0 and db.session.scalar(sa.select(sa.func.count()).select_from(WaitlistEntry)) == 0


def test_unknown_tokens_are_404_on_every_booking_page(client):
    make_cohort()
    for url in ("/bookings/new/not-a-token", "/bookings/manage/" + "x" * 43, "/bookings/manage/short",
                "/bookings/manage/" + "x" * 43 + "/pay", "/bookings/manage/" + "x" * 43 + "/cancel",
                "/bookings/manage/" + "x" * 43 + "/calendar.ics", "/bookings/manage/" + "x" * 43 + "/paid"):
        response = client.get(url)
        assert response.status_code == 404, url
        assert_private(response)
    for url in ("/bookings/manage/" + "x" * 43 + "/pay", "/bookings/manage/" + "x" * 43 + "/cancel"):
        assert client.post(url).status_code == 404


def test_an_expired_pre_screen_asks_to_take_it_again(client):
    cohort = make_cohort()
    token = eligible_token()
    screening = db.session.scalars(sa.select(Screening)).one()
    screening.expires_at = now() - timedelta(seconds=1)
    db.session.commit()
    response = book(client, token, cohort)
    assert response.status_code == 410
    page = parse(response)
    assert page.find("h1").text() == "Your pre-screen has expired"
    assert "/screening/" in links(page)
    assert booking_count() == 0


def test_a_review_pre_screen_requests_a_seat_once_a_review_is_asked_for(client):
    cohort = make_cohort()
    token = review_token()
    first = client.get(f"/bookings/new/{token}?cohort={cohort.id}")
    assert first.status_code == 200
    page = parse(first)
    assert page.find("h1").text() == "A clinician needs to review your pre-screen first"
    assert f"/screening/result/{token}#review-request" in links(page)
    assert page.find("form") is None

    screening = db.session.scalars(sa.select(Screening)).one()
    screening.review_status = "pending"
    db.session.commit()
    page = parse(client.get(f"/bookings/new/{token}?cohort={cohort.id}"))
    assert page.find("h1").text().startswith("Request a seat")
    assert "Nothing is charged until they approve." in page.text()
    assert page.find("form", class_="booking-form").find("button").text() == "Request this seat"

    response = book(client, token, cohort)
    assert response.status_code == 303 and not response.headers["Location"].endswith("/pay")
    booking = only_booking()
    assert booking.status == "pending_review"
    manage = parse(client.get(response.headers["Location"]))
    assert "Your seat is held while a clinician reviews your pre-screen" in manage.text()
    assert not any(href.endswith("/pay") for href in links(manage))
    nothing_due = client.get(response.headers["Location"] + "/pay")
    assert nothing_due.status_code == 303 and nothing_due.headers["Location"].endswith(manage_token_of(response))


# --- The manage page, per status -------------------------------------------------------------------------------

PAY_DEPOSIT, PAY_BALANCE, CANCEL, CALENDAR = "Pay the deposit", "Pay the balance", "Cancel this booking", \
    "Add the dates to my calendar (.ics)"


@pytest.mark.parametrize(("status", "hold_lapsed", "heading", "actions", "owed"), [
    ("held", False, "Your seat is held", [f"{PAY_DEPOSIT} ($994)", CALENDAR, CANCEL], TOTAL),
    ("held", True, "The hold on your seat has lapsed", [], "$0"),
    ("pending_review", False, "Your seat is held while a clinician reviews your pre-screen", [CALENDAR, CANCEL],
     TOTAL),
    ("confirmed", False, "Your booking is confirmed", [f"{PAY_BALANCE} ($3,976)", CALENDAR, CANCEL], BALANCE),
    ("paid_in_full", False, "Your booking is confirmed and paid in full", [CALENDAR, CANCEL], "$0"),
    ("cancelled", False, "This booking is cancelled", [], "$0"),
    ("declined", False, "A clinician has decided this program is not right for you at this time", [], "$0"),
    ("expired", False, "The hold on your seat has lapsed", [], "$0"),
])
def test_the_manage_page_says_the_status_in_words_and_offers_what_it_allows(client, status, hold_lapsed, heading,
                                                                           actions, owed):
    booking, token = booked(client)
    if status in ("confirmed", "paid_in_full"):
        services.payment_received(booking.reference, kind="deposit", provider="demo", provider_reference="demo_1",
                                  amount_cents=booking.deposit_cents if status == "confirmed" else booking.total_cents)
    booking = db.session.get(Booking, booking.id)
    booking.status = status
    if hold_lapsed:
        booking.hold_expires_at = now() - timedelta(minutes=1)
    db.session.commit()

    response = client.get(f"/bookings/manage/{token}")
    assert response.status_code == 200
    assert_private(response)
    page = parse(response)
    assert page.find("h1").text() == f"Your booking {booking.reference}"
    assert page.by_id("status-heading").text() == heading
    shown = [a.text() for a in page.find("p", class_="actions").find_all("a")] if actions else []
    assert shown == actions
    assert page.find("p", class_="actions") is not None or not actions
    totals = {div.find("dt").text(): div.find("dd").text() for div in page.find("dl", class_="totals").find_all("div")}
    assert (totals["Total"], totals["Deposit"], totals["Balance"]) == (TOTAL, DEPOSIT, BALANCE)
    assert totals["Still to pay"] == owed  # services.owed_cents: nothing once cancelled, declined or lapsed
    due = f"Due by {long_date(booking.balance_due_date)}"
    assert (due in page.text()) == (owed != "$0"), "a balance is said to be due only while something is owed"
    assert booking.cohort.program.name in page.text() and "Shared room" in page.text()
    if status == "held" and not hold_lapsed:
        expiry = booking.hold_expires_at
        local = expiry.astimezone(ZoneInfo("America/New_York"))  # the testing clinic's zone
        shown = f"{long_date(local.date())}, {local.hour % 12 or 12}:{local:%M} {local:%p} {local:%Z}"
        assert f"{shown} (in about 30 minutes)" in page.text(), "the hold's end in the clinic's zone"


def test_a_booking_close_to_its_start_is_paid_whole_and_its_pages_say_so(client):
    booking, token = booked(client, make_cohort(starts_in_days=10))
    assert (booking.deposit_cents, booking.balance_cents) == (booking.total_cents, 0)
    manage = parse(client.get(f"/bookings/manage/{token}"))
    [pay_link] = [a.text() for a in manage.find("p", class_="actions").find_all("a") if a.text().startswith("Pay ")]
    assert pay_link == f"Pay the whole price ({TOTAL})"
    assert "The whole price was due at booking." in manage.text()
    pay = parse(client.get(f"/bookings/manage/{token}/pay"))
    assert pay.find("h1").text() == f"Pay the whole price: {TOTAL}"


def test_a_seat_offered_from_the_waitlist_asks_for_the_policy_before_any_payment(app, client):
    cohort = make_cohort(capacity=1)
    booked(client, cohort)
    services.join_waitlist(cohort_id=cohort.id, screening_token=eligible_token(),
                           applicant=APPLICANT | {"email": "waiting@example.org"})
    db.session.get(Cohort, cohort.id).capacity = 2
    db.session.commit()
    assert app.test_cli_runner().invoke(args=["bookings", "offer-seats", "--cohort", str(cohort.id)]).exit_code == 0
    db.session.rollback()
    offered = db.session.scalar(sa.select(Booking).where(Booking.applicant_email == "waiting@example.org"))
    assert offered.status == "held" and offered.policy_version is None
    token = services.manage_token(offered)

    page = parse(client.get(f"/bookings/manage/{token}/pay"))
    assert page.find("h1").text() == "Before you pay: the cancellation policy"
    assert page.by_id("cancellation-policy") is not None
    assert page.find("form")["action"] == f"/bookings/manage/{token}/policy"
    assert "Test payment" not in page.text(), "no way to pay before the policy is accepted"
    skipped = client.post(f"/bookings/manage/{token}/pay", data={"reference": "demo_" + "a" * 24})
    assert skipped.status_code == 303 and skipped.headers["Location"].endswith(f"/bookings/manage/{token}/pay")

    refused = client.post(f"/bookings/manage/{token}/policy", data={})
    assert refused.status_code == 422
    refused_page = parse(refused)
    assert refused_page.find("input", name="policy_accepted")["aria-invalid"] == "true"
    assert "Read and accept the cancellation and refund policy to book." in refused_page.text()
    db.session.expire_all()
    assert db.session.get(Booking, offered.id).policy_version is None and not ledger.payments_of(offered.id)

    accepted = client.post(f"/bookings/manage/{token}/policy", data={"policy_accepted": "y"})
    assert accepted.status_code == 303 and accepted.headers["Location"].endswith(f"/bookings/manage/{token}/pay")
    db.session.expire_all()
    offered = db.session.get(Booking, offered.id)
    assert offered.policy_version == policy.POLICY_VERSION and offered.policy_accepted_at is not None
    pay_page = parse(client.get(f"/bookings/manage/{token}/pay"))
    assert pay_page.find("h1").text() == f"Pay the deposit: ${offered.deposit_cents // 100:,}"
    assert "Test payment" in pay_page.text()


# --- Paying ----------------------------------------------------------------------------------------------------

def test_a_demo_payment_confirms_the_booking_once(client):
    booking, token = booked(client)
    page_response = client.get(f"/bookings/manage/{token}/pay")
    assert page_response.status_code == 200
    assert_private(page_response)
    page = parse(page_response)
    assert page.find("h1").text() == f"Pay the deposit: {DEPOSIT}"
    form = page.find("form")
    assert form["action"] == f"/bookings/manage/{token}/pay"
    assert form.find("button").text() == "Test payment — no money moves (demo mode)"
    assert "no money moves" in page.find("p", class_="notice").text()
    assert not page.find_all("script")
    fields = {i["name"]: i["value"] for i in form.find_all("input", type="hidden")}
    assert fields["kind"] == "deposit" and fields["amount_cents"] == "99400"

    paid = client.post(f"/bookings/manage/{token}/pay", data=fields)
    assert paid.status_code == 303 and paid.headers["Location"].endswith(f"/bookings/manage/{token}")
    manage = parse(client.get(paid.headers["Location"]))
    assert manage.by_id("status-heading").text() == "Your booking is confirmed"
    assert "Thank you: your test payment of $994 is received." in manage.text()
    row = manage.find("table", class_="payments").find("tbody").find("tr")
    assert "Deposit" in row.text() and row.find("td", class_="num").text() == "$994.00"

    again = client.post(f"/bookings/manage/{token}/pay", data=fields)  # the same form sent twice
    assert again.status_code == 303
    assert ledger.paid_cents(booking.id) == 99400
    stale = client.post(f"/bookings/manage/{token}/pay", data={**fields, "reference": "demo_" + "0" * 16})
    assert stale.status_code == 303 and stale.headers["Location"].endswith("/pay")  # the balance is due now
    assert ledger.paid_cents(booking.id) == 99400
    assert db.session.scalar(sa.select(sa.func.count()).select_from(Payment)) == 1

    balance = parse(client.get(f"/bookings/manage/{token}/pay"))
    assert balance.find("h1").text() == f"Pay the balance: {BALANCE}"


def test_a_lapsed_hold_cannot_be_paid(client):
    booking, token = booked(client)
    fields = {i["name"]: i["value"] for i in parse(client.get(f"/bookings/manage/{token}/pay")).find("form")
              .find_all("input", type="hidden")}
    db.session.get(Booking, booking.id).hold_expires_at = now() - timedelta(seconds=1)
    db.session.commit()
    for response in (client.get(f"/bookings/manage/{token}/pay"),
                     client.post(f"/bookings/manage/{token}/pay", data=fields)):
        assert response.status_code == 303 and response.headers["Location"].endswith(token)
    assert "The hold on this seat has lapsed" in parse(client.get(f"/bookings/manage/{token}")).text()
    assert ledger.paid_cents(booking.id) == 0


def test_bank_transfer_is_a_choice_and_its_page_shows_the_instructions_and_reference(app, client):
    app.config["BANK_TRANSFER_INSTRUCTIONS"] = "First Example Bank\nAccount 12345678\nRouting 021000021"
    cohort = make_cohort()
    token = eligible_token()
    page = parse(client.get(f"/bookings/new/{token}?cohort={cohort.id}"))
    choices = page.find_all("input", name="payment_provider")
    assert [c["value"] for c in choices] == ["demo", "offline"]
    assert label_of(page, choices[1]["id"]).startswith("Bank transfer")
    assert "5 days if you pay by bank transfer" in page.text()

    booking, manage = booked(client, cohort, token, payment_provider="offline")
    assert booking.payment_provider == "offline"
    pay_page = parse(client.get(f"/bookings/manage/{manage}/pay"))
    assert pay_page.find("h1").text() == f"Pay the deposit: {DEPOSIT}"
    assert "Account 12345678" in pay_page.find("div", class_="bank-details").text()
    assert booking.reference in pay_page.find("dl", class_="facts").text()
    assert pay_page.find("form") is None
    assert client.post(f"/bookings/manage/{manage}/pay", data={}).status_code == 409
    manage_page = parse(client.get(f"/bookings/manage/{manage}"))
    assert "How to pay the deposit ($994) by bank transfer" in link_texts(manage_page)

    refused = book(client, eligible_token(), cohort, payment_provider="cash")
    assert refused.status_code == 422
    assert "How will you pay?: Choose one of: demo, offline." in parse(refused).text()


class FakeStripe:
    """Stands in for the Stripe provider where the page, not Stripe, is under test."""

    name = "stripe"
    page_sources = stripe_provider.StripeProvider.page_sources
    started: list = []

    def start(self, booking, kind, amount_cents):
        FakeStripe.started.append((booking.reference, kind, amount_cents))
        return providers.PaymentStart("stripe", "requires_payment", amount_cents, kind,
                                      {"client_secret": "pi_123_secret_456", "publishable_key": "pk_test_789"})


def fake_confirm_from_return(booking, payment_intent_id):
    kind, cents = services.next_payment(booking)
    return services.payment_received(booking.reference, kind=kind, amount_cents=cents, provider="stripe",
                                     provider_reference=payment_intent_id)


@pytest.fixture
def stripe_configured(app, monkeypatch):
    app.config.update(STRIPE_SECRET_KEY="sk_test_12345", STRIPE_PUBLISHABLE_KEY="pk_test_789")
    real = providers.provider
    monkeypatch.setattr(providers, "provider", lambda name: FakeStripe() if name == "stripe" else real(name))
    monkeypatch.setattr(stripe_events, "confirm_from_return", fake_confirm_from_return)
    FakeStripe.started = []


def test_the_card_page_loads_stripe_and_our_script_only_there(client, stripe_configured):
    cohort = make_cohort()
    token = eligible_token()
    form_page = client.get(f"/bookings/new/{token}?cohort={cohort.id}")
    consent = parse(form_page).find("input", name="save_card")
    assert consent is not None and consent["type"] == "checkbox" and "checked" not in consent.attrs
    assert "js.stripe.com" not in form_page.headers["Content-Security-Policy"]

    booking, manage = booked(client, cohort, token, save_card="y")
    assert booking.payment_provider == "stripe" and booking.save_card_consent
    assert "stripe" not in client.get(f"/bookings/manage/{manage}").headers["Content-Security-Policy"]
    response = client.get(f"/bookings/manage/{manage}/pay")
    assert response.status_code == 200
    assert_private(response)
    html = response.get_data(as_text=True)
    scripts = re.findall(r"<script([^>]*)>(.*?)</script>", html, re.S)
    assert [attrs.split('src="')[1].split('"')[0] for attrs, _ in scripts] == [
        "https://js.stripe.com/v3/", "/static/js/pay.js"]
    assert all(body.strip() == "" for _, body in scripts)  # nothing inline: the CSP forbids it
    policy = dict(part.strip().split(" ", 1) for part in response.headers["Content-Security-Policy"].split(";"))
    assert "https://js.stripe.com" in policy["script-src"].split() and "'self'" in policy["script-src"].split()
    assert "https://js.stripe.com" in policy["frame-src"].split() and "'none'" not in policy["frame-src"]
    assert "https://api.stripe.com" in policy["connect-src"].split()
    form = parse(response).find("form", id="payment-form")
    assert form["data-client-secret"] == "pi_123_secret_456" and form["data-publishable-key"] == "pk_test_789"
    assert form["data-return-url"] == f"http://localhost/bookings/manage/{manage}/paid"
    assert "disabled" in form.find("button").attrs  # enabled by pay.js once Stripe's form is ready
    assert FakeStripe.started == [(booking.reference, "deposit", 99400)]

    back = client.get(f"/bookings/manage/{manage}/paid?payment_intent=pi_123&payment_intent_client_secret=pi_123"
                      "_secret_456&redirect_status=succeeded")
    assert back.status_code == 303 and back.headers["Location"].endswith(f"/bookings/manage/{manage}")
    assert db.session.get(Booking, booking.id).status == "confirmed"
    assert "Thank you: your payment of $994 is received." in parse(client.get(back.headers["Location"])).text()
    ignored = client.get(f"/bookings/manage/{manage}/paid?payment_intent=<script>")
    assert ignored.status_code == 303 and ledger.paid_cents(booking.id) == 99400


def test_a_card_payment_made_at_stripe_confirms_the_booking_on_return(app, client, localstripe):  # noqa: F811
    """Against localstripe with the real provider: the page's PaymentIntent, paid as the Payment Element would,
    then Stripe's return to /paid."""
    localstripe.clear()
    localstripe.stop_webhooks()
    app.config.update(STRIPE_SECRET_KEY=API_KEY, STRIPE_PUBLISHABLE_KEY=PUBLISHABLE_KEY,
                      STRIPE_API_BASE=localstripe.url)
    booking, token = booked(client)
    form = parse(client.get(f"/bookings/manage/{token}/pay")).find("form", id="payment-form")
    assert form["data-publishable-key"] == PUBLISHABLE_KEY
    intent_id = form["data-client-secret"].split("_secret_")[0]
    returned = f"/bookings/manage/{token}/paid?payment_intent={intent_id}&redirect_status="

    not_yet = client.get(returned + "processing")
    assert not_yet.status_code == 303 and not_yet.headers["Location"].endswith(token)
    assert "Your payment is being processed." in parse(client.get(not_yet.headers["Location"])).text()
    assert db.session.get(Booking, booking.id).status == "held"

    localstripe.pay(intent_id)
    paid = client.get(returned + "succeeded")
    assert paid.status_code == 303
    manage = parse(client.get(paid.headers["Location"]))
    assert manage.by_id("status-heading").text() == "Your booking is confirmed"
    assert "Thank you: your payment of $994 is received." in manage.text()
    assert client.get(returned + "succeeded").status_code == 303  # a reload records nothing twice
    assert [(p.provider, p.amount_cents, p.provider_reference) for p in ledger.payments_of(booking.id)] == [
        ("stripe", 99400, intent_id)]
    assert client.get(f"/bookings/manage/{token}/paid?payment_intent=pi_doesnotexist1").status_code == 404


# --- Cancelling ------------------------------------------------------------------------------------------------

@pytest.mark.parametrize(("starts_in_days", "refund", "rule"), [
    (60, "$894", "30 days or more before the start"),
    (20, "$497", "14 to 29 days before the start: half of what was paid"),
    (10, "$0", "fewer than 14 days before the start: no refund"),
])
def test_the_cancel_page_shows_the_policys_refund_before_confirming(client, starts_in_days, refund, rule):
    booking, token = booked(client, make_cohort(starts_in_days=starts_in_days))
    services.payment_received(booking.reference, kind="deposit", amount_cents=booking.deposit_cents,
                              provider="demo", provider_reference="demo_deposit")
    response = client.get(f"/bookings/manage/{token}/cancel")
    assert response.status_code == 200
    assert_private(response)
    page = parse(response)
    assert page.find("dd", data_testid="refund").text() == refund
    assert rule in page.text() and f"starts in {starts_in_days} days" in page.text()
    form = page.find("form")
    assert form["action"] == f"/bookings/manage/{token}/cancel" and form["method"] == "post"
    status = "paid_in_full" if starts_in_days <= 14 else "confirmed"  # within 14 days: the whole price at once
    assert db.session.get(Booking, booking.id).status == status  # showing the quote changes nothing


def test_cancelling_needs_the_form_then_shows_cancelled_and_the_refund(app, client):
    booking, token = booked(client, make_cohort(starts_in_days=60))
    services.payment_received(booking.reference, kind="deposit", amount_cents=booking.deposit_cents,
                              provider="demo", provider_reference="demo_deposit")
    app.config["WTF_CSRF_ENABLED"] = True
    forged = client.post(f"/bookings/manage/{token}/cancel", data={})
    assert forged.status_code == 400
    assert db.session.get(Booking, booking.id).status == "confirmed"

    page = parse(client.get(f"/bookings/manage/{token}/cancel"))
    csrf_token = page.find("input", name="csrf_token")["value"]
    done = client.post(f"/bookings/manage/{token}/cancel", data={"csrf_token": csrf_token})
    assert done.status_code == 303 and done.headers["Location"].endswith(f"/bookings/manage/{token}")
    db.session.expire_all()
    assert db.session.get(Booking, booking.id).status == "cancelled"
    manage = parse(client.get(done.headers["Location"]))
    assert manage.by_id("status-heading").text() == "This booking is cancelled"
    assert "We are refunding $894." in manage.text()
    rows = [tr.text() for tr in manage.find("table", class_="payments").find("tbody").find_all("tr")]
    assert len(rows) == 2 and "Refund" in rows[1] and "-$894.00" in rows[1]
    assert manage.find("table", class_="payments").find("tfoot").text().endswith("$100.00")
    assert CANCEL not in link_texts(manage) and not any(href.endswith("/pay") for href in links(manage))

    again = client.get(f"/bookings/manage/{token}/cancel")
    assert again.status_code == 303
    twice = client.post(f"/bookings/manage/{token}/cancel", data={"csrf_token": csrf_token})
    assert twice.status_code == 303
    assert "This booking is cancelled already." in parse(client.get(twice.headers["Location"])).text()
    assert ledger.paid_cents(booking.id) == 10000


# --- The calendar file -----------------------------------------------------------------------------------------

def test_the_calendar_file_is_an_all_day_event_over_the_cohort_dates(client):
    cohort = make_cohort(starts_in_days=45)
    booking, token = booked(client, cohort)
    response = client.get(f"/bookings/manage/{token}/calendar.ics")
    assert response.status_code == 200
    assert_private(response)
    assert response.headers["Content-Type"] == "text/calendar; charset=utf-8"
    assert response.headers["Content-Disposition"] == f'attachment; filename="retreat-{booking.reference}.ics"'
    body = response.get_data()
    assert token.encode() not in body
    calendar = Calendar.from_ical(body)
    [event] = calendar.walk("VEVENT")
    assert event.decoded("dtstart") == cohort.start_date == today() + timedelta(days=45)
    assert event.decoded("dtend") == cohort.end_date + timedelta(days=1)  # exclusive: the day after the last
    assert (event.decoded("dtend") - event.decoded("dtstart")).days == 7
    assert b"DTSTART;VALUE=DATE:" in body and b"DTEND;VALUE=DATE:" in body
    assert str(event["summary"]).startswith(cohort.program.name)
    assert str(event["location"]) == "Asheville, NC"
    assert f"Booking reference: {booking.reference}" in str(event["description"])
    assert str(event["status"]) == "TENTATIVE"
    assert str(event["uid"]).startswith(f"booking-{booking.reference}@")

    services.payment_received(booking.reference, kind="deposit", amount_cents=booking.deposit_cents,
                              provider="demo", provider_reference="demo_ics")
    [event] = Calendar.from_ical(client.get(f"/bookings/manage/{token}/calendar.ics").get_data()).walk("VEVENT")
    assert str(event["status"]) == "CONFIRMED"


# --- The ways in: pre-screen results and the program page -------------------------------------------------------

def test_results_and_the_approval_page_lead_to_the_booking_page(client):
    token = eligible_token()
    page = parse(client.get(f"/screening/result/{token}"))
    assert f"/bookings/new/{token}" in links(page)

    review = review_token()
    screening = db.session.scalars(sa.select(Screening).order_by(Screening.id.desc())).first()
    page = parse(client.get(f"/screening/result/{review}"))
    assert f"/bookings/new/{review}" not in links(page)  # nobody has been asked to review it yet
    early.request_review(screening, {"first_name": "Ana", "last_name": "Li", "email": "ana@example.org",
                                     "phone": "555 010 2222"})
    page = parse(client.get(f"/screening/result/{review}"))
    request_seat = next(a for a in page.find_all("a") if a.text() == "Choose dates and request a seat")
    assert request_seat["href"] == f"/bookings/new/{review}"

    screening.review_status = "approved"
    approval = screening_services.new_approval_token(screening)
    db.session.commit()
    page = parse(client.get(f"/screening/approved/{approval}"))
    assert f"/bookings/new/{approval}" in links(page)
    assert client.get(f"/bookings/new/{approval}").status_code == 200

    # Once a booking is made with it, the approval page says so and offers no second booking.
    booked(client, token=approval)
    page = parse(client.get(f"/screening/approved/{approval}"))
    assert f"/bookings/new/{approval}" not in links(page)
    assert "You have a booking made with this pre-screen." in page.text()
    assert "You can now choose your dates" not in page.text()


def test_the_program_page_explains_that_booking_starts_with_the_pre_screen(client):
    cohort = make_cohort()
    page = parse(client.get(f"/programs/{cohort.program.slug}"))
    path = page.find("div", class_="book-path")
    assert next(a for a in path.find_all("a") if a.text() == "Book: take the pre-screen first")["href"] == \
        f"/screening/?program={cohort.program.slug}"
