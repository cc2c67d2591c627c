"""A reduced fee in real Chromium: an applicant asks for one on the booking form (phone), sees that nothing can be
paid yet and why, confirms their email address from the emailed link; a coordinator finds the request in their
to-do and grants a price in the console (desktop); the applicant sees the new price and its deposit on the manage
page. Screenshots land in test-artifacts/screenshots (reduced-fee-*.png).

Figures: the longest program in a private room is $10,000 (tests/e2e/conftest.py); the floor is 50% of it, $5,000;
a price of $6,000 takes a deposit of $1,200 (20%, domain/pricing.md).
"""

import os
import re

import pytest
import sqlalchemy as sa
from playwright.sync_api import Page, expect

from retreat.catalog.models import Program
from retreat.extensions import db
from retreat.notify.models import OutboxEmail
from tests.booking.support import eligible_token
from tests.conftest import STAFF_PASSWORD
from tests.e2e.conftest import LONGEST_PROGRAM_SLUG
from tests.e2e.test_booking_journey import assert_page_basics, choose_option
from tests.e2e.test_screening_journeys import press_button, type_into

pytestmark = pytest.mark.browser

REASON = "I was laid off in October and I care for my two children on my own."


def both_widths(page: Page, screenshots, name: str) -> None:
    """The page at its own width (the applicant's phone, the coordinator's desktop). Set REDUCED_FEE_SHOTS=1 for
    each at both 390 and 1280 px, to look at them."""
    size = page.viewport_size
    for width in ((390, 1280) if os.environ.get("REDUCED_FEE_SHOTS") else (size["width"],)):
        page.set_viewport_size({"width": width, "height": size["height"]})
        screenshots(page, f"reduced-fee-{name}-{width}.png")
    page.set_viewport_size(size)


@pytest.mark.parametrize("database_url", ["sqlite"], indirect=True)
def test_an_applicant_asks_a_coordinator_grants_and_the_new_price_is_shown(demo, staff_user, live_server,
                                                                          phone_page, desktop_page, request_log,
                                                                          screenshots):
    program = db.session.scalars(sa.select(Program).where(Program.slug == LONGEST_PROGRAM_SLUG)).one()
    [cohort] = program.cohorts
    page = phone_page

    # 1. The booking form, with a request for a reduced fee.
    page.goto(f"{live_server.url}/bookings/new/{eligible_token()}?cohort={cohort.id}")
    choose_option(page, "Where will you stay?", "Private room")
    type_into(page, "First name", "Rosalind")
    type_into(page, "Last name", "Abernathy-Quist")
    type_into(page, "Email address", "rosalind.aq@example.org")
    type_into(page, "Phone number", "+1 555 013 4477")
    ask = page.get_by_role("region", name="If the price is more than you can pay")
    expect(ask).to_contain_text("charge nothing until then")
    reason = page.get_by_label("Why you are asking, in a few words")
    expect(reason).to_have_accessible_description(re.compile(r"Please do not include any health information"))
    page.get_by_label("I would like to ask for a reduced fee").check()
    type_into(page, "Why you are asking, in a few words", REASON)
    page.get_by_label("I have read the cancellation and refund policy above, and I accept it").check()
    assert_page_basics(page)
    ask.scroll_into_view_if_needed()
    both_widths(page, screenshots, "1-form")
    press_button(page, "Hold my seat and continue to payment")

    # 2. The manage page says what is awaited, and that nothing can be paid; the emailed link keeps the seat.
    expect(page.get_by_role("heading", level=1)).to_contain_text("Your booking")
    manage_url = page.url
    expect(page.get_by_role("heading", level=2).first).to_have_text(
        "Your seat is held while the clinic considers your request for a reduced fee")
    waiting = page.locator("#awaited")
    expect(waiting).to_contain_text("Nothing can be paid yet. We are waiting for the clinic's decision on your "
                                    "request for a reduced fee.")
    expect(waiting.get_by_role("link", name="(828) 555-0142")).to_be_visible()
    expect(page.get_by_role("link", name=re.compile(r"^Pay "))).to_have_count(0)
    expect(page.locator("#reduced-fee")).to_contain_text("the clinic has not decided yet")
    db.session.rollback()  # what the live server wrote since
    held = db.session.scalars(sa.select(OutboxEmail).where(OutboxEmail.kind == "booking_held")
                              .order_by(OutboxEmail.id.desc())).first()
    confirm_path = re.search(r"/bookings/confirm/\S+", held.body).group(0)
    page.goto(live_server.url + confirm_path)
    expect(page.get_by_role("status").first).to_contain_text("your email address is confirmed")
    assert_page_basics(page)
    both_widths(page, screenshots, "2-awaited")
    page.goto(manage_url + "/pay")  # the pay page says the same, and sends them back
    expect(page.locator(".flash, [role=status]").first).to_contain_text(
        "Nothing can be paid yet: we are waiting for the clinic's decision on your request for a reduced fee")
    reference = page.locator(".reference").first.inner_text()

    # 3. A coordinator finds it in their to-do and grants $6,000 (after the floor refuses $4,000).
    coordinator = staff_user("coordinator")
    staff = desktop_page
    staff.goto(f"{live_server.url}/staff/login")
    staff.get_by_label("Email").fill(coordinator.email)
    staff.get_by_label("Password").fill(STAFF_PASSWORD)
    staff.get_by_role("button", name="Sign in").click()
    todo = staff.get_by_role("list", name="To do")
    todo.get_by_role("link", name=re.compile("Reduced-fee requests to decide")).click()
    staff.get_by_role("link", name=reference).click()
    panel = staff.get_by_role("region", name="Reduced fee")
    expect(panel).to_contain_text(REASON)
    expect(panel).to_contain_text("Not below 50% of the list price ($10,000.00): at least $5,000.00")
    panel.get_by_label("Grant a reduced price").check()
    panel.get_by_label("Price granted, in dollars (when granting)").fill("4000")
    panel.get_by_label("Reason", exact=True).fill("Sliding scale, second tier.")
    panel.get_by_role("button", name="Record the decision and email the applicant").click()
    expect(staff.get_by_role("alert")).to_contain_text("at least $5,000.00")
    both_widths(staff, screenshots, "3-console-refused")
    panel = staff.get_by_role("region", name="Reduced fee")
    panel.get_by_label("Price granted, in dollars (when granting)").fill("6000")
    panel.get_by_role("button", name="Record the decision and email the applicant").click()
    expect(staff.get_by_role("status").first).to_contain_text("Reduced fee granted: $6,000.00")
    expect(staff.get_by_role("region", name="Reduced fee")).to_contain_text("granted: $6,000.00")
    both_widths(staff, screenshots, "4-console-granted")

    # 4. The applicant sees the new price, and can pay its deposit.
    page.goto(manage_url)
    expect(page.locator("#reduced-fee")).to_contain_text("Granted: your price is $6,000, reduced from $10,000.")
    expect(page.locator("#awaited")).to_have_count(0)
    expect(page.get_by_role("link", name="Pay the deposit ($1,200)")).to_be_visible()
    assert_page_basics(page)
    both_widths(page, screenshots, "5-granted")
    assert request_log.foreign() == []
