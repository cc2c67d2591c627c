"""Informed consent in real Chromium, with the keyboard: an applicant with a confirmed booking opens the consent,
signs without ticking every section and with a name not theirs (both named), then ticks each part, signs, and is
offered the signed copy to download. Screenshots land in test-artifacts/screenshots (consent-*.png);
with SHOTS_DIR set, at 390 and 1280 px there too.
"""

import os
from pathlib import Path

import pytest
from playwright.sync_api import expect

from retreat.arrival import consent
from retreat.booking import services
from retreat.booking.models import Booking
from retreat.demo import DEMO_CONSENT
from retreat.extensions import db
from tests.booking.support import booking_body, eligible_token, make_cohort
from tests.e2e.test_booking_journey import assert_page_basics, focus_and_press

pytestmark = pytest.mark.browser


def both_widths(page, screenshots, name: str) -> None:
    """A screenshot at a phone's width; with SHOTS_DIR set, at a desktop's too, copied there."""
    extra = os.environ.get("SHOTS_DIR")
    for width in (390, 1280) if extra else (390,):
        page.set_viewport_size({"width": width, "height": 900})
        path = screenshots(page, f"{name}-{width}.png")
        if extra:
            Path(extra, path.name).write_bytes(path.read_bytes())
    page.set_viewport_size({"width": 390, "height": 844})


@pytest.mark.parametrize("database_url", ["sqlite"], indirect=True)
def test_an_applicant_reads_and_signs_the_consent_and_is_offered_the_copy(app, live_server, phone_page, screenshots):
    page = phone_page
    version = consent.publish(DEMO_CONSENT, "The clinic's consent.", staff="test")
    cohort = make_cohort(starts_in_days=30)
    made = app.test_client().post("/api/v1/bookings", json=booking_body(cohort, eligible_token()))
    reference, token = made.get_json()["reference"], made.get_json()["manage_token"]
    booking = db.session.query(Booking).filter_by(reference=reference).one()
    services.payment_received(reference, kind="deposit", amount_cents=booking.deposit_cents, provider="demo",
                              provider_reference="demo_0123456789abcdef")

    page.goto(f"{live_server.url}/bookings/manage/{token}/consent")
    expect(page.get_by_role("heading", level=1)).to_have_text("Informed consent")
    assert_page_basics(page)
    both_widths(page, screenshots, "consent-to-sign")

    # Every section but the last ticked, and only a first name: both are named, nothing is signed.
    sections = version.sections
    for section in sections[:-1]:
        focus_and_press(page, page.get_by_label(f"I have read and understood “{section.title}”", exact=True), "Space")
    page.get_by_label("Your full name", exact=True).fill("Alex")
    focus_and_press(page, page.get_by_role("button", name="Sign the consent"))
    alert = page.get_by_role("alert")
    expect(alert).to_contain_text("Your full name: Type your full name as it is on your booking (Alex Rivera)")
    expect(alert).to_contain_text(f"Tick the box to confirm you have read “{sections[-1].title}”.")
    assert_page_basics(page)
    both_widths(page, screenshots, "consent-refused")

    page.get_by_label(f"I have read and understood “{sections[-1].title}”", exact=True).check()
    for section in sections[:-1]:  # what was ticked is still ticked
        expect(page.get_by_label(f"I have read and understood “{section.title}”", exact=True)).to_be_checked()
    page.get_by_label("Your full name", exact=True).fill("alex rivera")
    focus_and_press(page, page.get_by_role("button", name="Sign the consent"))
    expect(page.locator(".flash")).to_contain_text("your consent is signed")
    expect(page.get_by_role("heading", name="You signed version 1")).to_be_visible()
    assert_page_basics(page)
    both_widths(page, screenshots, "consent-signed")

    # The copy itself is read back in tests/arrival/test_consent.py (rendering a PDF here would double its cost).
    expect(page.get_by_role("link", name="Download your signed copy (PDF)")).to_have_attribute(
        "href", f"/bookings/manage/{token}/consent.pdf")
