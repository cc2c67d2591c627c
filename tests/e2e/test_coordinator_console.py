"""A coordinator's day in real Chromium: sign in, add dates to a program, raise the seats, try to lower them
below the seats already taken and see the refusal, see the seats held unpaid and release one; screenshots of the
dashboard and the cohort page."""

import re
from datetime import timedelta

import pytest
import sqlalchemy as sa
from playwright.sync_api import expect

from retreat.booking import services as booking_services
from retreat.booking.models import Booking
from retreat.catalog.models import Cohort, Program
from retreat.core.clock import today
from retreat.extensions import db
from tests.booking.support import APPLICANT, eligible_token, review_token
from tests.conftest import STAFF_PASSWORD

pytestmark = pytest.mark.browser


def _take_seats(cohort_id: int, count: int) -> None:
    db.session.rollback()
    cohort = db.session.get(Cohort, cohort_id)
    for number in range(count):
        db.session.add(Booking(
            reference=f"RT-E2E{number:03d}", cohort=cohort, status="confirmed", lodging="shared",
            applicant_first_name="Sam", applicant_last_name=f"Booked {number}",
            applicant_email=f"s{number}@example.org",
            applicant_phone="+1 555 0100", price_list_version=1, total_cents=497000, deposit_cents=99400,
            balance_cents=397600, balance_due_date=cohort.start_date - timedelta(days=14)))
    db.session.commit()


def test_coordinator_adds_dates_and_cannot_lower_seats_below_those_taken(demo, staff_user, live_server,
                                                                         desktop_page, screenshots):
    coordinator = staff_user("coordinator")
    program = db.session.scalar(sa.select(Program).where(Program.slug == "iv-emdr-one-week"))
    page = desktop_page

    page.goto(f"{live_server.url}/staff/login")
    page.get_by_label("Email").fill(coordinator.email)
    page.get_by_label("Password").fill(STAFF_PASSWORD)
    page.get_by_role("button", name="Sign in").click()
    expect(page).to_have_url(re.compile(r"/staff/$"))  # the to-do of their roles, each line a count and a link
    todo = page.get_by_role("list", name="To do")
    for line in ("Holds that lapse within 24 hours", "Holds waiting for the applicant to confirm their email",
                 "Balances due within 7 days"):
        expect(todo.get_by_role("link", name=re.compile(line))).to_be_visible()
    expect(todo).not_to_contain_text("pre-screen")
    screenshots(page, "staff-home-coordinator.png")

    page.get_by_role("navigation", name="Main").get_by_role("link", name="Programs").click()
    page.get_by_role("link", name=program.name).first.click()
    page.get_by_role("link", name="Add dates").click()
    start = today() + timedelta(days=45)
    page.get_by_label("First day").fill(start.isoformat())
    page.get_by_label("Seats").fill("4")
    page.get_by_role("button", name="Add these dates").click()
    expect(page).to_have_url(re.compile(r"/staff/cohorts/\d+$"))
    cohort_id = int(page.url.rsplit("/", 1)[1])
    db.session.rollback()  # end this test's read transaction, to see what the server committed
    cohort = db.session.get(Cohort, cohort_id)
    assert (cohort.start_date, cohort.capacity) == (start, 4)

    seats = page.get_by_role("spinbutton", name="Seats")
    seats.fill("6")
    page.get_by_role("button", name="Save seats").click()
    expect(page.get_by_role("spinbutton", name="Seats")).to_have_value("6")
    db.session.rollback()
    assert db.session.get(Cohort, cohort_id).capacity == 6

    _take_seats(cohort_id, 3)
    page.reload()
    page.get_by_role("spinbutton", name="Seats").fill("2")
    page.get_by_role("button", name="Save seats").click()
    expect(page.get_by_text("3 seats are taken; capacity cannot go below 3.").first).to_be_visible()
    expect(page.get_by_role("spinbutton", name="Seats")).to_have_attribute("aria-invalid", "true")
    db.session.rollback()
    assert db.session.get(Cohort, cohort_id).capacity == 6
    screenshots(page, "staff-cohort-capacity-refused.png")

    # Two seats held unpaid: one by an applicant paying by card, one awaiting review whose email is unconfirmed.
    card = booking_services.create_booking(policy_accepted=True, cohort_id=cohort_id,
                                           screening_token=eligible_token(), lodging="shared",
                                           applicant=dict(APPLICANT)).booking
    review = booking_services.create_booking(policy_accepted=True, 
        cohort_id=cohort_id, screening_token=review_token(), lodging="shared",
        applicant={**APPLICANT, "email": "scripted@example.org", "phone": "+1 555 019 0000"}).booking
    page.goto(f"{live_server.url}/staff/cohorts/{cohort_id}")
    holds = page.get_by_role("table", name=re.compile("Seats held and not yet paid"))
    expect(holds.locator("tbody tr")).to_have_count(2)
    expect(holds.locator("tbody tr").nth(0)).to_contain_text("Card payment")
    expect(holds.locator("tbody tr").nth(1)).to_contain_text("Awaiting a clinician's review")
    expect(holds.locator("tbody tr").nth(1)).to_contain_text("Not confirmed")
    expect(page.get_by_role("heading", name="Waitlist")).to_be_visible()
    expect(page.locator('[data-waitlist="summary"]')).to_contain_text("0 waiting, 0 offers open")
    screenshots(page, "staff-cohort-holds.png")
    page.get_by_role("button", name=f"Release the hold {review.reference}").click()
    expect(page.get_by_role("status")).to_contain_text(f"The hold {review.reference} is released")
    expect(page.get_by_role("table", name=re.compile("Seats held")).locator("tbody tr")).to_have_count(1)
    db.session.rollback()
    assert db.session.get(Booking, review.id).status == "expired"
    assert db.session.get(Booking, card.id).status == "held"

    page.get_by_role("navigation", name="Main").get_by_role("link", name="To do").click()
    lapsing = page.get_by_role("link", name=re.compile("Holds that lapse within 24 hours"))
    expect(lapsing.locator(".todo-count")).to_have_attribute("data-count", "1")  # the card hold left
    lapsing.click()
    expect(page.get_by_label("Needs attention")).to_have_value("hold_lapsing")
    expect(page.get_by_role("link", name=card.reference)).to_be_visible()

    page.get_by_role("navigation", name="Main").get_by_role("link", name="Dashboard").click()
    expect(page.get_by_text(program.name).first).to_be_visible()
    expect(page.locator('[data-waitlist="totals"]')).to_contain_text("0 waiting")
    screenshots(page, "staff-dashboard.png")
