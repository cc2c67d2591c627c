"""The staff home: each role's to-do, registered by the areas above staff (retreat.staff.todo), each line a count
and a link to the page that lists exactly those items; clinicians only see the review counts (health data)."""

import re
from datetime import timedelta

import pytest

from retreat.booking.models import Booking, FeeRequest, PaymentScheduleItem
from retreat.core.clock import now, today
from retreat.extensions import db
from retreat.staff import todo
from tests.booking.support import make_cohort
from tests.conftest import STAFF_PASSWORD
from tests.screening.test_review_queue import make_screening, review_answers, urgent_answers

_number = {"n": 0}


def booking(cohort, *, status="held", provider="stripe", hold_hours=None, confirmed_email=True, due_in_days=40):
    _number["n"] += 1
    row = Booking(
        reference=f"RT-TODO{_number['n']:02d}", cohort=cohort, status=status, lodging="shared",
        applicant_first_name="Robin", applicant_last_name=f"Todo {_number['n']}",
        applicant_email=f"todo{_number['n']}@example.org", applicant_phone="+1 555 0100", price_list_version=1,
        total_cents=497_000, deposit_cents=99_400, balance_cents=397_600,
        balance_due_date=today() + timedelta(days=due_in_days), payment_provider=provider, created_at=now(),
        hold_expires_at=now() + timedelta(hours=hold_hours) if hold_hours is not None else None,
        email_confirmed_at=now() if confirmed_email else None)
    db.session.add(row)
    return row


@pytest.fixture
def work(app):
    """Something for every line; the expected counts are written out below, not computed by the code."""
    cohort = make_cohort(capacity=20, starts_in_days=60)
    booking(cohort, hold_hours=2)  # lapses within 24 h
    booking(cohort, status="pending_review", hold_hours=0.2, confirmed_email=False)  # unconfirmed, and lapsing
    booking(cohort, provider="offline", hold_hours=72)  # a deposit by bank transfer awaited
    booking(cohort, status="held", hold_hours=-1)  # lapsed already: nothing to do
    booking(cohort, status="confirmed", due_in_days=3)  # balance due soon
    booking(cohort, status="confirmed", provider="offline", due_in_days=7)  # balance due soon, by bank transfer
    booking(cohort, status="confirmed", due_in_days=-2)  # overdue
    booking(cohort, status="confirmed", due_in_days=8)  # not yet
    booking(cohort, status="paid_in_full", due_in_days=1)  # paid
    for status in ("confirmed", "cancelled"):  # a monthly part declined after its retries (a cancelled one: done)
        row = booking(cohort, status=status, due_in_days=90)
        row.payment_plan = "installments"
        db.session.flush()
        db.session.add(PaymentScheduleItem(booking_id=row.id, position=1, kind="installment", due_date=today(),
                                           amount_cents=99_400, status="failed", attempts=4))
    asking = booking(cohort, hold_hours=60)  # a reduced fee to decide
    lapsed_asking = booking(cohort, hold_hours=-1)  # a reduced fee asked, the hold lapsed: nothing to decide
    db.session.flush()
    for row in (asking, lapsed_asking):
        db.session.add(FeeRequest(booking_id=row.id, reason="Between jobs.", requested_from_cents=row.total_cents))
    db.session.commit()
    make_screening(urgent_answers())
    make_screening(review_answers(), pending=True)
    return cohort


EXPECTED_COUNTS = {
    "screening.urgent": 1, "screening.waiting": 2,
    "fee_request": 1, "hold_lapsing": 2, "email_unconfirmed": 1, "balance_due": 3,
    "transfer_awaited": 2, "installment_failed": 1, "erasure_requested": 0,
    "clearance_due": 0,  # the cohort starts in 60 days: not yet within the 30 days of the clinicians' line
}
SEEN_BY = {
    ("clinician",): ("screening.urgent", "screening.waiting", "clearance_due"),
    ("coordinator",): ("fee_request", "hold_lapsing", "email_unconfirmed", "balance_due", "installment_failed"),
    ("finance",): ("installment_failed", "transfer_awaited"),
    ("admin",): ("fee_request", "hold_lapsing", "email_unconfirmed", "balance_due", "installment_failed",
                 "transfer_awaited", "erasure_requested"),
    ("clinician", "finance"): ("screening.urgent", "screening.waiting", "clearance_due", "installment_failed",
                               "transfer_awaited"),
}


def signed_in(app, staff_user, roles):
    user = staff_user(*roles, email=f"{'-'.join(roles)}@todo.example")
    client = app.test_client()
    assert client.post("/staff/login", data={"email": user.email, "password": STAFF_PASSWORD}).status_code == 302
    return client


def lines(html: str) -> dict[str, tuple[int, str]]:
    """data-todo key -> (count, link) of each line of the staff home."""
    found = re.findall(r'data-todo="([^"]+)">\s*<a href="([^"]+)"><strong class="todo-count" data-count="(\d+)"',
                       html)
    return {key: (int(count), url.replace("&amp;", "&")) for key, url, count in found}


@pytest.mark.parametrize("roles", list(SEEN_BY), ids="+".join)
def test_each_role_sees_its_own_to_do_with_counts_and_links(app, staff_user, work, roles):
    client = signed_in(app, staff_user, roles)
    response = client.get("/staff/")
    assert response.status_code == 200
    html = response.get_data(as_text=True)
    shown = lines(html)
    assert list(shown) == list(SEEN_BY[roles]), "each role its lines, urgent first"
    assert {key: count for key, (count, _) in shown.items()} == {key: EXPECTED_COUNTS[key] for key in shown}
    if "clinician" not in roles:
        assert "pre-screen" not in html.lower() and "clinician" not in html.lower(), "no health data"
    if "screening.urgent" in shown:
        assert 'class="todo is-urgent"' in html and shown["screening.urgent"][1] == "/staff/screenings?show=urgent"


@pytest.mark.parametrize("roles", [("coordinator",), ("finance",)], ids="+".join)
def test_each_booking_line_links_to_the_bookings_it_counts(app, staff_user, work, roles):
    client = signed_in(app, staff_user, roles)
    for key, (count, url) in lines(client.get("/staff/").get_data(as_text=True)).items():
        assert url == f"/staff/bookings?needs={key}"
        listed = client.get(url)
        assert listed.status_code == 200
        page = listed.get_data(as_text=True)
        assert len(re.findall(r'<th scope="row" class="reference">', page)) == count, key
        assert f'<option selected value="{key}">' in page, "the filter shows what is listed"


def test_the_urgent_link_lists_the_urgent_reviews_only(app, staff_user, work):
    client = signed_in(app, staff_user, ("clinician",))
    page = client.get("/staff/screenings?show=urgent").get_data(as_text=True)
    assert page.count('class="queue-row is-urgent"') == 1 and page.count('class="queue-row"') == 0
    assert client.get("/staff/screenings").get_data(as_text=True).count('class="queue-row') == 2


def test_nothing_to_do_still_lists_the_lines_at_zero(app, staff_user):
    client = signed_in(app, staff_user, ("coordinator",))
    html = client.get("/staff/").get_data(as_text=True)
    assert {key: count for key, (count, _) in lines(html).items()} == {
        "fee_request": 0, "hold_lapsing": 0, "email_unconfirmed": 0, "balance_due": 0, "installment_failed": 0}
    assert "Nothing waits for you just now." in html


def test_a_source_must_name_known_roles():
    with pytest.raises(ValueError):
        todo.register("test.nobody", roles=(), order=1, lines=list)
    with pytest.raises(ValueError):
        todo.register("test.superuser", roles=("superuser",), order=1, lines=list)
    assert "test.nobody" not in {source.key for source in todo.sources()}


def test_the_sources_are_registered_by_the_areas_above_staff(app):
    by_key = {source.key: source.roles for source in todo.sources()}
    assert by_key["screening.reviews"] == {"clinician"}, "review counts are health data: clinicians only"
    assert by_key["booking.coordination"] == {"coordinator", "admin"}
    assert by_key["booking.transfers"] == {"finance", "admin"}
    assert by_key["arrival.erasures"] == {"admin"}
