"""No public page scrolls sideways on the narrowest phones in use (320 px) or a common one (390 px), with the
longest strings a real catalog holds on them (tests/e2e/conftest.py: a 95-character program name, a cohort from
28 December to 10 January, a $10,000 price) and a long applicant name. One page load per page and width;
screenshots at 320 px land in test-artifacts/screenshots (layout-320-*.png) for a person to look at.
"""

import pytest
import sqlalchemy as sa
from playwright.sync_api import expect

from retreat.booking import services as booking_services
from retreat.booking.availability import seats_left
from retreat.catalog.models import Cohort
from retreat.catalog.services import estimate_for_program
from retreat.extensions import db
from retreat.screening import services as screening_services
from tests.booking.support import eligible_token, ineligible_token, review_token
from tests.e2e.conftest import LONGEST_PRICE, LONGEST_PROGRAM_NAME
from tests.screening.test_review_queue import CRISIS_CSSRS, valid_answers

pytestmark = pytest.mark.browser

LONG_APPLICANT = {"first_name": "Maximiliana-Evangelina", "last_name": "Wolfeschlegelsteinhausen-Bergerdorff",
                  "email": "maximiliana.evangelina.wolfeschlegelsteinhausen@example.org",
                  "phone": "+1 (555) 013-4477"}


def _booking(cohort: Cohort, lodging: str = "private", token: str | None = None) -> booking_services.Created:
    return booking_services.create_booking(policy_accepted=True, cohort_id=cohort.id,
                                           screening_token=token or eligible_token(),
                                           lodging=lodging, applicant=LONG_APPLICANT)


def public_pages(longest_program) -> dict[str, str]:
    """Every kind of public page, by a name for its screenshot: path."""
    [cohort] = longest_program.cohorts
    full = next((c for c in db.session.scalars(sa.select(Cohort).order_by(Cohort.start_date)) if seats_left(c) == 0),
                None)
    estimate = estimate_for_program(longest_program.slug, "private")
    crisis = screening_services.submit(valid_answers(cssrs=CRISIS_CSSRS)).token
    eligible = eligible_token()
    held = _booking(cohort)
    confirmed = _booking(cohort)
    booking_services.payment_received(confirmed.booking.reference, kind="deposit",
                                      amount_cents=confirmed.booking.deposit_cents, provider="demo",
                                      provider_reference="demo_layout_deposit", actor="test")
    awaiting_review = _booking(cohort, "shared", review_token())
    cancelled = _booking(cohort, "shared")
    booking_services.cancel_booking(cancelled.booking)
    pages = {
        "catalog": "/",
        "program": f"/programs/{longest_program.slug}",
        "estimate-form": "/estimate",
        "estimate": f"/estimates/{estimate.id}",
        # Book on the longest program's page: the intro names it, and the dates page opens on it.
        "screening-intro": f"/screening/?program={longest_program.slug}",
        "screening-step": "/screening/questions",
        "result-eligible": f"/screening/result/{eligible}",
        "result-review": f"/screening/result/{review_token()}",
        "result-ineligible": f"/screening/result/{ineligible_token()}",
        "result-crisis": f"/screening/result/{crisis}",
        "choose-dates": f"/bookings/new/{eligible}",  # the longest program's dates unfolded (see the intro)
        "booking-form": f"/bookings/new/{eligible}?cohort={cohort.id}",
        "manage-held": f"/bookings/manage/{held.manage_token}",
        "pay": f"/bookings/manage/{held.manage_token}/pay",
        "manage-confirmed": f"/bookings/manage/{confirmed.manage_token}",
        "manage-review-unconfirmed": f"/bookings/manage/{awaiting_review.manage_token}",
        "cancel": f"/bookings/manage/{confirmed.manage_token}/cancel",
        "manage-cancelled": f"/bookings/manage/{cancelled.manage_token}",
        "waitlist": f"/bookings/new/{eligible}?cohort={full.id}",
        "not-found": "/programs/no-such-program",
        "contact": "/contact",
    }
    return pages


@pytest.mark.parametrize("width", [320, 390])
def test_no_public_page_scrolls_sideways_on_a_phone(longest_program, live_server, new_context, screenshots, width):
    pages = public_pages(longest_program)
    context = new_context(viewport={"width": width, "height": 740}, is_mobile=True, has_touch=True,
                          device_scale_factor=1)
    page = context.new_page()
    page.set_default_timeout(10_000)
    too_wide = {}
    for name, path in pages.items():
        page.goto(live_server.url + path)
        expect(page.locator("h1")).to_have_count(1)
        scroll_width = page.evaluate("() => document.documentElement.scrollWidth")
        if scroll_width > width:
            too_wide[name] = scroll_width
        if width == 320:
            screenshots(page, f"layout-320-{name}.png")
    assert too_wide == {}, f"pages wider than {width}px: {too_wide}"


def test_the_longest_strings_are_on_the_pages_they_test(longest_program, live_server, phone_page):
    """The layout test above proves something only if the long strings are really shown."""
    page = phone_page
    page.goto(f"{live_server.url}/programs/{longest_program.slug}")
    expect(page.get_by_role("heading", level=1)).to_have_text(LONGEST_PROGRAM_NAME)
    expect(page.get_by_role("table").locator("td.dates")).to_have_text("28 Dec 2027 – 10 Jan 2028")
    expect(page.locator(".price-range")).to_contain_text(LONGEST_PRICE)
    page.get_by_role("link", name="Book: take the pre-screen first").click()
    page.goto(f"{live_server.url}/bookings/new/{eligible_token()}")
    offer = page.get_by_role("region", name=LONGEST_PROGRAM_NAME, exact=True)
    expect(offer.get_by_role("link", name=f"Choose 28 Dec 2027 – 10 Jan 2028, {LONGEST_PROGRAM_NAME}",
                             exact=True)).to_be_visible()
    expect(offer.locator("dl.lodging-prices")).to_contain_text(LONGEST_PRICE)
