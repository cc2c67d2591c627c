"""The applicant's pre-screen pages: six steps, each refusing a missing or wrong answer next to its question
(422, aria-invalid, described by the reason); the crisis exit right after the safety questions; the answers
carried encrypted between pages and refused when tampered with; and a result page per outcome, each with the
988 resources and the note that a screen is not a diagnosis.

Expected words and rules come from domain/screening.md and retreat.screening.questions, not from the views.
"""

import re
from datetime import UTC, datetime, timedelta

import pytest
import sqlalchemy as sa
import time_machine

from retreat import create_app
from retreat.core import crypto
from retreat.core.errors import ValidationFailed
from retreat.extensions import db
from retreat.notify.models import OutboxEmail
from retreat.screening import early, services
from retreat.screening.forms import DRAFT_COOKIE, DRAFT_TTL_SECONDS
from retreat.screening.models import Screening
from retreat.screening.questions import CSSRS_QUESTIONS, PHQ9_CHOICES, PHQ9_ITEMS, PHQ9_STEM
from tests.pricing.test_estimate_pages import parse

ONCALL = "oncall-clinician@clinic.example"
STEP_TITLES = ("How you have been feeling", "Your safety", "About you", "Heart and blood pressure",
               "Other health conditions", "Mental health history and medicines")
CONDITIONS = ("raised_intracranial_pressure", "glaucoma", "seizure_disorder", "hyperthyroidism_uncontrolled",
              "severe_liver_disease", "severe_lung_disease", "bladder_pain_or_interstitial_cystitis",
              "ketamine_allergy", "prior_adverse_ketamine_reaction")

# Form answers of each step that, all together, give `eligible` (PHQ-9 total 16, two failed trials).
ELIGIBLE = {
    1: {**{f"phq9_{i}": "2" for i in range(1, 9)}, "phq9_9": "0"},
    2: {"wish_dead": "no", "suicidal_thoughts": "no", "behavior": "no"},
    3: {"age": "42", "weight_kg": "71.5", "weight_kg_unit": "kg", "pregnant_or_breastfeeding": "no"},
    4: {"bp_systolic": "122", "bp_diastolic": "78", "hypertension": "none", "cardiac_event": "none",
        "aneurysm_avm_or_brain_bleed": "no", "stroke_tia": "no"},
    5: dict.fromkeys(CONDITIONS, "no"),
    6: {"psychosis": "none", "family_history_psychosis": "no", "bipolar": "none", "substance_use": "none",
        "medications": ["none"], "failed_antidepressant_trials": "2"},
}
ALLOWED_CRISIS_HREFS = ("tel:988", "sms:988", "https://988lifeline.org", "tel:911", "#main")


@pytest.fixture(autouse=True)
def on_call(app):
    app.config["ONCALL_CLINICIAN_EMAIL"] = ONCALL


# --- Helpers ---------------------------------------------------------------------------------------------------

MAIN_SAFETY = ("wish_dead", "suicidal_thoughts", "behavior")


def post_step(client, previous, answers, **extra):
    """Post a page's answers to the page `previous` shows: the next page (its redirect followed), or the
    response itself (refused: 422; a result: 303)."""
    response = client.post(previous.request.path, data={**answers, **extra})
    if response.status_code == 303 and "/screening/questions/" in response.headers["Location"]:
        assert "progress" not in response.headers["Location"]
        return client.get(response.headers["Location"])
    return response


def step_count(response) -> str:
    return parse(response).find("p", class_="step-count").text()


def walk(client, *, through: int = 6, changes: dict | None = None):
    """Answer the steps up to `through` (ELIGIBLE, with `changes` per step number; a step's follow-ups on their
    page when it shows); the last response."""
    response = client.get("/screening/questions", follow_redirects=True)
    assert response.status_code == 200
    for number in range(1, through + 1):
        answers = {**ELIGIBLE[number], **(changes or {}).get(number, {})}
        answers = {name: value for name, value in answers.items() if value is not None}
        pages = [answers]
        if number == 2:
            pages = [{k: v for k, v in answers.items() if k in MAIN_SAFETY},
                     {k: v for k, v in answers.items() if k not in MAIN_SAFETY}]
        for index, page_answers in enumerate(pages):
            if index and not response.request.path.endswith("/3"):
                continue  # no follow-up page: no yes asked for one
            response = post_step(client, response, page_answers)
            if number < through or index < len(pages) - 1:
                if response.status_code == 303:
                    return response  # a crisis: straight to the result
                assert response.status_code == 200, (number, response.get_data(as_text=True)[:3000])
    return response


def result_of(client, response):
    assert response.status_code == 303, response.get_data(as_text=True)[:3000]
    location = response.headers["Location"]
    match = re.fullmatch(r"(?:http://localhost)?/screening/result/([A-Za-z0-9_\-]{40,})", location)
    assert match, location
    page = client.get(location)
    assert page.status_code == 200
    return match.group(1), page


def only_screening() -> Screening:
    screenings = db.session.scalars(sa.select(Screening)).all()
    assert len(screenings) == 1
    return screenings[0]


def outbox() -> list[OutboxEmail]:
    return db.session.scalars(sa.select(OutboxEmail).order_by(OutboxEmail.id)).all()


def words(element) -> str:
    """The element's text as read: no space before punctuation that ends a tag's text."""
    return re.sub(r"\s+([,.;:])", r"\1", element.text())


def heading(page) -> str:
    return page.find("h1").text()


def assert_refused(page, name: str, reason: str) -> None:
    """The reason is shown inside the question's own field, describes its controls, and marks them invalid."""
    error = page.by_id(f"{name}-error")
    assert error is not None, f"no reason shown for {name}"
    assert error.text() == reason, (name, error.text())
    controls = page.find_all("input", name=name)
    assert controls, name
    container = controls[0]  # the question's fieldset, or a text input's or checkbox's .field wrapper
    while "field" not in (container.attrs.get("class") or "").split():
        container = container.parent
    node = error.parent
    while node is not None and node is not container:
        node = node.parent
    assert node is container, f"the reason for {name} is not next to it"
    described = (container.attrs.get("aria-describedby") or "") if container.tag == "fieldset" else ""
    for control in controls:
        assert control.attrs.get("aria-invalid") == "true", (name, control.attrs)
        described_by = described + " " + (control.attrs.get("aria-describedby") or "")
        assert f"{name}-error" in described_by.split(), (name, control.attrs)


def assert_not_refused(page, name: str) -> None:
    assert page.by_id(f"{name}-error") is None, name
    for control in page.find_all("input", name=name):
        assert control.attrs.get("aria-invalid") in (None, "false"), name


def assert_every_control_labelled(page) -> None:
    controls = [element for element in page.elements() if element.tag in ("input", "select", "textarea")
                and element.attrs.get("type") not in ("hidden", "submit")]
    assert controls
    for control in controls:
        labels = page.find_all("label", for_=control["id"])
        assert len(labels) == 1 and labels[0].text(), control.attrs


def assert_support_and_not_a_diagnosis(page) -> None:
    """The 988 resources of domain/screening.md, inside <main>, and the words that a screen is not a diagnosis."""
    hrefs = {a["href"] for a in page.find_all("a")}
    assert {"tel:988", "sms:988", "https://988lifeline.org", "tel:911"} <= hrefs
    text = page.text()
    assert "Veterans press 1; for Spanish press 2." in text
    assert "nearest emergency room" in text
    assert "A pre-screen is not a diagnosis" in text


def reason_codes(page) -> list[str]:
    return [item["data-code"] for item in page.find_all("li") if "data-code" in item.attrs]


# --- The intro and the navigation ------------------------------------------------------------------------------

def test_the_intro_says_what_the_pre_screen_is_and_starts_it(client, demo):
    response = client.get("/screening/")
    assert response.status_code == 200
    page = parse(response)
    text = page.text()
    assert heading(page) == "Health pre-screen"
    assert "About 5 minutes." in text
    assert "Your answers are encrypted, and only our clinicians can read them." in text
    assert "Not a diagnosis." in text
    assert [item.text() for item in page.find("ol", class_="step-list").find_all("li")] == list(STEP_TITLES)
    start = page.find("a", href="/screening/questions")
    assert start is not None and start.text() == "Start the pre-screen"

    home = client.get("/").get_data(as_text=True)
    assert re.search(r'<a href="/screening/"\s*>Take the pre-screen</a>', home)
    assert re.search(r'<a href="/screening/"\s*aria-current="page">Take the pre-screen</a>',
                     response.get_data(as_text=True))


# --- Step pages ------------------------------------------------------------------------------------------------

def test_step_one_asks_the_phq9_as_worded_with_nothing_preselected(client):
    response = client.get("/screening/questions", follow_redirects=True)
    assert response.request.path == "/screening/questions/1"
    assert response.status_code == 200
    assert response.headers["Cache-Control"] == "no-store"
    page = parse(response)
    assert page.find("p", class_="step-count").text() == "Step 1 of 6"
    progress = page.find("progress")
    assert (progress["max"], progress["value"]) == ("6", "1")
    assert heading(page) == STEP_TITLES[0]
    outer = page.find("fieldset", class_="question-set")
    assert outer.find("legend").text() == PHQ9_STEM
    groups = outer.find_all("fieldset", class_="field choices question")
    assert [group.find("legend").text() for group in groups] == [f"{n}. {item}" for n, item in
                                                                 enumerate(PHQ9_ITEMS, start=1)]
    for number, group in enumerate(groups, start=1):
        radios = group.find_all("input", type="radio")
        assert [r["name"] for r in radios] == [f"phq9_{number}"] * 4
        assert [r["value"] for r in radios] == [str(value) for value, _ in PHQ9_CHOICES]
        assert [page.find("label", for_=r["id"]).text() for r in radios] == [label for _, label in PHQ9_CHOICES]
    assert not [element for element in page.elements() if "checked" in element.attrs]
    assert_every_control_labelled(page)
    buttons = page.find_all("button")
    assert [b.text() for b in buttons] == ["Continue"]  # no way back from the first step


def test_an_unanswered_phq9_is_refused_next_to_each_question(client):
    first = client.get("/screening/questions", follow_redirects=True)
    response = post_step(client, first, {"phq9_1": "1", "phq9_4": "7"})
    assert response.status_code == 422
    page = parse(response)
    title = re.search(r"<title>(.*?)</title>", response.get_data(as_text=True)).group(1)
    assert title.startswith("There is a problem: Step 1 of 6: How you have been feeling")
    assert_not_refused(page, "phq9_1")
    assert_refused(page, "phq9_4", "Choose one of the answers shown.")
    for number in (2, 3, 5, 6, 7, 8, 9):
        assert_refused(page, f"phq9_{number}", "Choose how often this has bothered you over the last 2 weeks.")
    summary = page.find("div", class_="error-summary")
    assert summary["role"] == "alert"
    # One line per group and reason, linked to the group's first unanswered question.
    links = [a["href"] for a in summary.find_all("a")]
    assert links == ["#phq9_2-0", "#phq9_4-0"]
    assert [a.text() for a in summary.find_all("a")] == [
        "Questions 2, 3 and 5 to 9: Choose how often this has bothered you over the last 2 weeks.",
        "Question 4: Choose one of the answers shown."]
    assert all(page.by_id(link[1:]) is not None for link in links)
    # What was answered stays answered; still step 1.
    assert "checked" in page.find("input", name="phq9_1", value="1").attrs
    assert page.find("p", class_="step-count").text() == "Step 1 of 6"


def test_the_safety_step_asks_the_cssrs_as_worded_and_its_follow_ups_only_after_a_yes(client):
    response = walk(client, through=1)
    assert response.status_code == 200 and response.request.path == "/screening/questions/2"
    page = parse(response)
    assert page.find("p", class_="step-count").text() == "Step 2 of 6"
    assert heading(page) == "Your safety"
    legends = [legend.text() for legend in page.find_all("legend")]
    for name in MAIN_SAFETY:
        assert any(legend.endswith(CSSRS_QUESTIONS[name]) for legend in legends), name
    for name in set(CSSRS_QUESTIONS) - set(MAIN_SAFETY):  # the follow-ups are not on this page
        assert not any(legend.endswith(CSSRS_QUESTIONS[name]) for legend in legends), name
        assert page.find("input", name=name) is None
    assert "In the past month:" in legends
    assert not [element for element in page.elements() if "checked" in element.attrs]
    assert_every_control_labelled(page)
    assert {"tel:988", "sms:988", "tel:911"} <= {a["href"] for a in page.find_all("a")}

    nothing = post_step(client, response, {})
    assert nothing.status_code == 422
    for name in MAIN_SAFETY:
        assert_refused(parse(nothing), name, "Choose yes or no.")

    # A no to both: no follow-up page, on to step 3.
    noes = post_step(client, response, dict.fromkeys(MAIN_SAFETY, "no"))
    assert noes.request.path == "/screening/questions/4" and step_count(noes) == "Step 3 of 6"
    assert client.get("/screening/questions/3").headers["Location"].endswith("/screening/questions/4")

    # A yes to question 2: its three follow-ups, on a page of their own, still step 2; none preselected.
    yes = post_step(client, client.get("/screening/questions/2"),
                    {"wish_dead": "yes", "suicidal_thoughts": "yes", "behavior": "no"})
    assert yes.request.path == "/screening/questions/3" and step_count(yes) == "Step 2 of 6"
    page = parse(yes)
    assert [page.find("input", name=name) is not None
            for name in ("method", "intent", "plan", "behavior_within_3_months")] == [True, True, True, False]
    assert "About your yes to question 2" in [legend.text() for legend in page.find_all("legend")]
    assert not [element for element in page.elements() if "checked" in element.attrs]
    assert_every_control_labelled(page)
    refused = post_step(client, yes, {})
    assert refused.status_code == 422
    page = parse(refused)
    for name in ("method", "intent", "plan"):
        assert_refused(page, name, "Please answer this one too: it follows your yes to question 2.")
    # The summary names the questions by number, once for the group, and does not repeat their words.
    summary = page.find("div", class_="error-summary")
    assert [item.text() for item in summary.find_all("li")] == [
        "Questions 2a, 2b and 2c: Please answer this one too: it follows your yes to question 2."]
    assert summary.find("a")["href"] == "#method-0"
    assert "kill" not in summary.text()
    assert only_screening_count() == 0

    # A yes to question 3 (the screener's 6) alone: its "when" alone.
    when = post_step(client, client.get("/screening/questions/2"),
                     {"wish_dead": "no", "suicidal_thoughts": "no", "behavior": "yes"})
    page = parse(when)
    assert [page.find("input", name=name) is not None for name in ("method", "behavior_within_3_months")] == [
        False, True]
    assert "About your yes to question 3" in [legend.text() for legend in page.find_all("legend")]


@pytest.mark.parametrize(("main", "follow_ups", "outcome"), [
    ({"wish_dead": "yes", "suicidal_thoughts": "yes", "behavior": "no"},
     {"method": "no", "intent": "yes", "plan": "no"}, "crisis"),
    ({"wish_dead": "no", "suicidal_thoughts": "no", "behavior": "yes"},
     {"behavior_within_3_months": "yes"}, "crisis"),
    ({"wish_dead": "yes", "suicidal_thoughts": "yes", "behavior": "yes"},
     {"method": "yes", "intent": "no", "plan": "no", "behavior_within_3_months": "no"}, "next"),
])
def test_the_crisis_check_comes_after_the_follow_up_page_and_before_any_other_question(client, main, follow_ups,
                                                                                        outcome):
    """The new order: the screener's gating questions, their follow-ups, then at once the crisis resources (no
    further question, nothing about booking or payment) or step 3."""
    response = post_step(client, walk(client, through=1), main)
    assert response.request.path == "/screening/questions/3"
    assert only_screening_count() == 0  # no crisis can be known before the follow-ups
    after = post_step(client, response, follow_ups)
    if outcome == "crisis":
        token, result = result_of(client, after)
        assert only_screening().outcome == "crisis"
        first = next(element for element in parse(result).children if not isinstance(element, str))
        assert "crisis-first" in first["class"]
        assert "/bookings" not in result.get_data(as_text=True)
        # The draft is gone: the questionnaire starts again rather than going on.
        assert client.get("/screening/questions/4").headers["Location"].endswith("/screening/questions/1")
    else:
        assert after.status_code == 200 and step_count(after) == "Step 3 of 6"
        assert only_screening_count() == 0


def only_screening_count() -> int:
    return db.session.scalar(sa.select(sa.func.count()).select_from(Screening))


@pytest.mark.parametrize(("answers", "refusals"), [
    ({}, {"age": "Enter your age in years.", "weight_kg": "Enter your weight.",
          "pregnant_or_breastfeeding": "Choose yes or no."}),
    ({"age": "forty", "weight_kg": "nan", "pregnant_or_breastfeeding": "maybe"},
     {"age": "Enter your age as a whole number of years, for example 42.",
      "weight_kg": "Enter your weight as a number, for example 72 or 158.5.",
      "pregnant_or_breastfeeding": "Choose one of the answers shown."}),
    ({"age": "121", "weight_kg": "19.5", "weight_kg_unit": "kg", "pregnant_or_breastfeeding": "no"},
     {"age": "Check your age: enter a number of years from 0 to 120.",
      "weight_kg": "Check your weight: enter a number of kilograms from 20 to 350."}),
    ({"age": "42.5", "weight_kg": "1e3", "pregnant_or_breastfeeding": "no"},
     {"age": "Enter your age as a whole number of years, for example 42.",
      "weight_kg": "Enter your weight as a number, for example 72 or 158.5."}),
    ({"age": "42", "weight_kg": "72", "pregnant_or_breastfeeding": "no"},
     {"weight_kg_unit": "Choose kilograms or pounds."}),
])
def test_about_you_refuses_each_answer_with_its_reason(client, answers, refusals):
    response = post_step(client, walk(client, through=2), answers)
    assert response.status_code == 422
    page = parse(response)
    assert page.find("p", class_="step-count").text() == "Step 3 of 6"
    for name, reason in refusals.items():
        assert_refused(page, name, reason)
    for name in {"age", "weight_kg", "pregnant_or_breastfeeding"} - set(refusals):
        assert_not_refused(page, name)
    assert "in kilograms or in pounds" in page.by_id("weight_kg-hint").text()
    assert page.find("input", name="age")["inputmode"] == "numeric"
    assert page.find("input", name="weight_kg")["inputmode"] == "decimal"


HEART = {"hypertension": "none", "cardiac_event": "none", "aneurysm_avm_or_brain_bleed": "no", "stroke_tia": "no"}


@pytest.mark.parametrize(("answers", "refusals"), [
    ({}, {"bp_systolic": "Enter your reading, or tick “I don’t have a recent reading”.",
          "hypertension": "Choose one answer about high blood pressure.",
          "cardiac_event": "Choose one answer about your heart.",
          "aneurysm_avm_or_brain_bleed": "Choose yes or no.", "stroke_tia": "Choose yes or no."}),
    ({**HEART, "bp_systolic": "130"}, {"bp_diastolic": "Enter both numbers of your reading."}),
    ({**HEART, "bp_diastolic": "85"}, {"bp_systolic": "Enter both numbers of your reading."}),
    ({**HEART, "bp_systolic": "80", "bp_diastolic": "120"},
     {"bp_diastolic": "The bottom number must be lower than the top number."}),
    ({**HEART, "bp_systolic": "130", "bp_diastolic": "85", "no_reading": "y"},
     {"no_reading": "You entered a reading and ticked that you don’t have one: please do one or the other."}),
    ({**HEART, "bp_systolic": "400", "bp_diastolic": "x"},
     {"bp_systolic": "Check the top number: enter a number from 60 to 300.",
      "bp_diastolic": "Enter the bottom number as a whole number, for example 80."}),
    ({**HEART, "no_reading": "y", "cardiac_event": "last_week"},
     {"cardiac_event": "Choose one of the answers shown."}),
])
def test_heart_and_blood_pressure_refuses_each_answer_with_its_reason(client, answers, refusals):
    response = post_step(client, walk(client, through=3), answers)
    assert response.status_code == 422
    page = parse(response)
    assert page.find("p", class_="step-count").text() == "Step 4 of 6"
    for name, reason in refusals.items():
        assert_refused(page, name, reason)
    assert "AVM is a tangle of blood vessels" in page.by_id("aneurysm_avm_or_brain_bleed-hint").text()
    assert "transient ischemic attack" in page.by_id("stroke_tia-hint").text()


def test_other_conditions_are_each_asked_with_a_yes_or_no(client):
    before = walk(client, through=4)
    page = parse(before)
    assert [group["id"] for group in page.find_all("fieldset", class_="field choices question")] == list(CONDITIONS)
    response = post_step(client, before, {"glaucoma": "no"})
    assert response.status_code == 422
    page = parse(response)
    assert_not_refused(page, "glaucoma")
    for name in set(CONDITIONS) - {"glaucoma"}:
        assert_refused(page, name, "Choose yes or no.")


@pytest.mark.parametrize(("answers", "refusals"), [
    ({}, {"psychosis": "Choose one answer about psychosis.", "family_history_psychosis": "Choose yes or no.",
          "bipolar": "Choose one answer about bipolar disorder.",
          "substance_use": "Choose one answer about alcohol and drugs.",
          "medications": "Tick each of these medicines you take, or “None of these”.",
          "failed_antidepressant_trials": "Enter how many antidepressants you have tried, or 0."}),
    ({**ELIGIBLE[6], "medications": ["none", "maoi"], "failed_antidepressant_trials": "-1"},
     {"medications": "You ticked “None of these” and a medicine: please untick one of them.",
      "failed_antidepressant_trials": "Enter a whole number, for example 2, or 0 if none."}),
    ({**ELIGIBLE[6], "medications": ["lithium"], "failed_antidepressant_trials": "51"},
     {"medications": "Choose from the medicines listed.",
      "failed_antidepressant_trials": "Check this number: enter from 0 to 50."}),
])
def test_history_and_medicines_refuses_each_answer_with_its_reason(client, answers, refusals):
    response = post_step(client, walk(client, through=5), answers)
    assert response.status_code == 422
    page = parse(response)
    assert page.find("p", class_="step-count").text() == "Step 6 of 6"
    for name, reason in refusals.items():
        assert_refused(page, name, reason)
    assert only_screening_count() == 0


def test_after_telling_of_thoughts_of_death_the_later_steps_keep_a_line_of_support(client):
    plain = parse(walk(client, through=2))
    assert plain.find("p", class_="support-note") is None
    told = walk(client, through=3, changes={2: {"wish_dead": "yes"}})
    note = parse(told).find("p", class_="support-note")
    assert note is not None and "Thank you for answering so openly." in note.text()
    assert {a["href"] for a in note.find_all("a")} == {"tel:988", "sms:988", "tel:911"}
    item9 = parse(walk(client, through=5, changes={1: {"phq9_9": "1"}}))
    assert item9.find("p", class_="step-count").text() == "Step 6 of 6"
    assert item9.find("p", class_="support-note") is not None


def test_back_shows_the_previous_step_with_its_answers_and_keeps_what_was_typed(client):
    third = walk(client, through=2)
    back = post_step(client, third, {"age": "forty", "weight_kg": "71.5"}, action="back")
    assert back.status_code == 200
    page = parse(back)
    assert page.find("p", class_="step-count").text() == "Step 2 of 6"
    for name, value in ELIGIBLE[2].items():
        assert "checked" in page.find("input", name=name, value=value).attrs
    for name in ("method", "intent", "plan", "behavior_within_3_months"):
        assert not [r for r in page.find_all("input", name=name) if "checked" in r.attrs]
    again = post_step(client, back, ELIGIBLE[2])
    page = parse(again)
    assert page.find("p", class_="step-count").text() == "Step 3 of 6"
    # What was typed on step 3 before going back is there again, unchecked (no reason shown yet).
    assert page.find("input", name="age")["value"] == "forty"
    assert page.find("input", name="weight_kg")["value"] == "71.5"
    assert page.find("div", class_="error-summary") is None


# --- The progress carried between pages ------------------------------------------------------------------------

def _token(value) -> str:
    return crypto.encrypt_json(value).decode()


def draft_cookie(client):
    return client.get_cookie(DRAFT_COOKIE, path="/screening/questions")


@pytest.mark.parametrize("tamper", ["flip", "garbage", "other_kind", "bad_answers", "skipped_step", "expired"])
def test_a_draft_that_does_not_check_asks_to_start_again(client, tamper):
    walk(client, through=4)
    good = draft_cookie(client).value
    carried = crypto.decrypt_json(good.encode())
    answers = carried["answers"]
    tokens = {
        "flip": good[:40] + ("A" if good[40] != "A" else "B") + good[41:],
        "garbage": "not a token at all",
        "other_kind": _token({"phq9": [3] * 9, "cssrs": {}}),
        "bad_answers": _token({**carried, "answers": {**answers, "phq9": [9] * 9}}),
        "skipped_step": _token({**carried, "answers": {k: v for k, v in answers.items() if k != "cssrs"}}),
        "expired": good,
    }
    client.set_cookie(DRAFT_COOKIE, tokens[tamper], path="/screening/questions")
    later = timedelta(seconds=DRAFT_TTL_SECONDS + 5 if tamper == "expired" else 0)
    with time_machine.travel(datetime.now(UTC) + later):
        response = client.post("/screening/questions/6", data=ELIGIBLE[5])
        assert response.status_code == 400
        page = parse(response)
        assert heading(page) == "Please start again"
        assert page.find("a", href="/screening/questions").text() == "Start the pre-screen again"
        assert draft_cookie(client) is None  # the unreadable draft is dropped
        assert only_screening_count() == 0


def test_the_draft_is_encrypted_short_lived_and_only_for_the_questionnaire(client):
    response = walk(client, through=3)
    assert response.status_code == 200
    with client.session_transaction() as session:
        assert set(session) <= {"csrf_token"}
    cookie = draft_cookie(client)
    assert cookie.http_only and cookie.path == "/screening/questions" and cookie.same_site == "Lax"
    assert "71.5" not in cookie.value and "phq9" not in cookie.value
    assert 0 < (cookie.expires.timestamp() - datetime.now(UTC).timestamp()) <= DRAFT_TTL_SECONDS + 5
    assert crypto.decrypt_json(cookie.value.encode())["answers"]["weight_kg"] == 71.5
    result = walk(client)
    assert result.status_code == 303 and draft_cookie(client) is None  # the result reached: the draft is gone


def test_the_browsers_back_shows_the_previous_page_from_the_draft(client):
    """Every page is a GET after a redirect: going back re-reads it, filled from the draft, without a form sent."""
    walk(client, through=3)
    page = parse(client.get("/screening/questions/2"))
    for name, value in ELIGIBLE[2].items():
        assert "checked" in page.find("input", name=name, value=value).attrs
    page = parse(client.get("/screening/questions/1"))
    assert "checked" in page.find("input", name="phq9_1", value="2").attrs
    # A page beyond the answers so far leads to the furthest one reached.
    assert client.get("/screening/questions/7").headers["Location"].endswith("/screening/questions/5")


# --- The crisis exit after the safety questions ----------------------------------------------------------------

@pytest.mark.parametrize(("safety", "code"), [
    ({"wish_dead": "yes", "suicidal_thoughts": "yes", "method": "yes", "intent": "yes", "plan": "no",
      "behavior": "no"}, "cssrs_intent_or_plan"),
    ({"wish_dead": "yes", "suicidal_thoughts": "yes", "method": "no", "intent": "no", "plan": "yes",
      "behavior": "no"}, "cssrs_intent_or_plan"),
    ({"wish_dead": "no", "suicidal_thoughts": "no", "behavior": "yes", "behavior_within_3_months": "yes"},
     "cssrs_recent_behavior"),
])
def test_a_crisis_at_the_safety_step_goes_straight_to_the_resources_and_alerts_the_on_call(client, safety, code):
    response = walk(client, through=2, changes={1: {"phq9_9": "2"}, 2: {**dict.fromkeys(ELIGIBLE[2]), **safety}})
    token, result = result_of(client, response)

    screening = only_screening()
    assert screening.outcome == "crisis" and screening.urgent is True
    assert screening.review_status == "pending" and screening.review_requested_at is not None
    findings = services.read_findings(screening)
    codes = [reason["code"] for reason in findings.reasons]
    assert code in codes
    assert "bp_unknown" not in codes and "not_treatment_resistant" not in codes  # never asked
    assert "phq9_self_harm_item" in codes
    assert (findings.phq9_total, findings.phq9_severity) == (18, "moderately_severe")
    assert screening.contact_encrypted is None
    stored = crypto.decrypt_json(screening.answers_encrypted)
    assert set(stored) == {"phq9", "cssrs"}
    assert stored["cssrs"] == {name: value == "yes" for name, value in safety.items()}

    [alert] = outbox()
    assert alert.to_address == ONCALL and alert.kind == "screening_alert"
    assert alert.subject.startswith("URGENT:") and "crisis" in alert.subject
    assert screening.alert_sent_at is not None

    assert result.headers["Cache-Control"] == "no-store"
    assert result.headers["Referrer-Policy"] == "no-referrer"
    html = result.get_data(as_text=True)
    page = parse(result)
    first = next(element for element in page.children if not isinstance(element, str))
    assert first.tag == "section" and "crisis-first" in first["class"], first.tag
    assert first.find("h1") is page.find("h1")
    assert [a["href"] for a in first.find_all("a")] == ["tel:988", "sms:988", "https://988lifeline.org", "tel:911"]
    assert "Veterans press 1; for Spanish press 2." in first.text()
    assert_support_and_not_a_diagnosis(page)
    assert "We have let our on-call clinician know." in page.text()
    assert reason_codes(page) == [code]  # the crisis reason; the others speak of a retreat

    # Nothing on the whole page leads anywhere but the crisis lines: no booking, payment, catalog or estimate.
    hrefs = re.findall(r'\s(?:href|src|action|formaction)="([^"]*)"', html)
    assert all(href in ALLOWED_CRISIS_HREFS or href.startswith("/static/") or href == "data:,"
               for href in hrefs), hrefs
    assert "<form" not in html and "<button" not in html
    visible = re.sub(r"<[^>]+>", " ", html)
    assert not re.search(r"\b(book|booking|deposit|pay|payment|price|programs?|estimates? of)\b", visible,
                         re.IGNORECASE), re.findall(r"\b(?:book\w*|pay\w*|programs?|deposit)\b", visible, re.I)


def test_a_crisis_is_recorded_even_without_an_on_call_address_and_says_only_what_is_true(app, client):
    app.config["ONCALL_CLINICIAN_EMAIL"] = None
    safety = {"wish_dead": "yes", "suicidal_thoughts": "yes", "method": "yes", "intent": "yes", "plan": "yes",
              "behavior": "no"}
    _, result = result_of(client, walk(client, through=2, changes={2: safety}))
    screening = only_screening()
    assert screening.outcome == "crisis" and screening.alert_sent_at is None
    assert outbox() == []
    text = parse(result).text()
    assert "on-call clinician" not in text
    assert "please don’t wait to hear from us: call or text 988 now." in text


def test_submit_crisis_early_refuses_answers_that_are_not_a_crisis(app):
    with pytest.raises(ValueError):
        early.submit_crisis_early({"phq9": [1] * 9, "cssrs": {"wish_dead": True, "suicidal_thoughts": False,
                                                             "behavior": False}})
    assert only_screening_count() == 0


# --- Results by outcome ----------------------------------------------------------------------------------------

def test_an_eligible_result_leads_to_choosing_dates_and_shows_the_link_to_keep(client):
    token, result = result_of(client, walk(client))
    screening = only_screening()
    assert screening.outcome == "eligible" and services.read_findings(screening).reasons == ()
    assert outbox() == []
    assert result.headers["Referrer-Policy"] == "no-referrer"
    assert result.headers["Cache-Control"] == "no-store"
    html = result.get_data(as_text=True)
    assert '<meta name="referrer" content="no-referrer">' in html
    page = parse(result)
    assert heading(page) == "Nothing in your answers rules out this treatment"
    text = words(page)
    assert "The medical assessment at your intake still decides" in text
    assert "Your score on the nine mood questions (the PHQ-9) is 16 out of 27, which is in the moderately severe " \
           "range." in text
    choose = next(a for a in page.find_all("a") if a.text() == "Choose your dates")
    assert choose["href"] == f"/bookings/new/{token}"
    assert f"http://localhost/screening/result/{token}" in page.find("p", class_="keep-link").text()
    assert "You will need this page’s link to book." in text
    assert_support_and_not_a_diagnosis(page)
    [form] = page.find_all("form")  # the only form: emailing the link
    assert form["action"] == f"/screening/result/{token}/email#email-link"
    stored = crypto.decrypt_json(screening.answers_encrypted)
    assert stored["weight_kg"] == 71.5 and stored["medications"] == [] and stored["bp_systolic"] == 122


def test_a_review_result_lists_its_reasons_and_takes_a_seat_request_with_encrypted_contact(client):
    changes = {4: {"bp_systolic": None, "bp_diastolic": None, "no_reading": "y"},
               6: {"medications": ["lamotrigine", "benzodiazepine"]}}
    token, result = result_of(client, walk(client, changes=changes))
    screening = only_screening()
    assert screening.outcome == "review" and screening.urgent is False and screening.review_status is None
    page = parse(result)
    assert heading(page) == "A clinician needs to look at your answers"
    reasons = services.read_findings(screening).reasons
    assert reason_codes(page) == [r["code"] for r in reasons] == ["bp_unknown", "interacting_medication"]
    for reason in reasons:
        assert reason["message"] in page.text()
    assert_support_and_not_a_diagnosis(page)
    section = page.by_id("review-request")
    assert section.find("h2").text() == "Request a seat and a clinician review"
    form = section.find("form")
    assert form["action"] == f"/screening/result/{token}/review#review-request"
    assert_every_control_labelled(form)
    assert "Choose your dates" not in page.text()

    contact = {"first_name": "Rosalind", "last_name": "Abernathy-Quist", "email": "rosalind.aq@example.org",
               "phone": "+1 (555) 013-4477"}
    sent = client.post(f"/screening/result/{token}/review", data=contact)
    assert sent.status_code == 303
    assert sent.headers["Location"].endswith(f"/screening/result/{token}#review-request")

    db.session.expire_all()
    screening = only_screening()
    assert screening.review_status == "pending" and screening.review_requested_at is not None
    raw = db.session.execute(sa.text("SELECT contact_encrypted FROM screening")).scalar_one()
    raw = bytes(raw)
    for plain in (b"rosalind", b"Rosalind", b"example.org", b"Abernathy", b"013-4477"):
        assert plain not in raw
    assert crypto.decrypt_json(raw) == contact

    after = parse(client.get(f"/screening/result/{token}"))
    section = after.by_id("review-request")
    assert section.find("h2").text() == "Thank you: your request is in"
    assert "A clinician will review your answers within 72 hours." in words(section)
    assert "We’ll email you when a clinician has decided; if approved, you’ll be able to choose dates and book." \
        in section.text()
    assert after.find("form") is None
    assert "rosalind" not in client.get(f"/screening/result/{token}").get_data(as_text=True).lower()


@pytest.mark.parametrize(("contact", "refusals"), [
    ({}, {"first_name": "Enter your first name.", "last_name": "Enter your last name.",
          "email": "Enter your email address.", "phone": "Enter a phone number we can call you on."}),
    ({"first_name": "Ana", "last_name": "Li", "email": "ana@", "phone": "call me"},
     {"email": "Enter an email address like name@example.com.",
      "phone": "Enter a phone number with its area code, for example 555 123 4567."}),
])
def test_a_review_request_is_refused_next_to_each_field(client, contact, refusals):
    token, _ = result_of(client, walk(client, changes={6: {"failed_antidepressant_trials": "1"}}))
    response = client.post(f"/screening/result/{token}/review", data=contact)
    assert response.status_code == 422
    assert response.headers["Referrer-Policy"] == "no-referrer"
    page = parse(response)
    for name, reason in refusals.items():
        assert_refused(page, name, reason)
    assert only_screening().contact_encrypted is None


def test_an_urgent_review_alerts_the_on_call_and_asks_for_a_way_to_reach_the_applicant(client):
    token, result = result_of(client, walk(client, changes={1: {"phq9_9": "1"}}))
    screening = only_screening()
    assert screening.outcome == "review" and screening.urgent and screening.review_status == "pending"
    [alert] = outbox()
    assert alert.to_address == ONCALL and "urgent review" in alert.subject
    page = parse(result)
    assert reason_codes(page) == ["phq9_self_harm_item"]
    assert "we would like a clinician to reach you soon." in page.by_id("review-request").text()
    assert_support_and_not_a_diagnosis(page)
    # The resources come right after the reasons whose messages point to "the people below".
    html = result.get_data(as_text=True)
    assert html.index('data-code="phq9_self_harm_item"') < html.index('class="support panel"') < \
        html.index('id="review-request"')


def test_an_ineligible_result_says_why_and_what_to_do_next(client):
    token, result = result_of(client, walk(client, changes={3: {"pregnant_or_breastfeeding": "yes"},
                                                            6: {"medications": ["stimulant"]}}))
    screening = only_screening()
    assert screening.outcome == "ineligible" and not screening.urgent
    page = parse(result)
    assert heading(page) == "Ketamine treatment is not suitable for you at this time"
    assert reason_codes(page) == ["pregnancy", "interacting_medication"]
    text = page.text()
    assert "Ketamine is not used during pregnancy or while breastfeeding." in text
    assert "Talk with your doctor or mental health care team" in text
    for treatment in ("transcranial magnetic stimulation (TMS)", "electroconvulsive therapy (ECT)",
                      "talking therapy", "change of medicine"):
        assert treatment in text
    assert_support_and_not_a_diagnosis(page)
    assert page.find("form") is None
    assert "Choose your dates" not in text
    assert "/screening/result" not in {a["href"] for a in page.find_all("a")}


def test_an_urgent_ineligible_result_lets_the_applicant_leave_a_way_to_reach_them(client):
    token, result = result_of(client, walk(client, changes={1: {"phq9_9": "3"}, 3: {"age": "17"}}))
    screening = only_screening()
    assert screening.outcome == "ineligible" and screening.urgent
    page = parse(result)
    assert reason_codes(page) == ["under_18", "phq9_self_harm_item"]
    assert page.by_id("review-request").find("h2").text() == "So that a clinician can reach you"
    contact = {"first_name": "Sam", "last_name": "Okafor", "email": "sam@example.org", "phone": "555 010 9999"}
    assert client.post(f"/screening/result/{token}/review", data=contact).status_code == 303
    db.session.expire_all()
    assert crypto.decrypt_json(only_screening().contact_encrypted) == contact
    after = parse(client.get(f"/screening/result/{token}"))
    assert after.by_id("review-request").find("h2").text() == "Thank you: we have your details"


def test_outcomes_that_take_no_review_request_refuse_one(client):
    token, _ = result_of(client, walk(client))
    contact = {"first_name": "Sam", "last_name": "Okafor", "email": "sam@example.org", "phone": "555 010 9999"}
    response = client.post(f"/screening/result/{token}/review", data=contact)
    assert response.status_code == 409
    assert only_screening().contact_encrypted is None


def test_an_unknown_result_token_is_not_found(client):
    response = client.get("/screening/result/" + "x" * 43)
    assert response.status_code == 404


def test_question_pages_keep_the_sites_referrer_policy_and_never_cache(client):
    response = walk(client, through=1)
    assert response.headers["Referrer-Policy"] == "same-origin"
    assert response.headers["Cache-Control"] == "no-store"
    assert "Content-Security-Policy" in response.headers


def test_an_answer_the_service_refuses_is_shown_again_on_its_own_step(client, monkeypatch):
    """The steps check what the schema checks; should the service still refuse an answer, its step comes back
    with the reason next to the question rather than an error page."""
    def refuse(answers, contact=None, **kwargs):
        raise ValidationFailed({"answers.age": ["Check your age."], "answers.phq9.8": ["Check this answer."]})

    monkeypatch.setattr(services, "submit", refuse)
    response = walk(client)
    assert response.status_code == 422
    page = parse(response)
    assert page.find("p", class_="step-count").text() == "Step 1 of 6"
    assert_refused(page, "phq9_9", "Check this answer.")
    assert only_screening_count() == 0


def test_the_questionnaire_and_the_review_request_are_rate_limited(database_url):
    limited = create_app("testing", SQLALCHEMY_DATABASE_URI=database_url, RATELIMIT_ENABLED=True,
                         RATELIMIT_PUBLIC_WRITE="3 per minute")
    with limited.app_context():
        try:
            client = limited.test_client()
            statuses = [client.post("/screening/questions", data={}).status_code for _ in range(4)]
            assert statuses == [422, 422, 422, 429]
            assert client.get("/screening/questions/1").status_code == 200  # reading is not limited
            reviews = [client.post("/screening/result/" + "x" * 43 + "/review").status_code for _ in range(4)]
            assert reviews == [404, 404, 404, 429]
        finally:
            db.session.remove()
            db.engine.dispose()


@pytest.mark.parametrize(("status", "title", "books"), [
    ("approved", "A clinician has approved your pre-screen", True),
    ("records_requested", "A clinician would like to see some records", False),
    ("declined", "A clinician has reviewed your pre-screen", False),
])
def test_a_review_result_shows_the_clinicians_decision_and_takes_no_new_request(client, status, title, books):
    token, _ = result_of(client, walk(client, changes={6: {"failed_antidepressant_trials": "0"}}))
    contact = {"first_name": "Ana", "last_name": "Li", "email": "ana@example.org", "phone": "555 010 2222"}
    assert client.post(f"/screening/result/{token}/review", data=contact).status_code == 303
    screening = only_screening()
    screening.review_status = status
    db.session.commit()

    page = parse(client.get(f"/screening/result/{token}"))
    section = page.by_id("review-request")
    assert section.find("h2").text() == title
    assert page.find("form") is None
    links = [a for a in section.find_all("a") if a.text() == "Choose your dates"]
    assert bool(links) is books
    if books:
        assert f"/screening/result/{token}" in section.find("p", class_="keep-link").text()
    assert client.post(f"/screening/result/{token}/review", data=contact).status_code == 409


# --- Weight in kilograms or pounds -------------------------------------------------------------------------------

@pytest.mark.parametrize(("typed", "unit", "stored", "reason"), [
    ("71.5", "kg", 71.5, None),
    ("20", "kg", 20.0, None),
    ("350", "kg", 350.0, None),
    ("19.9", "kg", None, "Check your weight: enter a number of kilograms from 20 to 350."),
    ("350.1", "kg", None, "Check your weight: enter a number of kilograms from 20 to 350."),
    ("165", "lb", 74.84274105, None),  # 165 x 0.45359237, exactly
    ("88.18", "lb", 39.9977751866, None),  # just under 40 kg: not rounded up past the rule's bound
    ("45", "lb", 20.41165665, None),
    ("771", "lb", 349.71971727, None),
    ("44.9", "lb", None, "Check your weight: enter a number of pounds from 45 to 771."),
    ("772", "lb", None, "Check your weight: enter a number of pounds from 45 to 771."),
    ("165", "stone", None, "Choose one of the answers shown."),
])
def test_weight_is_taken_in_kilograms_or_pounds_and_stored_in_kilograms_exactly(client, typed, unit, stored,
                                                                                 reason):
    answers = {**ELIGIBLE[3], "weight_kg": typed, "weight_kg_unit": unit}
    response = post_step(client, walk(client, through=2), answers)
    if reason is not None:
        assert response.status_code == 422
        assert_refused(parse(response), "weight_kg" if unit != "stone" else "weight_kg_unit", reason)
        return
    assert response.status_code == 200 and step_count(response) == "Step 4 of 6"
    draft = crypto.decrypt_json(draft_cookie(client).value.encode())["answers"]
    assert draft["weight_kg"] == pytest.approx(stored, abs=1e-9)
    assert draft["as_entered"]["weight_kg"] == {"value": float(typed), "unit": unit}
    back = parse(client.get("/screening/questions/4"))  # shown again as entered
    assert back.find("input", name="weight_kg")["value"] == typed.rstrip("0").rstrip(".") if "." in typed \
        else back.find("input", name="weight_kg")["value"] == typed
    assert "checked" in back.find("input", name="weight_kg_unit", value=unit).attrs


def test_a_weight_in_pounds_fires_the_rules_in_kilograms_and_the_clinician_sees_both(client):
    token, _ = result_of(client, walk(client, changes={3: {"weight_kg": "340", "weight_kg_unit": "lb"}}))
    screening = only_screening()
    assert [r["code"] for r in services.read_findings(screening).reasons] == ["weight_out_of_range"]  # 154.2 kg
    stored = crypto.decrypt_json(screening.answers_encrypted)
    assert stored["weight_kg"] == pytest.approx(154.2214058)
    assert stored["as_entered"] == {"weight_kg": {"value": 340.0, "unit": "lb"}}
    from retreat.screening import review
    [row] = [row for row in review.readable_answers(stored).health if row.question == "Weight"]
    assert row.answer == "154.22 kg (entered as 340 lb)" and row.notable
    assert "as_entered" not in [row.question.lower().replace(" ", "_") for row in review.readable_answers(
        stored).health]
