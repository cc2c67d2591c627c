"""An applicant with a discount code, in real Chromium on a phone: on the booking form a mistyped code is named on
its field (nothing held), then the code as the clinic gave it (in small letters): the payment page shows the list
price, the code's line, the discounted total and the deposit worked out on it. (The estimate page with a code and
the manage page are checked with the test client, tests/booking/test_discount_codes.py.) Screenshots land in
test-artifacts/screenshots (discount-*.png).

IV x4 with EMDR and a shared room is $4,970; 10% off is $497, so $4,473, whose deposit is 20% rounded up to the
dollar: $895 (the list price's would be $994)."""

from datetime import timedelta

import pytest
import sqlalchemy as sa
from playwright.sync_api import Page, expect

from retreat.booking.availability import seats_left
from retreat.booking.models import Booking
from retreat.catalog import discounts
from retreat.catalog.models import Cohort, Program
from retreat.core.clock import today
from retreat.extensions import db
from tests.booking.support import eligible_token
from tests.e2e.test_booking_journey import assert_page_basics
from tests.e2e.test_catalog_journey import PROGRAM_NAME, assert_stays_local
from tests.e2e.test_screening_journeys import press_button, type_into

pytestmark = pytest.mark.browser


def totals(page: Page) -> dict[str, str]:
    """The price panel's lines, by their names."""
    rows = page.locator("dl.totals > div")
    return {rows.nth(i).locator("dt").inner_text().strip(): rows.nth(i).locator("dd").first.inner_text().strip()
            for i in range(rows.count())}


@pytest.mark.parametrize("database_url", ["sqlite"], indirect=True)
def test_an_applicant_books_with_a_discount_code(demo, live_server, phone_page, request_log, screenshots):
    page = phone_page
    program = db.session.scalars(sa.select(Program).where(Program.name == PROGRAM_NAME)).one()
    discounts.create_code({"code": "WELCOME10", "percent_off": 10, "amount_off_cents": None,
                           "program_ids": [program.id], "max_uses": 5}, actor="test")
    cohort = next(cohort for cohort in db.session.scalars(
        sa.select(Cohort).where(Cohort.program_id == program.id, Cohort.status == "open",
                                Cohort.start_date > today() + timedelta(days=20)).order_by(Cohort.start_date))
        if seats_left(cohort) > 0)

    # 1. The booking form: a mistyped code is named on its field, and nothing is held.
    page.goto(f"{live_server.url}/bookings/new/{eligible_token()}?cohort={cohort.id}")
    page.locator("input[name=lodging][value=shared]").check()
    type_into(page, "First name", "Rosalind")
    type_into(page, "Last name", "Okafor")
    type_into(page, "Email address", "rosalind@example.org")
    type_into(page, "Phone number", "555 010 4444")
    type_into(page, "Discount code (optional)", "WELCOME1O")
    page.get_by_label("I have read the cancellation and refund policy above, and I accept it").check()
    press_button(page, "Hold my seat and continue to payment")
    code_field = page.get_by_label("Discount code (optional)", exact=True)
    expect(code_field).to_have_attribute("aria-invalid", "true")
    expect(page.locator(".error-summary, [role=alert]").first).to_contain_text("This code is not valid")
    assert db.session.scalar(sa.select(sa.func.count()).select_from(Booking)
                             .where(Booking.applicant_email == "rosalind@example.org")) == 0
    assert_page_basics(page)
    screenshots(page, "discount-2-booking-form-refused.png")

    # 2. The code as the clinic gave it: the payment page shows its line and the deposit on the discounted total.
    code_field.fill("")
    type_into(page, "Discount code (optional)", "welcome10")
    page.get_by_label("I have read the cancellation and refund policy above, and I accept it").check()
    press_button(page, "Hold my seat and continue to payment")
    expect(page.get_by_role("heading", level=1)).to_have_text("Pay the deposit: $895")
    lines = totals(page)
    assert lines["List price"] == "$4,970" and lines["Discount code WELCOME10"] == "−$497"
    assert lines["Total"] == "$4,473" and lines["Deposit, now"] == "$895" and lines["Balance"] == "$3,578"
    assert_page_basics(page)
    screenshots(page, "discount-3-pay.png")

    assert_stays_local(page, request_log)
