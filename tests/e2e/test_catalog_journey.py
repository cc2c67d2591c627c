"""An applicant's journey in a real browser: catalog, program, estimate, a refused custom configuration,
the keyboard, and no request leaving 127.0.0.1. Screenshots land in test-artifacts/screenshots for a person.

Expected figures come from domain/pricing.md (default prices, deposit 20% rounded up to the dollar, at least
$500; lodging is not HSA/FSA-eligible), not from the estimator under test.
"""

import re
from urllib.parse import urlsplit

import pytest
from playwright.sync_api import Page, expect

from retreat.demo import DEMO_PROGRAMS

pytestmark = pytest.mark.browser

PROGRAM_SLUG = "iv-emdr-one-week"
PROGRAM_NAME = "IV Ketamine with EMDR, One Week"
ROUTES = ("IV ketamine", "IM ketamine", "Sublingual ketamine", "Esketamine (Spravato)")
MODALITIES = ("EMDR", "ART", "IFS")
LENGTH = re.compile(r"\b(\d+ weeks?|\d+ days)\b")
PRICE_RANGE = re.compile(r"\$\d{1,2},\d{3}(\s*–\s*\$\d{1,2},\d{3})?")
START_DATE = re.compile(r"(Mon|Tue|Wed|Thu|Fri|Sat|Sun) \d{1,2} [A-Z][a-z]{2} \d{4}")
SEATS = re.compile(r"\d+ seats? left")


def _field(label: str):
    """The value of a row of the estimate's totals, by its term."""
    return lambda page: page.locator("dl.totals > div").filter(
        has=page.locator("dt", has_text=re.compile(rf"^{re.escape(label)}$"))).locator("dd:not(.row-note)")


total_of, deposit_of, balance_of, hsa_fsa_of = (
    _field("Total"), _field("Deposit to book a seat"), _field("Balance"), _field("HSA/FSA-eligible part"))


def assert_stays_local(page: Page, request_log) -> None:
    """No <script> loads from elsewhere, and the browser asked nothing of any host but 127.0.0.1."""
    sources = page.eval_on_selector_all("script[src]", "scripts => scripts.map(s => s.src)")
    assert [src for src in sources if urlsplit(src).hostname != "127.0.0.1"] == [], page.url
    assert request_log.urls, "no request was recorded: the log is not wired to the page"
    assert request_log.foreign() == []


def assert_every_control_labelled(scope) -> None:
    controls = scope.locator("input:not([type=hidden]):not([type=submit]), select, textarea")
    assert controls.count() > 0
    for index in range(controls.count()):
        expect(controls.nth(index)).to_have_accessible_name(re.compile(r"\S"))


def test_the_demo_program_is_the_configuration_pricing_md_prices_at_4970():
    """The $4,970 example of pricing.md: IV x4, EMDR integration x4, intensive x1, shared room x 6 nights."""
    spec = next(p for p in DEMO_PROGRAMS if p["slug"] == PROGRAM_SLUG)
    assert spec["name"] == PROGRAM_NAME
    assert (spec["duration_days"], spec["ketamine_route"], spec["dosing_sessions"], spec["therapy_modality"],
            spec["integration_sessions"], spec["intensive_sessions"]) == (7, "iv", 4, "emdr", 4, 1)
    assert "shared" in spec["lodging_options"]
    assert 300 + 4 * 600 + 4 * 200 + 1 * 750 + (7 - 1) * 120 == 4970


def test_applicant_finds_a_program_and_its_estimate_on_a_phone(demo, live_server, phone_page, request_log,
                                                                screenshots):
    page = phone_page

    # 1. The catalog lists the programs, each with its facts.
    page.goto(live_server.url + "/")
    expect(page.get_by_role("heading", level=1)).to_have_text("Ketamine-assisted therapy retreats")
    cards = page.locator(".program-list > li")
    expect(cards.first).to_be_visible()
    assert cards.count() >= 6
    for index in range(cards.count()):
        card = cards.nth(index)
        text = card.inner_text()
        name = card.get_by_role("heading", level=3).inner_text()
        assert any(route in text for route in ROUTES), name
        assert any(re.search(rf"\b{modality}\b", text) for modality in MODALITIES), name
        assert LENGTH.search(text), name
        assert PRICE_RANGE.search(text), name
        assert START_DATE.search(text), name
        assert SEATS.search(text), name
    assert_no_horizontal_overflow(page)
    assert_stays_local(page, request_log)
    screenshots(page, "catalog-home-mobile.png")

    # 2. The program page; the full cohort is marked "Full".
    page.get_by_role("link", name=PROGRAM_NAME, exact=True).click()
    expect(page).to_have_url(f"{live_server.url}/programs/{PROGRAM_SLUG}")
    expect(page.get_by_role("heading", level=1)).to_have_text(PROGRAM_NAME)
    dates = page.get_by_role("table", name=re.compile(f"Upcoming dates for {re.escape(PROGRAM_NAME)}"))
    rows = dates.locator("tbody tr")
    expect(rows).to_have_count(3)
    full_rows = rows.filter(has=page.locator(".badge", has_text=re.compile(r"^Full$")))
    expect(full_rows).to_have_count(1)
    expect(full_rows.get_by_text("Full", exact=True)).to_be_visible()
    expect(rows.filter(has_text=SEATS)).to_have_count(2)
    assert_no_horizontal_overflow(page)
    assert_stays_local(page, request_log)
    screenshots(page, "program-mobile.png")

    # 3. Lodging chosen with the keyboard, by label; submitted with the keyboard.
    estimate_panel = page.get_by_role("region", name="See an itemised estimate")
    assert_every_control_labelled(estimate_panel)
    lodging = estimate_panel.get_by_role("group", name="Where will you stay?")
    private, shared = lodging.get_by_label("Private room", exact=True), lodging.get_by_label("Shared room",
                                                                                          exact=True)
    private.focus()
    page.keyboard.press("Space")
    expect(private).to_be_checked()
    page.keyboard.press("ArrowUp")
    expect(shared).to_be_checked()
    expect(private).not_to_be_checked()
    estimate_panel.get_by_role("button", name="See my estimate").focus()
    page.keyboard.press("Enter")

    expect(page).to_have_url(re.compile(rf"^{re.escape(live_server.url)}/estimates/[^/]+$"))
    expect(page.get_by_role("heading", level=1)).to_have_text("Your estimate")
    expect(page.get_by_test_id("estimate-total")).to_have_text("$4,970")
    expect(total_of(page)).to_have_text("$4,970")
    expect(deposit_of(page)).to_have_text("$994")            # 20% of $4,970, at least $500
    expect(balance_of(page)).to_contain_text("$3,976")
    expect(hsa_fsa_of(page)).to_have_text("$4,250")          # all but the $720 of lodging
    where = page.get_by_role("region", name="Where the money goes")
    picture = where.get_by_role("img", name=re.compile(r"^Share of the total: "))
    expect(picture).to_be_visible()
    # 14.49% of the total: largest-remainder rounding gives it the point that makes the shares add up to 100.
    expect(picture).to_have_accessible_name(re.compile(r"Lodging 15%"))
    box = picture.bounding_box()
    assert box and box["width"] > 300 and box["height"] > 20
    expect(where.get_by_role("listitem")).to_have_text([
        "Medical assessment: $300 (6%)",
        "Ketamine sessions: $2,400 (48%)",
        "Integration therapy: $800 (16%)",
        "Therapy intensives: $750 (15%)",
        "Lodging: $720 (15%)",
    ])
    assert_no_horizontal_overflow(page)
    assert_stays_local(page, request_log)
    screenshots(page, "estimate-mobile.png")


def test_a_refused_custom_configuration_is_explained_next_to_its_field_on_a_phone(
        demo, live_server, phone_page, request_log, screenshots):
    page = phone_page
    page.goto(live_server.url + "/")
    page.get_by_role("navigation", name="Main").get_by_role("link", name="Cost estimate").click()
    expect(page).to_have_url(f"{live_server.url}/estimate")

    custom = page.get_by_role("region", name="Or build your own")
    assert_every_control_labelled(page.get_by_role("main"))
    custom.get_by_label("Length of stay").select_option(label="7 days")
    custom.get_by_label("Esketamine (Spravato)", exact=True).check()
    dosing = custom.get_by_label("Dosing sessions", exact=True)
    dosing.fill("6")
    custom.get_by_label("IFS (Internal Family Systems)").check()
    custom.get_by_label("Integration therapy sessions").fill("4")
    custom.get_by_label("One", exact=True).check()
    custom.get_by_label("Shared room", exact=True).check()
    custom.get_by_role("button", name="See my estimate").click()

    expect(page).to_have_url(f"{live_server.url}/estimate#custom-estimate-heading")
    expect(page).to_have_title(re.compile(r"^There is a problem"))
    expect(page.get_by_role("alert")).to_contain_text("2 to 4 dosing sessions")
    custom = page.get_by_role("region", name="Or build your own")
    dosing = custom.get_by_label("Dosing sessions", exact=True)
    expect(dosing).to_have_attribute("aria-invalid", "true")
    expect(dosing).to_have_value("6")
    expect(custom.get_by_label("Esketamine (Spravato)", exact=True)).to_be_checked()
    error = custom.locator(".field").filter(has=page.get_by_label("Dosing sessions", exact=True)).locator(
        ".field-errors")
    expect(error).to_be_visible()
    expect(error).to_have_text("Esketamine (Spravato) programs have 2 to 4 dosing sessions.")
    expect(dosing).to_have_accessible_description(re.compile(r"2 to 4 dosing sessions"))
    error_box, input_box = error.bounding_box(), dosing.bounding_box()
    gap = input_box["y"] - (error_box["y"] + error_box["height"])
    assert 0 <= gap < 40, f"the error is {gap}px from its field"
    dosing.scroll_into_view_if_needed()
    assert_no_horizontal_overflow(page)
    assert_stays_local(page, request_log)
    screenshots(page, "estimate-error-mobile.png")

    dosing.fill("4")
    custom.get_by_role("button", name="See my estimate").click()
    expect(page).to_have_url(re.compile(rf"^{re.escape(live_server.url)}/estimates/[^/]+$"))
    # 300 + 4 x 900 + 4 x 200 + 815 (an IFS intensive in the browser tests' price list) + 6 x 120
    expect(page.get_by_test_id("estimate-total")).to_have_text("$6,235")
    expect(deposit_of(page)).to_have_text("$1,247")
    expect(hsa_fsa_of(page)).to_have_text("$5,515")
    assert_stays_local(page, request_log)

    # The custom estimate leads to the program with its route, therapy and length, where booking starts.
    like = page.get_by_role("region", name="Programs like this one")
    expect(like).to_contain_text("1 of our programs has")
    like.get_by_role("link", name="Esketamine (Spravato) with IFS, One Week").click()
    expect(page).to_have_url(f"{live_server.url}/programs/esketamine-ifs-one-week")
    expect(page.get_by_role("heading", level=1)).to_have_text("Esketamine (Spravato) with IFS, One Week")
    assert_no_horizontal_overflow(page)


def test_keyboard_reaches_the_skip_link_first_then_the_main_navigation(demo, live_server, phone_page,
                                                                       request_log):
    page = phone_page
    page.goto(live_server.url + "/")
    skip = page.get_by_role("link", name="Skip to main content")
    page.keyboard.press("Tab")
    expect(skip).to_be_focused()
    box = skip.bounding_box()
    assert box and box["x"] >= 0 and box["y"] >= 0, "the skip link stays off screen when focused"

    nav = page.get_by_role("navigation", name="Main")
    focused = []
    for _ in range(6):
        page.keyboard.press("Tab")
        focused.append(page.evaluate(
            "() => ({text: document.activeElement.textContent.trim(),"
            " inNav: !!document.activeElement.closest('nav[aria-label=Main]'),"
            " inMain: !!document.activeElement.closest('main')})"))
    nav_texts = [f["text"] for f in focused if f["inNav"]]
    assert nav_texts[:2] == ["Programs", "Cost estimate"], focused
    first_main = next(i for i, f in enumerate(focused) if f["inMain"])
    last_nav = max(i for i, f in enumerate(focused) if f["inNav"])
    assert last_nav < first_main, "main content is reached before the main navigation"
    # At most one stop (the brand link, home) between the skip link and the main navigation.
    assert next(i for i, f in enumerate(focused) if f["inNav"]) <= 1, focused
    expect(nav.get_by_role("link", name="Programs")).to_have_attribute("aria-current", "page")

    # The skip link moves focus to the main content.
    page.reload()
    page.keyboard.press("Tab")
    expect(skip).to_be_focused()
    page.keyboard.press("Enter")
    expect(page.locator("main#main")).to_be_focused()
    page.keyboard.press("Tab")
    assert page.evaluate("() => !!document.activeElement.closest('main')")
    assert_stays_local(page, request_log)


def test_applicant_journey_on_a_desktop(demo, live_server, desktop_page, request_log, screenshots):
    page = desktop_page
    page.goto(live_server.url + "/")
    expect(page.locator(".program-list > li")).to_have_count(len(DEMO_PROGRAMS) + 1)  # and the longest program
    assert_no_horizontal_overflow(page)
    screenshots(page, "catalog-home-desktop.png")

    page.get_by_role("link", name=PROGRAM_NAME, exact=True).click()
    expect(page.get_by_role("heading", level=1)).to_have_text(PROGRAM_NAME)
    full_row = page.get_by_role("table").locator("tbody tr.is-full")
    expect(full_row.get_by_text("Full", exact=True)).to_be_visible()
    screenshots(page, "program-desktop.png")

    panel = page.get_by_role("region", name="See an itemised estimate")
    panel.get_by_label("Private room", exact=True).check()
    panel.get_by_role("button", name="See my estimate").click()
    # 300 + 4 x 600 + 4 x 200 + 750 + 6 x 190
    expect(page.get_by_test_id("estimate-total")).to_have_text("$5,390")
    expect(deposit_of(page)).to_have_text("$1,078")
    expect(balance_of(page)).to_contain_text("$4,312")
    expect(hsa_fsa_of(page)).to_have_text("$4,250")
    assert_no_horizontal_overflow(page)
    assert_stays_local(page, request_log)
    screenshots(page, "estimate-desktop.png")


def assert_no_horizontal_overflow(page: Page) -> None:
    """Nothing makes the page wider than the viewport (sideways scrolling on a phone)."""
    widths = page.evaluate("() => [document.documentElement.scrollWidth, window.innerWidth]")
    assert widths[0] <= widths[1], f"page is {widths[0]}px wide in a {widths[1]}px viewport: {page.url}"


def test_line_item_amounts_are_on_screen_on_a_phone(demo, live_server, phone_page):
    page = phone_page
    page.goto(f"{live_server.url}/programs/{PROGRAM_SLUG}")
    panel = page.get_by_role("region", name="See an itemised estimate")
    panel.get_by_role("button", name="See my estimate").click()
    expect(page.get_by_test_id("estimate-total")).to_have_text("$4,970")
    scroller = page.locator("main").bounding_box()
    amount = page.get_by_role("columnheader", name="Amount").bounding_box()
    assert amount["x"] + amount["width"] <= scroller["x"] + scroller["width"]
