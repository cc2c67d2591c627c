"""The pre-screen in a real browser on a phone: an eligible, a review and a crisis journey, answered with the
keyboard through controls found by their labels. Screenshots land in test-artifacts/screenshots for a person to
look at (screening-eligible.png, screening-review.png, screening-crisis.png and a few more).

Expected words come from domain/screening.md and retreat.screening.questions, not from the pages under test.
"""

import re

import pytest
import sqlalchemy as sa
from playwright.sync_api import Page, expect

from retreat.core import crypto
from retreat.extensions import db
from retreat.notify.models import OutboxEmail
from retreat.screening.models import Screening
from retreat.screening.questions import CSSRS_QUESTIONS, PHQ9_ITEMS, PHQ9_STEM
from tests.conftest import STAFF_PASSWORD
from tests.e2e.test_catalog_journey import (
    assert_every_control_labelled,
    assert_no_horizontal_overflow,
    assert_stays_local,
)

pytestmark = pytest.mark.browser

ONCALL = "oncall-clinician@clinic.example"
CONDITIONS = (
    "Have you been told you have raised pressure inside your head (raised intracranial pressure)?",
    "Do you have glaucoma?",
    "Do you have epilepsy or another seizure disorder?",
    "Do you have an overactive thyroid (hyperthyroidism) that is not under control?",
    "Do you have serious liver disease?",
    "Do you have serious lung disease?",
    "Do you have bladder pain or interstitial cystitis?",
    "Have you ever had an allergic reaction to ketamine or esketamine (Spravato)?",
    "Have you ever had a bad reaction to ketamine that was not an allergy?",
)


@pytest.fixture(autouse=True)
def on_call(app):
    app.config["ONCALL_CLINICIAN_EMAIL"] = ONCALL


def group(page: Page, question: str):
    """A question's radio or checkbox group, by its legend (which may start with the question's number)."""
    return page.get_by_role("group", name=re.compile(rf"^(\d+[a-z]?\. )?{re.escape(question)}$"))


def choose(page: Page, question: str, answer: str) -> None:
    """Pick an answer with the keyboard: focus the option found by its label, press Space."""
    option = group(page, question).get_by_label(answer, exact=True)
    option.focus()
    page.keyboard.press("Space")
    expect(option).to_be_checked()


def type_into(page: Page, label: str, text: str) -> None:
    field = page.get_by_label(label, exact=True)
    field.focus()
    page.keyboard.type(text)
    expect(field).to_have_value(text)


def press_button(page: Page, name: str) -> None:
    button = page.get_by_role("button", name=name, exact=True)
    button.focus()
    expect(button).to_be_focused()
    page.keyboard.press("Enter")


def expect_step(page: Page, number: int, title: str, *, refused: bool = False) -> None:
    expect(page.get_by_role("heading", level=1)).to_have_text(title)
    expect(page.locator(".step-count")).to_have_text(f"Step {number} of 6")
    problem = "There is a problem: " if refused else ""
    expect(page).to_have_title(re.compile(rf"^{problem}Step {number} of 6: {re.escape(title)}"))
    assert_every_control_labelled(page.get_by_role("main"))
    assert_no_horizontal_overflow(page)


def start(page: Page, live_server) -> None:
    page.goto(live_server.url + "/")
    page.get_by_role("navigation", name="Main").get_by_role("link", name="Take the pre-screen").click()
    expect(page.get_by_role("heading", level=1)).to_have_text("Health pre-screen")
    page.get_by_role("link", name="Start the pre-screen").click()
    expect_step(page, 1, "How you have been feeling")


def answer_feeling(page: Page, item9: str = "Not at all") -> None:
    expect(page.get_by_role("group", name=PHQ9_STEM, exact=True)).to_be_visible()
    for item in PHQ9_ITEMS[:-1]:
        choose(page, item, "More than half the days")
    choose(page, PHQ9_ITEMS[-1], item9)
    press_button(page, "Continue")
    expect_step(page, 2, "Your safety")


def answer_safety_all_no(page: Page) -> None:
    for name in ("wish_dead", "suicidal_thoughts", "behavior"):
        choose(page, CSSRS_QUESTIONS[name], "No")
    press_button(page, "Continue")
    expect_step(page, 3, "About you")


def answer_about(page: Page, weight: tuple[str, str] = ("71.5", "kg")) -> None:
    type_into(page, "Your age", "42")
    type_into(page, "Your weight", weight[0])
    choose(page, "Unit of your weight", weight[1])
    choose(page, "Are you pregnant or breastfeeding?", "No")
    press_button(page, "Continue")
    expect_step(page, 4, "Heart and blood pressure")


def answer_heart(page: Page, reading: tuple[str, str] | None, screenshots=None) -> None:
    if reading:
        type_into(page, "Top number (systolic)", reading[0])
        type_into(page, "Bottom number (diastolic)", reading[1])
    else:
        no_reading = page.get_by_label("I don’t have a recent reading", exact=True)
        no_reading.focus()
        page.keyboard.press("Space")
        expect(no_reading).to_be_checked()
    choose(page, "Have you been told you have high blood pressure (hypertension)?", "No")
    choose(page, "Have you had a heart attack, unstable angina, or a procedure to open or bypass a heart artery?",
           "No")
    choose(page, "Have you ever had an aneurysm, an arteriovenous malformation (AVM), or bleeding in the brain?",
           "No")
    choose(page, "Have you ever had a stroke or a TIA (“mini-stroke”)?", "No")
    if screenshots:
        screenshots(page, "screening-step-4.png")
    press_button(page, "Continue")
    expect_step(page, 5, "Other health conditions")


def answer_conditions(page: Page) -> None:
    for question in CONDITIONS:
        choose(page, question, "No")
    press_button(page, "Continue")
    expect_step(page, 6, "Mental health history and medicines")


def answer_history(page: Page, medicines: tuple[str, ...] = ("None of these",)) -> None:
    choose(page, "Have you ever had psychosis, or been diagnosed with schizophrenia or a related condition?", "No")
    choose(page, "Has a parent, brother or sister had psychosis, schizophrenia or a related condition?", "No")
    choose(page, "Have you been diagnosed with bipolar disorder?", "No")
    choose(page, "Do you use alcohol or drugs in a way that is a problem for you, or are you in recovery?", "No")
    for medicine in medicines:
        choose(page, "Do you take any of these medicines?", medicine)
    type_into(page, "How many antidepressants have you tried that did not help enough?", "3")
    press_button(page, "See my result")


def expect_support_and_not_a_diagnosis(page: Page) -> None:
    main = page.get_by_role("main")
    for name, href in (("call 988", "tel:988"), ("text 988", "sms:988"), ("988lifeline.org", "https://988lifeline.org"),
                       ("call 911", "tel:911")):
        expect(main.get_by_role("link", name=name, exact=True).first).to_have_attribute("href", href)
    expect(main).to_contain_text("Veterans press 1; for Spanish press 2.")
    expect(main).to_contain_text("A pre-screen is not a diagnosis")


def test_an_eligible_applicant_answers_with_the_keyboard_and_is_led_to_choose_dates(
        demo, live_server, phone_page, request_log, screenshots):
    page = phone_page
    page.goto(live_server.url + "/screening/")
    screenshots(page, "screening-intro.png")
    start(page, live_server)
    screenshots(page, "screening-step-1.png")
    answer_feeling(page)
    screenshots(page, "screening-step-2.png")
    answer_safety_all_no(page)
    answer_about(page, ("157.5", "lb"))

    # The browser's Back: the step before, from the draft, with its answers, and no form sent again (a
    # resubmission would show Chromium's "Confirm form resubmission" page instead); Forward comes back.
    dialogs = []
    page.on("dialog", lambda dialog: (dialogs.append(dialog.message), dialog.dismiss()))
    page.go_back()
    expect_step(page, 3, "About you")
    expect(page.get_by_label("Your age", exact=True)).to_have_value("42")
    expect(page.get_by_label("Your weight", exact=True)).to_have_value("157.5")
    expect(group(page, "Unit of your weight").get_by_label("lb", exact=True)).to_be_checked()
    expect(group(page, "Are you pregnant or breastfeeding?").get_by_label("No", exact=True)).to_be_checked()
    page.go_back()
    expect_step(page, 2, "Your safety")
    expect(group(page, CSSRS_QUESTIONS["behavior"]).get_by_label("No", exact=True)).to_be_checked()
    page.go_forward()
    page.go_forward()
    expect_step(page, 4, "Heart and blood pressure")
    assert dialogs == []

    # The app's own Back keeps what was typed on this step, complete or not.
    type_into(page, "Top number (systolic)", "122")
    press_button(page, "Back to the previous step")
    expect_step(page, 3, "About you")
    press_button(page, "Continue")
    expect_step(page, 4, "Heart and blood pressure")
    expect(page.get_by_label("Top number (systolic)", exact=True)).to_have_value("122")
    page.get_by_label("Top number (systolic)", exact=True).fill("")
    answer_heart(page, ("122", "78"))
    answer_conditions(page)
    answer_history(page)

    expect(page).to_have_url(re.compile(rf"^{re.escape(live_server.url)}/screening/result/[A-Za-z0-9_\-]{{40,}}$"))
    expect(page.get_by_role("heading", level=1)).to_have_text("Nothing in your answers rules out this treatment")
    # "Choose your dates" is on the first screen of a 390x844 phone, without scrolling.
    assert page.evaluate("window.scrollY") == 0
    box = page.get_by_role("link", name="Choose your dates").bounding_box()
    assert box and box["y"] >= 0 and box["y"] + box["height"] <= 844, box
    expect(page.get_by_role("region", name="Keep this page’s link: it is private")).to_contain_text(
        "keep it to yourself")
    expect(page.get_by_role("main")).to_contain_text("which is in the moderately severe range")
    choose_dates = page.get_by_role("link", name="Choose your dates")
    expect(choose_dates).to_have_attribute("href", re.compile(r"^/bookings/new/[A-Za-z0-9_\-]{40,}$"))
    expect(page.locator(".keep-link")).to_contain_text(page.url)
    expect_support_and_not_a_diagnosis(page)
    assert_no_horizontal_overflow(page)
    assert_stays_local(page, request_log)
    screenshots(page, "screening-eligible.png")

    screening = db.session.scalars(sa.select(Screening)).one()
    assert screening.outcome == "eligible"
    # The weight typed in pounds is kept as entered beside the kilograms the rules read.
    stored = crypto.decrypt_json(screening.answers_encrypted)
    assert stored["weight_kg"] == pytest.approx(71.44, abs=0.01)
    assert stored["as_entered"] == {"weight_kg": {"value": 157.5, "unit": "lb"}}

    # The applicant asks for the page's link by email: a wrong address is explained at its field, then it is sent.
    result_url = page.url
    type_into(page, "Your email address", "ada@example")
    press_button(page, "Email me the link")
    expect(page.get_by_role("alert")).to_contain_text("Your email address")
    expect(page.get_by_label("Your email address", exact=True)).to_have_value("ada@example")  # kept, to correct
    page.get_by_label("Your email address", exact=True).fill("ada.q@example.org")
    press_button(page, "Email me the link")
    expect(page.get_by_role("status")).to_contain_text("We have emailed you the link to this page")
    assert_no_horizontal_overflow(page)
    screenshots(page, "screening-eligible-link-emailed.png")
    db.session.rollback()
    sent = db.session.scalars(sa.select(OutboxEmail).where(OutboxEmail.kind == "screening_result_link")).one()
    assert sent.to_address == "ada.q@example.org" and result_url in sent.body


def test_a_refused_answer_is_explained_next_to_its_question(demo, live_server, phone_page, request_log,
                                                            screenshots):
    page = phone_page
    start(page, live_server)
    answer_feeling(page)
    # The follow-ups are not asked before a yes.
    expect(group(page, CSSRS_QUESTIONS["method"])).to_have_count(0)
    choose(page, CSSRS_QUESTIONS["wish_dead"], "No")
    choose(page, CSSRS_QUESTIONS["suicidal_thoughts"], "Yes")
    choose(page, CSSRS_QUESTIONS["behavior"], "No")
    press_button(page, "Continue")

    # After the yes, its follow-ups on a page of their own (still step 2), and only those.
    expect_step(page, 2, "Your safety")
    expect(page.get_by_role("group", name="About your yes to question 2")).to_be_visible()
    expect(group(page, CSSRS_QUESTIONS["behavior_within_3_months"])).to_have_count(0)
    screenshots(page, "screening-follow-ups.png")
    press_button(page, "Continue")

    expect_step(page, 2, "Your safety", refused=True)
    expect(page.get_by_role("alert").get_by_role("listitem")).to_have_count(1)  # one line for the group
    expect(page.get_by_role("alert")).to_contain_text("Please check these answers")
    method = group(page, CSSRS_QUESTIONS["method"])
    expect(method).to_have_accessible_description(re.compile(r"it follows your yes to question 2"))
    for option in ("Yes", "No"):
        expect(method.get_by_label(option, exact=True)).to_have_attribute("aria-invalid", "true")
        expect(method.get_by_label(option, exact=True)).not_to_be_checked()
    # The summary's link takes the keyboard to the question.
    page.get_by_role("alert").get_by_role("link").first.click()
    expect(method.get_by_label("Yes", exact=True)).to_be_focused()
    method.scroll_into_view_if_needed()
    assert_stays_local(page, request_log)
    screenshots(page, "screening-step-2-error.png")


def test_a_review_applicant_requests_a_seat_and_a_clinician_review(demo, live_server, phone_page, request_log,
                                                                   screenshots):
    page = phone_page
    start(page, live_server)
    answer_feeling(page)
    answer_safety_all_no(page)
    answer_about(page)
    answer_heart(page, None, screenshots)
    answer_conditions(page)
    answer_history(page, medicines=("Lamotrigine (Lamictal)",))

    expect(page.get_by_role("heading", level=1)).to_have_text("A clinician needs to look at your answers")
    main = page.get_by_role("main")
    expect(main.locator(".reasons li")).to_have_text([
        "We need a recent blood pressure reading; a clinician will ask you for one.",
        "Some of your medicines can change how ketamine works; a clinician will go through them with you.",
    ])
    expect_support_and_not_a_diagnosis(page)
    request = page.get_by_role("region", name="Request a seat and a clinician review")
    assert_every_control_labelled(request)
    assert_no_horizontal_overflow(page)
    screenshots(page, "screening-review.png")

    type_into(page, "First name", "Rosalind")
    type_into(page, "Last name", "Abernathy-Quist")
    type_into(page, "Email address", "rosalind.aq@example.org")
    type_into(page, "Phone number", "+1 555 013 4477")
    press_button(page, "Send my request")

    done = page.get_by_role("region", name="Thank you: your request is in")
    expect(done).to_contain_text("A clinician will review your answers within 72 hours.")
    expect(done).to_contain_text("We’ll email you when a clinician has decided; if approved, you’ll be able to "
                                 "choose dates and book.")
    expect(page.get_by_role("link", name="Choose your dates")).to_have_count(0)
    assert_stays_local(page, request_log)
    screenshots(page, "screening-review-requested.png")

    screening = db.session.scalars(sa.select(Screening)).one()
    db.session.refresh(screening)
    assert screening.outcome == "review" and screening.review_status == "pending"
    assert b"rosalind" not in bytes(screening.contact_encrypted)
    assert crypto.decrypt_json(screening.contact_encrypted)["email"] == "rosalind.aq@example.org"


def test_an_ineligible_applicant_reads_why_and_what_to_do_next(demo, live_server, phone_page, request_log,
                                                                screenshots):
    page = phone_page
    start(page, live_server)
    answer_feeling(page)
    answer_safety_all_no(page)
    type_into(page, "Your age", "34")
    type_into(page, "Your weight", "141")
    choose(page, "Unit of your weight", "lb")
    choose(page, "Are you pregnant or breastfeeding?", "Yes")
    press_button(page, "Continue")
    expect_step(page, 4, "Heart and blood pressure")
    answer_heart(page, ("118", "76"))
    answer_conditions(page)
    answer_history(page)

    expect(page.get_by_role("heading", level=1)).to_have_text(
        "Ketamine treatment is not suitable for you at this time")
    main = page.get_by_role("main")
    expect(main.locator(".reasons li")).to_have_text(["Ketamine is not used during pregnancy or while breastfeeding."])
    expect(main).to_contain_text("transcranial magnetic stimulation (TMS)")
    expect(page.get_by_role("link", name="Choose your dates")).to_have_count(0)
    expect(page.locator("form")).to_have_count(0)
    expect_support_and_not_a_diagnosis(page)
    assert_no_horizontal_overflow(page)
    assert_stays_local(page, request_log)
    screenshots(page, "screening-ineligible.png")


def test_an_applicant_in_crisis_sees_the_crisis_lines_first_and_nothing_to_book(demo, live_server, phone_page,
                                                                                request_log, screenshots, staff_user,
                                                                                desktop_page):
    page = phone_page
    start(page, live_server)
    answer_feeling(page, item9="More than half the days")
    choose(page, CSSRS_QUESTIONS["wish_dead"], "Yes")
    choose(page, CSSRS_QUESTIONS["suicidal_thoughts"], "Yes")
    choose(page, CSSRS_QUESTIONS["behavior"], "No")
    press_button(page, "Continue")
    expect_step(page, 2, "Your safety")  # the follow-ups of the yes to question 2
    choose(page, CSSRS_QUESTIONS["method"], "Yes")
    choose(page, CSSRS_QUESTIONS["intent"], "Yes")
    choose(page, CSSRS_QUESTIONS["plan"], "No")
    press_button(page, "Continue")

    # Straight to the result: not one more question.
    expect(page).to_have_url(re.compile(rf"^{re.escape(live_server.url)}/screening/result/[A-Za-z0-9_\-]{{40,}}$"))
    expect(page).to_have_title(re.compile(r"^Please reach out now"))
    main = page.get_by_role("main")
    first = main.locator(":scope > *").first
    expect(first.get_by_role("heading", level=1)).to_have_text(
        "Please reach out now. You don’t have to go through this alone.")
    expect(first.get_by_role("link")).to_have_text(["Call 988", "Text 988", "Chat at 988lifeline.org", "call 911"])
    box = first.get_by_role("link", name="Call 988").bounding_box()
    assert box and box["y"] + box["height"] <= 844, "Call 988 is not on the first screen"
    assert box["height"] >= 44

    # No booking, payment, catalog or estimate anywhere: the only links are the crisis lines.
    hrefs = page.eval_on_selector_all("a[href]", "links => links.map(a => a.getAttribute('href'))")
    assert set(hrefs) <= {"#main", "tel:988", "sms:988", "https://988lifeline.org", "tel:911"}, hrefs
    expect(page.locator("form")).to_have_count(0)
    expect(page.get_by_role("link", name=re.compile(r"book|dates|program|estimate|pay", re.I))).to_have_count(0)
    expect(page.get_by_role("navigation", name="Main").get_by_role("link")).to_have_count(0)
    expect(main).to_contain_text("A pre-screen is not a diagnosis.")
    expect(main).to_contain_text("We have let our on-call clinician know.")

    # With the keyboard: the skip link, then straight to "Call 988".
    page.keyboard.press("Tab")
    expect(page.get_by_role("link", name="Skip to main content")).to_be_focused()
    page.keyboard.press("Tab")
    expect(first.get_by_role("link", name="Call 988")).to_be_focused()

    assert_no_horizontal_overflow(page)
    assert_stays_local(page, request_log)
    screenshots(page, "screening-crisis.png")

    screening = db.session.scalars(sa.select(Screening)).one()
    assert screening.outcome == "crisis" and screening.urgent
    [alert] = db.session.scalars(sa.select(OutboxEmail)).all()
    assert alert.to_address == ONCALL

    # A clinician acknowledges the anonymous crisis item (nobody to write to) and closes it with a note.
    clinician = staff_user("clinician")
    staff = desktop_page
    staff.goto(f"{live_server.url}/staff/login")
    staff.get_by_label("Email").fill(clinician.email)
    staff.get_by_label("Password").fill(STAFF_PASSWORD)
    staff.get_by_role("button", name="Sign in").click()
    staff.get_by_role("navigation", name="Main").get_by_role("link", name="Screenings").click()
    item = staff.get_by_role("link", name=f"Pre-screen {screening.id}", exact=True)
    expect(item.locator("xpath=..")).to_contain_text("Urgent")
    item.click()
    staff.get_by_role("button", name="Acknowledge and close").click()
    expect(staff.get_by_role("alert")).to_contain_text("What you did or checked")  # the note is required
    staff.get_by_label("What you did or checked").fill("On-call alert received and reviewed; no contact details.")
    staff.get_by_role("button", name="Acknowledge and close").click()
    staff.get_by_role("navigation", name="Main").get_by_role("link", name="Screenings").click()
    expect(staff.get_by_role("link", name=f"Pre-screen {screening.id}", exact=True)).to_have_count(0)
    staff.get_by_role("navigation", name="Which screenings").get_by_role("link", name="Closed").click()
    closed = staff.get_by_role("link", name=f"Pre-screen {screening.id}", exact=True)
    expect(closed.locator("xpath=..")).to_contain_text("Closed")
    screenshots(staff, "staff-screenings-closed.png")
    db.session.rollback()
    assert db.session.get(Screening, screening.id).review_status == "closed"
