"""The applicant's checklist before arrival in real Chromium: on the manage page of a confirmed booking, the checklist
names what is left; the intake form is sent with a mistake (named beside its field), then filled in and saved; back
on the manage page the intake is done, and the ride home too. axe finds nothing on each page; screenshots land in
test-artifacts/screenshots (arrival-*.png) at 390 px, and at 1280 px too when SHOTS_DIR is set (copied there).
"""

import os
from pathlib import Path

import pytest
from playwright.sync_api import Page, expect

from retreat.arrival import consent
from retreat.demo import DEMO_CONSENT
from tests.arrival.test_intake import booked
from tests.e2e.test_booking_journey import assert_page_basics, choose_option, focus_and_press
from tests.support.axe import assert_accessible

pytestmark = pytest.mark.browser


def checked(page: Page, screenshots, name: str) -> None:
    """axe at a phone's width (the accessibility walk checks these pages at 1280 px too) and a screenshot; with
    SHOTS_DIR set, at a desktop's width too, copied there (screenshots are a good part of a browser test's time)."""
    assert_accessible(page, name)
    extra = os.environ.get("SHOTS_DIR")
    for width in (390, 1280) if extra else (390,):
        page.set_viewport_size({"width": width, "height": 900})
        path = screenshots(page, f"arrival-{name}-{width}.png")
        if extra:
            Path(extra, path.name).write_bytes(path.read_bytes())
    page.set_viewport_size({"width": 390, "height": 844})


@pytest.mark.parametrize("database_url", ["sqlite"], indirect=True)
def test_an_applicant_fills_in_the_intake_from_the_checklist(app, live_server, new_context, screenshots):
    context = new_context(bypass_csp=True, viewport={"width": 390, "height": 844}, device_scale_factor=1)
    page = context.new_page()
    page.set_default_timeout(10_000)
    consent.publish(DEMO_CONSENT, "The clinic's consent.", staff="test")
    booking, token = booked(lodging="shared")
    page.goto(f"{live_server.url}/bookings/manage/{token}")

    # 1. The checklist on the manage page: every step of every part, none done yet (the deposit is not the whole
    # price); the clinic's own step says so.
    checklist = page.get_by_role("region", name="Before you arrive")
    expect(checklist).to_contain_text("0 of 5 done")
    expect(checklist.locator("[data-step]")).to_have_count(5)
    expect(checklist.locator("[data-step=clearance]")).to_contain_text("The clinic does this step.")
    expect(checklist.locator("[data-step=balance]")).to_contain_text("$3,976 still to pay.")
    expect(checklist.get_by_role("link", name="Sign the informed consent")).to_be_visible()
    expect(checklist.locator("[data-step=intake]")).to_contain_text("To do")
    expect(checklist.locator("[data-step=intake]")).to_contain_text("Not started yet.")
    assert_page_basics(page)
    checked(page, screenshots, "manage-checklist")

    # 2. The intake form, sent with a mistake: the field is named, what was typed stays.
    focus_and_press(page, checklist.get_by_role("link", name="Fill in your intake form"))
    expect(page.get_by_role("heading", level=1)).to_have_text("Your intake before arrival")
    page.get_by_label("Emergency contact's name").fill("Jordan Rivera")
    page.get_by_label("Emergency contact's phone number").fill("call my sister")
    page.get_by_label("Who they are to you").fill("Sister")
    page.get_by_label("Dietary needs").fill("Vegetarian; no mushrooms")
    page.get_by_label("Accessibility needs").fill("none")
    page.get_by_label("Current medications").fill("Sertraline 50 mg each morning")
    page.get_by_label("Allergies").fill("Penicillin")
    choose_option(page, "Who takes you home after sessions?", "Someone I name here")
    page.get_by_label("Name of who takes you home").fill("Sam Okafor")
    page.get_by_label("Their phone number").fill("828 555 0188")
    page.get_by_label("Your arrival time on").fill("14:30")
    choose_option(page, "Sharing a room", "No preference")
    focus_and_press(page, page.get_by_role("button", name="Save my intake"))
    expect(page.get_by_role("alert")).to_contain_text(
        "Emergency contact's phone number: Enter a phone number with its area code")
    expect(page.get_by_label("Current medications")).to_have_value("Sertraline 50 mg each morning")
    assert_page_basics(page)
    checked(page, screenshots, "intake-refused")

    # 3. Corrected and saved: back on the manage page, the intake and the ride home are done.
    page.get_by_label("Emergency contact's phone number").fill("(828) 555-0177")
    focus_and_press(page, page.get_by_role("button", name="Save my intake"))
    expect(page.locator(".flash")).to_contain_text("Thank you: your intake is complete and saved.")
    checklist = page.get_by_role("region", name="Before you arrive")
    expect(checklist).to_contain_text("2 of 5 done")
    expect(checklist.locator("[data-step=intake]")).to_contain_text("Done")
    expect(checklist.locator("[data-step=ride_home]")).to_contain_text("Done")
    expect(checklist.locator("[data-step=balance]")).to_contain_text("To do")
    assert page.url.endswith("#checklist-heading")
    checked(page, screenshots, "manage-intake-done")

    # 4. The form again shows what was given, to correct it.
    page.goto(f"{live_server.url}/bookings/manage/{token}/intake")
    expect(page.get_by_label("Allergies")).to_have_value("Penicillin")
    expect(page.get_by_label("Your arrival time on")).to_have_value("14:30")
