"""The readiness board in real Chromium: a clinician signs in, follows their to-do to the readiness list and a
cohort's board, records a medical clearance for a booking (a follow-up without a note is refused beside the
field, then given with one), and sees the row change on the board; axe finds nothing wrong on the board or the
clearance page at 390 and 1280 px. Screenshots land in test-artifacts/screenshots (readiness-*.png)."""

import re

import pytest
import sqlalchemy as sa
from playwright.sync_api import Page, expect

from retreat.booking import services as booking_services
from retreat.catalog.models import Program
from retreat.extensions import db
from tests.booking.support import eligible_token
from tests.conftest import STAFF_PASSWORD
from tests.e2e.conftest import LONGEST_PROGRAM_SLUG
from tests.e2e.test_booking_journey import assert_page_basics
from tests.support.axe import describe, require_axe, violations

pytestmark = pytest.mark.browser

NAME = ("Rosalind", "Abernathy-Quist")
NOTE = "Resting ECG borderline; repeat before the first infusion."


def checked_at_both_widths(page: Page, screenshots, name: str) -> None:
    """No axe violation at 390 and 1280 px, and a screenshot of each."""
    for width in (390, 1280):
        page.set_viewport_size({"width": width, "height": 900})
        found = violations(page)
        assert not found, describe(found, f"{name} at {width}px: ")
        screenshots(page, f"readiness-{name}-{width}.png")
    page.set_viewport_size({"width": 1280, "height": 900})


@pytest.mark.parametrize("database_url", ["sqlite"], indirect=True)
def test_a_clinician_records_a_clearance_from_the_board(demo, staff_user, live_server, new_context, screenshots):
    require_axe()
    program = db.session.scalars(sa.select(Program).where(Program.slug == LONGEST_PROGRAM_SLUG)).one()
    [cohort] = program.cohorts
    created = booking_services.create_booking(
        cohort_id=cohort.id, screening_token=eligible_token(), lodging="private", payment_provider="demo",
        applicant={"first_name": NAME[0], "last_name": NAME[1], "email": "rosalind.aq@example.org",
        "phone": "+1 555 013 4477"}, policy_accepted=True)
    reference = created.booking.reference
    booking_services.payment_received(reference, kind="deposit", amount_cents=created.booking.deposit_cents,
                                      provider="demo", provider_reference=f"demo_{reference}", actor="test")
    clinician = staff_user("clinician")

    context = new_context(bypass_csp=True, viewport={"width": 1280, "height": 900}, device_scale_factor=1)
    page = context.new_page()
    page.set_default_timeout(10_000)
    page.goto(f"{live_server.url}/staff/login")
    page.get_by_label("Email").fill(clinician.email)
    page.get_by_label("Password").fill(STAFF_PASSWORD)
    page.get_by_role("button", name="Sign in").click()

    # 1. The to-do leads to the dates with a board, and on to this cohort's board.
    page.get_by_role("list", name="To do").get_by_role("link", name=re.compile("Bookings to clear")).click()
    expect(page.get_by_role("heading", level=1)).to_have_text("Readiness before arrival")
    for width in (390, 1280):  # axe checks this page in the accessibility walk
        page.set_viewport_size({"width": width, "height": 900})
        screenshots(page, f"readiness-0-dates-{width}.png")
    page.get_by_role("row", name=re.compile(re.escape(program.name))).get_by_role("link").click()
    expect(page.get_by_role("heading", level=1)).to_contain_text(f"Readiness: {program.name}")
    row = page.locator(f"#row-{reference}")
    clearance_cell = row.locator("td[data-step^=clearance]")
    expect(clearance_cell).to_have_text("Not yet reviewed")
    expect(row.locator("td[data-ready]")).not_to_have_text("Ready")
    assert_page_basics(page)
    checked_at_both_widths(page, screenshots, "1-board")

    # 2. The clearance page: a follow-up needs a note.
    row.get_by_role("link", name=re.compile(f"Record clearance of {NAME[0]} {NAME[1]}")).click()
    expect(page.get_by_role("heading", level=1)).to_have_text(f"Medical clearance: {NAME[0]} {NAME[1]}")
    page.get_by_label("Needs follow-up").check()
    page.get_by_role("button", name="Save the clearance").click()
    expect(page.get_by_role("alert")).to_contain_text("Say what needs following up")
    expect(page.get_by_label("Note (clinicians only)")).to_have_attribute("aria-invalid", "true")
    assert_page_basics(page)
    checked_at_both_widths(page, screenshots, "2-clearance-refused")
    page.get_by_label("Note (clinicians only)").fill(NOTE)
    page.get_by_role("button", name="Save the clearance").click()

    # 3. Back on the board, the row says so (and never the note); then cleared.
    expect(page.locator(".flash").first).to_contain_text(f"Clearance of {reference} saved: needs follow-up.")
    expect(clearance_cell).to_have_text("Needs follow-up")
    expect(page.locator("main")).not_to_contain_text(NOTE)
    row.get_by_role("link", name=re.compile("Change clearance")).click()
    expect(page.get_by_label("Note (clinicians only)")).to_have_value(NOTE)
    expect(page.locator("#clearance-now")).to_contain_text("Needs follow-up, by ")
    page.get_by_label("Cleared", exact=True).check()
    page.get_by_role("button", name="Save the clearance").click()
    expect(clearance_cell).to_have_text("Cleared")
    expect(page.locator("#readiness-counts")).to_contain_text("ready")
    checked_at_both_widths(page, screenshots, "3-board-after")
    context.close()
