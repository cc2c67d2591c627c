"""An applicant's whole journey in real Chromium with the demo provider: an estimate, the pre-screen answered
through its pages, choosing dates, a refused field, booking, the demo payment, the confirmed booking, its calendar
file, cancelling with the refund shown before and after. The cancellation policy (booking/policy.py) is shown on the
program, booking and payment pages, and the booking form asks for it to be accepted (a box left unticked is named in
the errors). Forms are filled and sent with the keyboard. Screenshots
land in test-artifacts/screenshots (booking-*.png) for a person to look at.

Expected figures come from domain/pricing.md: IV x4 with EMDR and a shared room is $4,970, the deposit $994
(20%, at least $500), the balance $3,976; cancelling 30 or more days before the start refunds what was paid less
the $100 administrative fee, so $894 of the deposit.
"""

import re

import pytest
import sqlalchemy as sa
from icalendar import Calendar
from playwright.sync_api import Page, expect

from retreat.booking import policy
from retreat.booking.models import Booking
from retreat.extensions import db
from retreat.screening.models import Screening
from tests.booking.support import eligible_token
from tests.e2e.test_catalog_journey import (
    PROGRAM_NAME,
    assert_every_control_labelled,
    assert_no_horizontal_overflow,
    assert_stays_local,
    total_of,
)
from tests.e2e.test_screening_journeys import (
    answer_about,
    answer_conditions,
    answer_feeling,
    answer_heart,
    answer_history,
    answer_safety_all_no,
    expect_step,
    press_button,
    type_into,
)

pytestmark = pytest.mark.browser

SECRET_PATH = re.compile(r"/bookings/(new|manage)/[A-Za-z0-9_\-]{20,}")


def assert_page_basics(page: Page) -> None:
    """What an accessibility checker looks at first: a language, a title, one h1, unique ids, every control and
    link named, no page that scrolls sideways, and no referrer leaving a page whose address holds a secret."""
    assert page.get_attribute("html", "lang") == "en"
    assert page.title().strip()
    expect(page.locator("h1")).to_have_count(1)
    duplicates = page.evaluate(
        "() => { const seen = {}; for (const el of document.querySelectorAll('[id]')) seen[el.id] = (seen[el.id]"
        " || 0) + 1; return Object.keys(seen).filter(id => seen[id] > 1); }")
    assert duplicates == [], duplicates
    links = page.locator("a[href]:visible")  # a folded <details> hides its links from everyone alike
    for index in range(links.count()):
        expect(links.nth(index)).to_have_accessible_name(re.compile(r"\S"))
    if page.get_by_role("main").locator("input:not([type=hidden]):not([type=submit]), select, textarea").count():
        assert_every_control_labelled(page.get_by_role("main"))
    assert_no_horizontal_overflow(page)
    # A phone widens its layout viewport to fit what overflows, so compare with the width asked for as well.
    assert page.evaluate("() => document.documentElement.scrollWidth") <= page.viewport_size["width"], page.url
    if SECRET_PATH.search(page.url):
        referrer = page.evaluate("() => document.querySelector('meta[name=referrer]:last-of-type').content")
        assert referrer == "no-referrer", page.url


def focus_and_press(page: Page, locator, key: str = "Enter") -> None:
    locator.focus()
    expect(locator).to_be_focused()
    page.keyboard.press(key)


def choose_option(page: Page, group: str, option: str) -> None:
    """Check a radio button with the keyboard: focus it by its label, press Space."""
    radio = page.get_by_role("group", name=group).get_by_label(option)
    focus_and_press(page, radio, "Space")
    expect(radio).to_be_checked()


def expect_the_policy(page: Page) -> None:
    """The cancellation and refund policy, every rule of it, in its own region of the page."""
    region = page.get_by_role("region", name="Cancellation and refunds")
    expect(region).to_be_visible()
    for point in policy.policy_points():
        expect(region).to_contain_text(point)


def retype(page: Page, label: str, text: str) -> None:
    """Replace a field's text with the keyboard."""
    field = page.get_by_label(label, exact=True)
    field.focus()
    page.keyboard.press("ControlOrMeta+a")
    page.keyboard.type(text)
    expect(field).to_have_value(text)


@pytest.mark.both_databases
def test_an_applicant_estimates_screens_books_pays_and_cancels_on_a_phone(demo, live_server, phone_page,
                                                                         request_log, screenshots):
    page = phone_page

    # 1. The estimate of the program.
    page.goto(live_server.url + "/")
    page.get_by_role("link", name=PROGRAM_NAME, exact=True).click()
    panel = page.get_by_role("region", name="See an itemised estimate")
    choose_option(page, "Where will you stay?", "Shared room")
    focus_and_press(page, panel.get_by_role("button", name="See my estimate"))
    expect(total_of(page)).to_have_text("$4,970")
    screenshots(page, "booking-1-estimate.png")

    # 2. From the program page, booking starts with the pre-screen.
    page.get_by_role("link", name="See dates for this program").click()
    book_path = page.get_by_role("link", name="Book: take the pre-screen first")
    expect(book_path).to_be_visible()
    expect_the_policy(page)
    assert_page_basics(page)
    screenshots(page, "booking-2-program.png")
    focus_and_press(page, book_path)
    expect(page.get_by_role("heading", level=1)).to_have_text("Health pre-screen")
    page.get_by_role("link", name="Start the pre-screen").click()
    expect_step(page, 1, "How you have been feeling")
    answer_feeling(page)
    answer_safety_all_no(page)
    answer_about(page)
    answer_heart(page, ("122", "78"))
    answer_conditions(page)
    answer_history(page)
    expect(page.get_by_role("heading", level=1)).to_have_text("Nothing in your answers rules out this treatment")
    screenshots(page, "booking-3-eligible.png")

    # 3. Choosing dates: the page opens on the program whose Book was pressed, first and unfolded, the others
    # folded away; its full group offers its waitlist, an open one is chosen by a button naming its dates.
    focus_and_press(page, page.get_by_role("link", name="Choose your dates"))
    expect(page.get_by_role("heading", level=1)).to_have_text("Choose your dates")
    expect(page).to_have_url(SECRET_PATH)
    offers = page.locator("section.offer")
    expect(offers.first.get_by_role("heading", level=2)).to_have_text(PROGRAM_NAME)
    assert offers.count() > 3
    expect(page.locator("section.offer details[open]")).to_have_count(1)
    offer = page.get_by_role("region", name=PROGRAM_NAME, exact=True)
    expect(offer.locator("details")).to_have_attribute("open", "")
    expect(offer.get_by_role("link", name=re.compile(r"^Join the waitlist for "))).to_have_count(1)
    expect(offer.locator("dl.lodging-prices")).to_contain_text("$4,970")
    choices = offer.get_by_role("link", name=re.compile(r"^Choose \d"))
    expect(choices).to_have_count(2)
    names = [choices.nth(i).get_attribute("aria-label") for i in range(2)]
    assert len(set(names)) == 2, names
    expect(choices.first).to_contain_text(names[0].removesuffix(f", {PROGRAM_NAME}"))  # the label is in the name
    # Compact on a phone: each folded program a short card, the whole page far from the 5,400px of one button per
    # date that it was.
    heights = offers.evaluate_all("sections => sections.map(s => s.getBoundingClientRect().height)")
    assert max(heights[1:]) < 280, heights
    height = page.evaluate("() => document.documentElement.scrollHeight")
    assert height < 3500, f"the dates page is {height}px tall on a phone"
    assert_page_basics(page)
    screenshots(page, "booking-4-choose-dates.png")
    row = offer.locator("li.cohort-row").filter(has=page.get_by_role("link", name=re.compile(r"^Choose \d"))).first
    dates = row.locator(".cohort-dates").inner_text()
    first_open = row.get_by_role("link")
    focus_and_press(page, first_open)

    # 4. The booking form: price, deposit, balance and due date before anything is held; a refused email.
    expect(page.get_by_role("heading", level=1)).to_have_text(f"Book your seat: {PROGRAM_NAME}")
    expect(page.get_by_role("group", name="Your dates").get_by_label(re.compile(re.escape(dates)))).to_be_checked()
    shared = page.get_by_role("group", name="Where will you stay?").get_by_label(re.compile(r"^Shared room"))
    expect(shared).to_have_accessible_name(re.compile(
        r"\$4,970 in all: \$994 deposit to hold your seat, then a balance of \$3,976"))
    expect(page.get_by_role("group", name="Your dates")).to_contain_text(
        re.compile(r"balance due (Mon|Tue|Wed|Thu|Fri|Sat|Sun) \d{1,2} [A-Z][a-z]{2} \d{4}"))
    choose_option(page, "Where will you stay?", "Shared room")
    type_into(page, "First name", "Rosalind")
    type_into(page, "Last name", "Abernathy-Quist")
    type_into(page, "Email address", "rosalind.aq@")
    type_into(page, "Phone number", "+1 555 013 4477")
    expect_the_policy(page)
    accept = page.get_by_label("I have read the cancellation and refund policy above, and I accept it")
    expect(accept).not_to_be_checked()
    assert_page_basics(page)
    screenshots(page, "booking-5-form.png")
    press_button(page, "Hold my seat and continue to payment")

    expect(page).to_have_title(re.compile(r"^There is a problem: "))
    summary = page.get_by_role("alert")
    expect(summary).to_contain_text("Email address: Enter an email address like name@example.com.")
    expect(summary).to_contain_text("I have read the cancellation and refund policy above, and I accept it: Read "
                                    "and accept the cancellation and refund policy to book.")
    expect(accept).to_have_attribute("aria-invalid", "true")
    email = page.get_by_label("Email address", exact=True)
    expect(email).to_have_attribute("aria-invalid", "true")
    expect(email).to_have_accessible_description(re.compile(r"Enter an email address like name@example.com"))
    expect(page.get_by_label("First name", exact=True)).to_have_value("Rosalind")
    summary.get_by_role("link").first.click()
    expect(email).to_be_focused()
    assert_page_basics(page)
    screenshots(page, "booking-6-form-error.png")
    retype(page, "Email address", "rosalind.aq@example.org")
    focus_and_press(page, accept, "Space")
    expect(accept).to_be_checked()
    press_button(page, "Hold my seat and continue to payment")

    # 5. The demo payment: clearly a test, no script, nothing leaves 127.0.0.1; the policy is shown again.
    expect(page.get_by_role("heading", level=1)).to_have_text("Pay the deposit: $994")
    expect(page.locator("p.notice")).to_contain_text("no money moves")
    expect_the_policy(page)
    expect(page.locator("script")).to_have_count(0)
    # The clinic can be reached from the page (phone first), and the hold ends in its zone: the pinned clock is a
    # Monday morning in New York, so 30 minutes from now is a morning time in EST, not 14:30 UTC.
    footer_phone = page.locator("footer").get_by_role("link", name="(828) 555-0142")
    expect(footer_phone).to_have_attribute("href", "tel:+18285550142")
    expect(page.locator("p.lead time")).to_have_text(re.compile(r"^Mon 6 Dec 2027, 9:[3-5]\d AM EST$"))
    expect(page.locator("p.lead time")).to_have_attribute("datetime", re.compile(r"^2027-12-06T09:[3-5]\d:\d\d-05:00$"))
    assert_page_basics(page)
    screenshots(page, "booking-7-pay-demo.png")
    focus_and_press(page, page.get_by_role("button", name="Test payment — no money moves (demo mode)"))

    # 6. Confirmed: status, price, the payment, the calendar file.
    expect(page.get_by_role("heading", level=2, name="Your booking is confirmed")).to_be_visible()
    expect(page.get_by_role("status")).to_contain_text("Thank you: your test payment of $994 is received.")
    payments = page.get_by_role("table", name=re.compile(r"^Payments and refunds"))
    expect(payments.locator("tbody tr")).to_have_count(1)
    expect(payments.locator("tbody tr").first).to_contain_text("$994.00")
    expect(page.get_by_role("link", name="Pay the balance ($3,976)")).to_be_visible()
    assert_page_basics(page)
    screenshots(page, "booking-8-confirmed.png")
    booking = db.session.scalars(sa.select(Booking).where(Booking.applicant_last_name == "Abernathy-Quist")).one()
    assert booking.status == "confirmed" and booking.total_cents == 497000
    assert booking.policy_version == policy.POLICY_VERSION and booking.policy_accepted_at is not None
    with page.expect_download() as download:
        page.get_by_role("link", name="Add the dates to my calendar (.ics)").click()
    [event] = Calendar.from_ical(download.value.path().read_bytes()).walk("VEVENT")
    assert f"Booking reference: {booking.reference}" in str(event["description"])
    assert event.decoded("dtstart") == booking.cohort.start_date
    assert download.value.suggested_filename == f"retreat-{booking.reference}.ics"

    # 7. Cancelling: the refund the policy gives, before and after.
    focus_and_press(page, page.get_by_role("link", name="Cancel this booking"))
    expect(page.get_by_role("heading", level=1)).to_have_text("Cancel your booking?")
    refund = page.get_by_role("region", name="What you get back")
    expect(refund.get_by_test_id("refund")).to_have_text("$894")
    expect(refund).to_contain_text("30 days or more before the start: everything paid, less a $100 administrative fee")
    assert_page_basics(page)
    screenshots(page, "booking-9-cancel.png")
    focus_and_press(page, page.get_by_role("button", name="Cancel my booking"))

    expect(page.get_by_role("heading", level=2, name="This booking is cancelled")).to_be_visible()
    expect(page.get_by_role("status")).to_contain_text("We are refunding $894.")
    rows = payments.locator("tbody tr")
    expect(rows).to_have_count(2)
    expect(rows.nth(1)).to_contain_text("Refund")
    expect(rows.nth(1)).to_contain_text("-$894.00")
    expect(page.get_by_role("link", name="Cancel this booking")).to_have_count(0)
    expect(page.get_by_role("link", name=re.compile(r"^Pay "))).to_have_count(0)
    expect(page.locator("dl.totals")).to_contain_text(re.compile(r"Still to pay\s*\$0"))
    expect(page.locator("dl.totals")).not_to_contain_text("Due by")
    assert_page_basics(page)
    assert_stays_local(page, request_log)
    screenshots(page, "booking-10-cancelled.png")
    db.session.rollback()  # end the test's read transaction: the server committed since
    assert db.session.get(Booking, booking.id).status == "cancelled"


def test_the_keyboard_reaches_the_booking_form_in_order_and_the_pages_fit_a_desktop(demo, live_server, desktop_page,
                                                                                    request_log, screenshots):
    page = desktop_page
    token = eligible_token()
    page.goto(f"{live_server.url}/bookings/new/{token}")
    assert_page_basics(page)
    screenshots(page, "booking-choose-dates-desktop.png")
    # Without a program chosen, every program's dates are folded away until asked for.
    expect(page.locator("section.offer details[open]")).to_have_count(0)
    page.get_by_role("region", name=PROGRAM_NAME, exact=True).locator("summary").click()
    page.get_by_role("link", name=re.compile(rf"^Choose \d.*{re.escape(PROGRAM_NAME)}")).first.click()

    # Tab from the first date: dates, lodging, then the details in reading order, then the button.
    dates = page.get_by_role("group", name="Your dates").get_by_role("radio")
    dates.first.focus()
    order = []
    for _ in range(11):
        page.keyboard.press("Tab")
        order.append(page.evaluate("() => document.activeElement.name || document.activeElement.textContent.trim()"))
    assert order == ["lodging", "first_name", "last_name", "email", "phone", "promo_code", "payment_plan",
                     "reduced_fee", "reduced_fee_reason", "policy_accepted",
                     "Hold my seat and continue to payment"]
    assert_page_basics(page)
    screenshots(page, "booking-form-desktop.png")

    type_into(page, "First name", "Ada")
    type_into(page, "Last name", "Byron")
    type_into(page, "Email address", "ada@example.org")
    type_into(page, "Phone number", "555 010 2222")
    page.get_by_label("I have read the cancellation and refund policy above, and I accept it").check()
    press_button(page, "Hold my seat and continue to payment")
    expect(page.get_by_role("heading", level=1)).to_have_text(re.compile(r"^Pay the deposit: \$"))
    screenshots(page, "booking-pay-desktop.png")
    page.get_by_role("link", name=re.compile(r"^Your booking RT-")).click()
    expect(page.get_by_role("heading", level=2, name="Your seat is held")).to_be_visible()
    assert_page_basics(page)
    screenshots(page, "booking-held-desktop.png")

    # Cancelled before paying, the booking frees its pre-screen: the result page offers the dates again, and the
    # same pre-screen holds a seat again.
    page.get_by_role("link", name="Cancel this booking").click()
    page.get_by_role("button", name="Cancel my booking").click()
    expect(page.get_by_role("heading", level=2, name="This booking is cancelled")).to_be_visible()
    page.goto(f"{live_server.url}/screening/result/{token}")
    expect(page.locator("[data-state=freed]")).to_contain_text("Your earlier booking with this pre-screen ended")
    screenshots(page, "screening-result-freed-desktop.png")
    page.get_by_role("link", name="Choose your dates").first.click()
    page.get_by_role("region", name=PROGRAM_NAME, exact=True).locator("summary").click()
    page.get_by_role("link", name=re.compile(rf"^Choose \d.*{re.escape(PROGRAM_NAME)}")).first.click()
    page.get_by_label("First name").fill("Ada")
    page.get_by_label("Last name").fill("Byron")
    page.get_by_label("Email address").fill("ada@example.org")
    page.get_by_label("Phone number").fill("555 010 2222")
    page.get_by_label("I have read the cancellation and refund policy above, and I accept it").check()
    page.get_by_role("button", name="Hold my seat and continue to payment").click()
    expect(page.get_by_role("heading", level=1)).to_have_text(re.compile(r"^Pay the deposit: \$"))
    db.session.rollback()
    assert [b.status for b in db.session.scalars(sa.select(Booking).order_by(Booking.id))
            if b.applicant_last_name == "Byron"] == ["cancelled", "held"]
    assert_stays_local(page, request_log)


def test_a_full_group_takes_a_waitlist_and_a_crisis_pre_screen_leads_to_help_only(demo, live_server, phone_page,
                                                                                 request_log, screenshots):
    page = phone_page
    page.goto(f"{live_server.url}/bookings/new/{eligible_token()}")
    offer = page.get_by_role("region", name=PROGRAM_NAME, exact=True)
    focus_and_press(page, offer.locator("summary"))  # unfold its dates with the keyboard
    focus_and_press(page, offer.get_by_role("link", name=re.compile(r"^Join the waitlist for ")))
    expect(page.get_by_role("heading", level=1)).to_have_text(re.compile(rf"^Join the waitlist: {PROGRAM_NAME}, "))
    choose_option(page, "Where would you stay?", "Private room")
    type_into(page, "First name", "Sam")
    type_into(page, "Last name", "Okafor")
    type_into(page, "Email address", "sam@example.org")
    type_into(page, "Phone number", "555 010 3333")
    assert_page_basics(page)
    screenshots(page, "booking-waitlist-form.png")
    press_button(page, "Join the waitlist")
    expect(page.get_by_role("heading", level=1)).to_have_text("You are on the waitlist")
    expect(page.get_by_role("main")).to_contain_text("number 1 in line")
    assert_page_basics(page)
    screenshots(page, "booking-waitlist-joined.png")

    token = eligible_token()
    screening = db.session.scalars(sa.select(Screening).order_by(Screening.id.desc())).first()
    screening.outcome = "crisis"
    db.session.commit()
    page.goto(f"{live_server.url}/bookings/new/{token}")
    expect(page.get_by_role("heading", level=1)).to_have_text(
        "Please reach out now. You don’t have to go through this alone.")
    hrefs = page.eval_on_selector_all("a[href]", "links => links.map(a => a.getAttribute('href'))")
    assert set(hrefs) <= {"#main", "tel:988", "sms:988", "https://988lifeline.org", "tel:911"}, hrefs
    expect(page.locator("form")).to_have_count(0)
    assert_page_basics(page)
    assert_stays_local(page, request_log)
    screenshots(page, "booking-crisis-no-booking.png")
