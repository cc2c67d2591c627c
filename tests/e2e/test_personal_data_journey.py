"""The applicant's data in real Chromium: from the manage page to everything held about them, the JSON download,
asking for erasure (a mistake named first), then, the booking cancelled, an admin carries it out and the
applicant's link says the data was erased. Screenshots land in test-artifacts/screenshots (data-*.png); with
SHOTS_DIR set, at 390 and 1280 px, copied there.
"""

import json
import os
from pathlib import Path

import pytest
from playwright.sync_api import Page, expect

from retreat.booking import services
from retreat.booking.models import Booking
from retreat.extensions import db
from tests.booking.support import booking_body, eligible_token, make_cohort
from tests.conftest import STAFF_PASSWORD
from tests.e2e.test_booking_journey import assert_page_basics, focus_and_press

pytestmark = pytest.mark.browser


def both_widths(page: Page, screenshots, name: str) -> None:
    extra = os.environ.get("SHOTS_DIR")
    for width in (390, 1280) if extra else (390,):
        page.set_viewport_size({"width": width, "height": 900})
        path = screenshots(page, f"data-{name}-{width}.png")
        if extra:
            Path(extra, path.name).write_bytes(path.read_bytes())
    page.set_viewport_size({"width": 390, "height": 844})


@pytest.mark.parametrize("database_url", ["sqlite"], indirect=True)
def test_an_applicant_reads_downloads_and_has_their_data_erased(app, live_server, phone_page, staff_user,
                                                                screenshots):
    page = phone_page
    cohort = make_cohort(starts_in_days=45)
    made = app.test_client().post("/api/v1/bookings", json=booking_body(cohort, eligible_token()))
    reference, token = made.get_json()["reference"], made.get_json()["manage_token"]
    booking = db.session.query(Booking).filter_by(reference=reference).one()
    services.payment_received(reference, kind="deposit", amount_cents=booking.deposit_cents, provider="demo",
                              provider_reference="demo_0123456789abcdef")
    manage = f"{live_server.url}/bookings/manage/{token}"

    # 1. Everything held, from the manage page; the same as a file.
    page.goto(manage)
    focus_and_press(page, page.get_by_role("link", name="Your data: see and download everything we hold about you, "
                                                        "or ask for it to be erased"))
    expect(page.get_by_role("heading", level=1)).to_have_text("Everything we hold about you")
    expect(page.get_by_role("region", name="Your booking")).to_contain_text("Rivera")
    expect(page.get_by_role("region", name="Your pre-screen")).to_contain_text("Your age")
    assert_page_basics(page)
    both_widths(page, screenshots, "everything")
    with page.expect_download() as download:
        page.get_by_role("link", name="Download it as a file (JSON)").click()
    assert download.value.suggested_filename == f"my-data-{reference}.json"
    assert json.loads(download.value.path().read_text())["booking"]["reference"] == reference

    # 2. Asking for erasure: the box left unticked is named, then the request is recorded.
    page.get_by_role("link", name="Ask for my data to be erased").click()
    expect(page.get_by_role("heading", level=1)).to_have_text("Ask for your data to be erased")
    focus_and_press(page, page.get_by_role("button", name="Ask the clinic to erase my data"))
    expect(page.get_by_role("alert")).to_contain_text("Tick this box")
    assert_page_basics(page)
    both_widths(page, screenshots, "erase-refused")
    page.get_by_label("I understand that once my data is erased", exact=False).check()
    focus_and_press(page, page.get_by_role("button", name="Ask the clinic to erase my data"))
    expect(page.locator(".flash")).to_contain_text("Your request is recorded")
    both_widths(page, screenshots, "erasure-asked")

    # 3. The booking cancelled, an admin erases the data; the link says so.
    services.cancel_booking(db.session.get(Booking, booking.id))
    admin = staff_user("admin")
    page.goto(f"{live_server.url}/staff/login")
    page.get_by_label("Email", exact=True).fill(admin.email)
    page.get_by_label("Password", exact=True).fill(STAFF_PASSWORD)
    page.get_by_role("button", name="Sign in").click()
    page.goto(f"{live_server.url}/staff/erasures")
    both_widths(page, screenshots, "staff-requests")
    page.get_by_role("link", name=reference).click()
    both_widths(page, screenshots, "staff-erasure")
    page.get_by_label("I have checked that nothing more is owed", exact=False).check()
    focus_and_press(page, page.get_by_role("button", name="Erase this applicant's data"))
    expect(page.get_by_role("status").first).to_contain_text(f"The data of {reference} is erased")
    both_widths(page, screenshots, "staff-erased")

    page.goto(manage)
    expect(page.get_by_role("heading", level=1)).to_have_text("Your data was erased")
    expect(page.locator("body")).not_to_contain_text("Rivera")
    both_widths(page, screenshots, "link-erased")
