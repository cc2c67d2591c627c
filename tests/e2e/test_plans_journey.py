"""Paying in monthly parts, in real Chromium with the demo provider: the booking form offers the ways to pay, the
applicant chooses monthly parts with the keyboard, sees every date and amount before paying the deposit, pays it,
and finds the schedule on the manage page (the first part next). Screenshots at 390 and 1280 px land in
test-artifacts/screenshots (plans-*.png)."""

import re

import pytest
import sqlalchemy as sa
from playwright.sync_api import expect

from retreat.booking import plans
from retreat.booking.availability import seats_left
from retreat.booking.models import Booking
from retreat.catalog.models import Cohort
from retreat.core.money import format_usd
from retreat.extensions import db
from tests.booking.support import eligible_token
from tests.e2e.test_booking_journey import assert_page_basics, choose_option, focus_and_press
from tests.e2e.test_catalog_journey import assert_stays_local
from tests.e2e.test_screening_journeys import press_button, type_into

pytestmark = pytest.mark.browser

MONTHLY = "Deposit now, then the balance in monthly parts charged to my card"


def both_widths(page, screenshots, name: str) -> None:
    screenshots(page, f"plans-{name}-390.png")
    page.set_viewport_size({"width": 1280, "height": 900})
    assert_page_basics(page)
    screenshots(page, f"plans-{name}-1280.png")
    page.set_viewport_size({"width": 390, "height": 844})


@pytest.mark.parametrize("database_url", ["sqlite"], indirect=True)
def test_an_applicant_chooses_monthly_parts_and_sees_the_schedule_before_and_after_paying(
        demo, live_server, phone_page, request_log, screenshots):
    page = phone_page
    cohort = max((c for c in db.session.scalars(sa.select(Cohort)) if seats_left(c) > 0),
                 key=lambda c: c.start_date)
    db.session.rollback()
    page.goto(f"{live_server.url}/bookings/new/{eligible_token()}?cohort={cohort.id}")

    # The form: three ways to pay, the deposit first and chosen; monthly parts explained before choosing.
    plan = page.get_by_role("group", name="When will you pay?")
    expect(plan.get_by_role("radio")).to_have_count(3)
    expect(plan.get_by_label("Deposit now, the balance by its due date")).to_be_checked()
    expect(plan).to_contain_text("2 to 4 equal monthly parts")
    choose_option(page, "When will you pay?", MONTHLY)
    type_into(page, "First name", "Marisol")
    type_into(page, "Last name", "Featherstonehaugh-Oyelaran")
    type_into(page, "Email address", "marisol.fo@example.org")
    type_into(page, "Phone number", "+1 555 014 9090")
    focus_and_press(page, page.get_by_label("I have read the cancellation and refund policy above, and I accept it"),
                    "Space")
    assert_page_basics(page)
    both_widths(page, screenshots, "1-form")
    press_button(page, "Hold my seat and continue to payment")

    # Before paying: every part, dated, summing to the price.
    expect(page.get_by_role("heading", level=1)).to_have_text(re.compile(r"^Pay the deposit: \$"))
    db.session.rollback()
    booking = db.session.scalars(sa.select(Booking).where(
        Booking.applicant_last_name == "Featherstonehaugh-Oyelaran")).one()
    parts = plans.schedule_of(booking)
    db.session.rollback()
    assert booking.payment_plan == "installments" and 3 <= len(parts) <= 5
    expect(page.get_by_role("heading", level=1)).to_have_text(f"Pay the deposit: {format_usd(booking.deposit_cents)}")
    schedule = page.get_by_role("region", name="Your payment schedule")
    rows = schedule.get_by_role("table").locator("tbody tr")
    expect(rows).to_have_count(len(parts))
    for row, part in zip([rows.nth(i) for i in range(len(parts))], parts, strict=True):
        expect(row).to_contain_text(format_usd(part.amount_cents, show_cents=True))
        expect(row).to_contain_text("Deposit" if part.kind == "deposit" else "Monthly part")
        expect(row).to_contain_text("To pay")
    assert sum(part.amount_cents for part in parts) == booking.total_cents
    expect(page.locator("dl.totals")).to_contain_text(f"In {len(parts) - 1} monthly parts")
    assert_page_basics(page)
    both_widths(page, screenshots, "2-pay")
    focus_and_press(page, page.get_by_role("button", name="Test payment — no money moves (demo mode)"))

    # After: confirmed, the deposit paid, the next part named with its date.
    expect(page.get_by_role("heading", level=2, name="Your booking is confirmed")).to_be_visible()
    expect(page.locator(".status-panel")).to_contain_text(
        re.compile(rf"the next, {re.escape(format_usd(parts[1].amount_cents, show_cents=True))}, is charged to your "
                   r"card on\s+(Mon|Tue|Wed|Thu|Fri|Sat|Sun) \d{1,2} [A-Z][a-z]{2} \d{4}"))
    schedule = page.get_by_role("region", name="Payment schedule")
    rows = schedule.get_by_role("table").locator("tbody tr")
    expect(rows).to_have_count(len(parts))
    expect(rows.first).to_contain_text("Paid")
    expect(rows.nth(1)).to_contain_text("To pay")
    assert_page_basics(page)
    assert_stays_local(page, request_log)
    both_widths(page, screenshots, "3-manage")
