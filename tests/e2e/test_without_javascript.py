"""The pre-screen and the booking work with JavaScript switched off: the whole applicant's path, from the catalog
to a paid booking (the demo provider), in a Chromium whose pages run no script at all. Screenshots land in
test-artifacts/screenshots (no-js-*.png)."""

import re

import pytest
import sqlalchemy as sa
from playwright.sync_api import expect

from retreat.booking.models import Booking
from retreat.extensions import db
from tests.e2e.conftest import PHONE
from tests.e2e.test_booking_journey import SECRET_PATH, choose_option, focus_and_press
from tests.e2e.test_catalog_journey import PROGRAM_NAME, assert_stays_local
from tests.e2e.test_screening_journeys import (
    answer_about,
    answer_conditions,
    answer_feeling,
    answer_heart,
    answer_history,
    answer_safety_all_no,
    press_button,
    start,
    type_into,
)

pytestmark = pytest.mark.browser


def test_an_applicant_screens_books_and_pays_without_javascript(demo, live_server, new_context, request_log,
                                                                screenshots):
    context = new_context(**PHONE, java_script_enabled=False)
    context.on("request", request_log)
    page = context.new_page()
    page.set_default_timeout(10_000)

    start(page, live_server)
    answer_feeling(page)
    answer_safety_all_no(page)
    answer_about(page)
    answer_heart(page, ("122", "78"))
    answer_conditions(page)
    answer_history(page)
    expect(page.get_by_role("heading", level=1)).to_have_text("Nothing in your answers rules out this treatment")
    screenshots(page, "no-js-1-eligible.png")

    focus_and_press(page, page.get_by_role("link", name="Choose your dates"))
    expect(page).to_have_url(SECRET_PATH)
    offer = page.get_by_role("region", name=PROGRAM_NAME, exact=True)
    focus_and_press(page, offer.locator("summary"))  # the program's dates unfold without a script (<details>)
    focus_and_press(page, offer.get_by_role("link", name=re.compile(r"^Choose \d")).first)
    expect(page.get_by_role("heading", level=1)).to_have_text(f"Book your seat: {PROGRAM_NAME}")
    choose_option(page, "Where will you stay?", "Shared room")
    type_into(page, "First name", "Noor")
    type_into(page, "Last name", "Haddad")
    type_into(page, "Email address", "noor@example.org")
    type_into(page, "Phone number", "+1 555 013 9090")
    focus_and_press(page, page.get_by_label("I have read the cancellation and refund policy above, and I accept it"),
                    "Space")
    screenshots(page, "no-js-2-booking-form.png")
    press_button(page, "Hold my seat and continue to payment")

    expect(page.get_by_role("heading", level=1)).to_have_text("Pay the deposit: $994")
    focus_and_press(page, page.get_by_role("button", name="Test payment — no money moves (demo mode)"))
    expect(page.get_by_role("heading", level=2, name="Your booking is confirmed")).to_be_visible()
    expect(page.get_by_role("status")).to_contain_text("Thank you: your test payment of $994 is received.")
    screenshots(page, "no-js-3-confirmed.png")
    assert_stays_local(page, request_log)
    booking = db.session.scalars(sa.select(Booking).where(Booking.applicant_last_name == "Haddad")).one()
    assert booking.status == "confirmed"
