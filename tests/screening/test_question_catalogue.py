"""One definition per screening question (retreat.screening.questions): the validation schema, the step forms and
their pages, the rules' facts and the clinician's page all come from the catalogue, so a question added in one
place only shows here. The validated instruments keep their wording word for word, and the crisis exit after the
safety step still sees every answer a crisis rule reads.

Pure apart from the page rendering, which needs no database.
"""

import dataclasses

import pytest
from flask import render_template
from marshmallow import fields as mfields
from marshmallow import validate as mvalidate

from retreat import create_app
from retreat.screening import early, forms, questions, review, rules
from retreat.screening.questions import ANSWERS, QUESTIONS, READINGS, CssrsAnswers
from tests.pricing.test_estimate_pages import parse
from tests.screening.test_rules import BASELINE, DROP, RULE_ALONE, answers, cssrs

# Every question answered, the follow-ups too: the clinician's page then shows every row there is.
EVERYTHING = answers(cssrs=cssrs(wish_dead=True, suicidal_thoughts=True, method=False, intent=False, plan=False,
                                 behavior=True, behavior_within_3_months=False),
                     medications=["maoi"])
FORM_ONLY = ({"csrf_token"} | {reading.none_name for reading in READINGS}
             | {forms.unit_field_name(question) for question in questions.UNIT_CHOICES})


@pytest.fixture(scope="module")
def pages():
    """An app to render pages with (no request reaches a database)."""
    return create_app("testing")


def _validator(field, kind):
    return next((v for v in field.validators if isinstance(v, kind)), None)


def _label(question) -> str:
    """The question's row label on the clinician's page (a reading's numbers share one row)."""
    reading = next((r for r in READINGS if question.name in r.members), None)
    return reading.review_label if reading else question.label


# --- The catalogue itself ----------------------------------------------------------------------------------------

def test_entries_are_unique_and_placed_on_a_step_and_in_known_groups():
    names = [question.name for question in QUESTIONS]
    assert len(names) == len(set(names))
    assert len({question.path for question in QUESTIONS}) == len(QUESTIONS)
    steps = [step.number for step in questions.STEPS]
    assert steps == list(range(1, len(steps) + 1))
    for question in QUESTIONS:
        assert question.step in steps, question.name
        assert question.text.strip() and question.label.strip(), question.name
        if question.group is not None:
            assert question.group in questions.GROUPS_BY_NAME, question.name
        if question.asked_if is not None:
            asking = questions.BY_NAME[question.asked_if.question]
            assert (asking.step, asking.answer) == (question.step, question.answer), question.name
            assert asking.number is not None, "a follow-up's reason names the question it follows by number"
    # The questions of a step come together, and the steps in order: the catalogue reads as the questionnaire.
    assert [question.step for question in QUESTIONS] == sorted(question.step for question in QUESTIONS)


# Copied from the instruments: a change of these words is a change of a validated instrument.
PHQ9_WORDING = (
    "Over the last 2 weeks, how often have you been bothered by any of the following problems?",
    ["Little interest or pleasure in doing things",
     "Feeling down, depressed, or hopeless",
     "Trouble falling or staying asleep, or sleeping too much",
     "Feeling tired or having little energy",
     "Poor appetite or overeating",
     "Feeling bad about yourself — or that you are a failure or have let yourself or your family down",
     "Trouble concentrating on things, such as reading the newspaper or watching television",
     "Moving or speaking so slowly that other people could have noticed? Or the opposite — being so fidgety or "
     "restless that you have been moving around a lot more than usual",
     "Thoughts that you would be better off dead or of hurting yourself in some way"],
    [(0, "Not at all"), (1, "Several days"), (2, "More than half the days"), (3, "Nearly every day")],
)
CSSRS_WORDING = {
    "wish_dead": "Have you wished you were dead or wished you could go to sleep and not wake up?",
    "suicidal_thoughts": "Have you actually had any thoughts of killing yourself?",
    "method": "Have you been thinking about how you might do this?",
    "intent": "Have you had these thoughts and had some intention of acting on them?",
    "plan": "Have you started to work out or worked out the details of how to kill yourself? Do you intend to "
            "carry out this plan?",
    "behavior": "Have you ever done anything, started to do anything, or prepared to do anything to end your life?",
    "behavior_within_3_months": "Was this within the past 3 months?",
}


def test_the_validated_instruments_keep_their_wording_word_for_word():
    stem, items, choices = PHQ9_WORDING
    phq9 = [question for question in QUESTIONS if isinstance(question, questions.Phq9Item)]
    assert questions.group_chain(phq9[0].group)[0].legend == stem == questions.PHQ9_STEM
    assert [question.text for question in phq9] == items == list(questions.PHQ9_ITEMS)
    for question in phq9:
        assert [(choice.value, choice.label) for choice in question.choices] == choices
    cssrs_items = {question.name: question.text for question in QUESTIONS if isinstance(question, questions.CssrsItem)}
    assert cssrs_items == CSSRS_WORDING == questions.CSSRS_QUESTIONS
    assert list(cssrs_items) == list(CSSRS_WORDING)


# --- The schema: every answer field is an entry --------------------------------------------------------------------

def test_every_answer_field_of_the_schema_has_a_catalogue_entry():
    assert list(ANSWERS.fields) == list(questions.answer_names())
    for name, field in ANSWERS.fields.items():
        members = [question for question in QUESTIONS if question.answer == name]
        if isinstance(field, mfields.Nested):
            assert list(CssrsAnswers().fields) == [question.name for question in members]
            assert all(isinstance(question, questions.CssrsItem) for question in members)
        elif isinstance(field, mfields.List) and _validator(field, mvalidate.Length).equal is not None:
            assert _validator(field, mvalidate.Length).equal == len(members) == 9  # the PHQ-9
            assert [question.part for question in members] == list(range(len(members)))
        else:
            assert [question.name for question in members] == [name]


@pytest.mark.parametrize("question", QUESTIONS, ids=lambda question: question.path)
def test_each_schema_field_checks_what_its_entry_says(question):
    field = ANSWERS.fields[question.answer]
    if isinstance(question, questions.CssrsItem):
        field = CssrsAnswers().fields[question.name]
    elif isinstance(question, questions.Phq9Item):
        field = field.inner
    if not isinstance(question, questions.Phq9Item):  # the items are checked alike, inside a required list
        assert field.required is question.required
    if isinstance(question, questions.Number):
        bounds = _validator(field, mvalidate.Range)
        assert (bounds.min, bounds.max) == (question.low, question.high)
        assert isinstance(field, mfields.Integer if question.whole else mfields.Float)
    elif isinstance(question, questions.YesNo):
        assert isinstance(field, mfields.Boolean)
    elif isinstance(question, questions.OneOf):
        checked = _validator(field, mvalidate.OneOf) or _validator(field, mvalidate.Range)
        allowed = tuple(checked.choices) if isinstance(checked, mvalidate.OneOf) else tuple(
            range(checked.min, checked.max + 1))
        assert allowed == question.values
    elif isinstance(question, questions.SeveralOf):
        assert tuple(_validator(field.inner, mvalidate.OneOf).choices) == question.values


def test_only_the_reading_and_the_follow_ups_may_be_left_out():
    optional = {question.path for question in QUESTIONS if not question.required}
    assert optional == {"bp_systolic", "bp_diastolic", "cssrs.method", "cssrs.intent", "cssrs.plan",
                        "cssrs.behavior_within_3_months"}


# --- The forms and their pages: every field is an entry --------------------------------------------------------------

# Every page of the questionnaire, each asking all it may (the follow-ups after a yes to each question that asks
# them), and the pages together ask every question of the catalogue once.
PAGE_FORMS = tuple(page.form(EVERYTHING) for page in forms.PAGES)


def test_the_pages_ask_every_question_once_and_the_follow_ups_on_their_own_page():
    asked = [question.name for form in PAGE_FORMS for question in form.asked]
    assert sorted(asked) == sorted(question.name for question in QUESTIONS) and len(asked) == len(set(asked))
    assert {question.name for question in QUESTIONS if question.asked_if is not None} == {
        question.name for form in PAGE_FORMS if form.follow_ups for question in form.asked}
    assert [form.number for form in PAGE_FORMS] == [1, 2, 2, 3, 4, 5, 6]
    assert [page.shown({}) for page in forms.PAGES] == [True, True, False, True, True, True, True]


@pytest.mark.parametrize("step", PAGE_FORMS, ids=lambda step: step.template)
def test_every_form_field_comes_from_a_catalogue_entry(pages, step):
    with pages.test_request_context():
        form = step(formdata=None, meta={"csrf": False})
        asked = [question.name for question in step.asked]
        fields = [field.name for field in form if field.name not in FORM_ONLY]
        assert fields == asked
        for question in step.asked:
            field = form[question.name]
            assert field.label.text == question.text
            assert (field.description or None) == question.hint
            if isinstance(question, questions.OneOf | questions.SeveralOf):
                labels = [choice.label for choice in field.choices]
                assert labels[:len(question.choices)] == [choice.label for choice in question.choices]


@pytest.mark.parametrize("step", PAGE_FORMS, ids=lambda step: step.template)
def test_every_question_of_a_step_is_on_its_page_in_its_group(pages, step):
    with pages.test_request_context():
        form = step(formdata=None, meta={"csrf": False})
        html = render_template(step.template, form=form, step=step, total=len(forms.STEPS), title=step.title,
                               told_us_of_thoughts=False)
    page = parse(pages.response_class(html))
    form_element = page.find("form")
    names = {element["name"] for element in form_element.elements()
             if element.tag == "input" and element.attrs.get("type") not in ("hidden",)}
    assert names == ({question.name for question in step.asked} | {reading.none_name for reading in step.readings()}
                     | {forms.unit_field_name(q) for q in step.asked if q in questions.UNIT_CHOICES})
    for question in step.asked:
        control = form_element.find("input", name=question.name)
        assert control is not None, question.name
        for group in questions.group_chain(question.group):
            legends = []
            node = control.parent
            while node is not None and node is not form_element:
                if node.tag == "fieldset":
                    legend = node.find("legend")
                    legends.append(legend.text() if legend else "")
                node = node.parent
            assert group.legend in legends, (question.name, group.name)


def test_a_reading_is_the_pair_of_numbers_it_names():
    for reading in READINGS:
        upper, lower = (questions.BY_NAME[name] for name in reading.members)
        assert isinstance(upper, questions.Number) and isinstance(lower, questions.Number)
        assert upper.group == lower.group == reading.name and upper.step == lower.step
        assert not upper.required and not lower.required and upper.unit == lower.unit


# --- The rules: every fact they read is fed by an entry ------------------------------------------------------------

ALL_RULES = [(version, rule) for version, rule_set in rules.RULE_SETS.items() for rule in rule_set]


@pytest.mark.parametrize(("version", "rule"), ALL_RULES, ids=[f"v{v}-{rule.code}" for v, rule in ALL_RULES])
def test_every_fact_a_rule_reads_is_fed_by_the_catalogue(version, rule):
    assert rules.facts_read(rule.when) <= questions.fact_names(), rule.code


def test_the_facts_of_the_answers_are_the_catalogues():
    facts = rules.facts_from(EVERYTHING)
    assert set(facts) == questions.fact_names()
    assert facts["phq9_total"] == sum(BASELINE["phq9"]) and facts["phq9_item9"] == BASELINE["phq9"][8]
    assert facts["cssrs.behavior"] is True and facts["age"] == BASELINE["age"]


def test_the_crisis_exit_sees_every_answer_a_crisis_rule_reads():
    """The questionnaire checks for a crisis right after the safety step, on the answers given so far: every
    crisis rule must read only those."""
    assert early.EARLY_ANSWERS == ("phq9", "cssrs")
    assert questions.BY_NAME["suicidal_thoughts"].step == questions.SAFETY_STEP == forms.SafetyStep.number
    for rule in rules.RULE_SETS[rules.CURRENT_RULES_VERSION]:
        if rule.outcome == "crisis":
            assert rules.facts_read(rule.when) <= early.ASKED_FACTS, rule.code


# --- The clinician's page: every entry has its row ---------------------------------------------------------------

def test_every_catalogue_entry_appears_on_the_review_page():
    readable = review.readable_answers(EVERYTHING)
    shown = {"health": [row.question for row in readable.health], "phq9": [row.question for row in readable.phq9],
             "cssrs": [row.question for row in readable.cssrs]}
    expected = {"health": [], "phq9": [], "cssrs": []}
    for question in QUESTIONS:
        label = _label(question)
        if label not in expected[question.review_section]:
            expected[question.review_section].append(label)
    assert shown == expected
    assert all(row.answer for row in (*readable.health, *readable.phq9, *readable.cssrs))


@pytest.mark.parametrize(("code", "changes"), [case for case in RULE_ALONE if case[0] != "low_phq9"],
                         ids=lambda value: value if isinstance(value, str) else "")
def test_an_answer_that_fires_a_rule_is_highlighted_on_the_review_page(code, changes):
    """Every rule but the PHQ-9 total's reads an answer; the clinician's page highlights it."""
    before = review.readable_answers(answers())
    after = review.readable_answers(answers(**changes))
    rows_before = {*before.health, *before.phq9, *before.cssrs}
    changed = [row for row in (*after.health, *after.phq9, *after.cssrs) if row not in rows_before]
    assert not [row for row in rows_before if row.notable]
    assert any(row.notable for row in changed), (code, changed)


def test_a_blood_pressure_left_out_reads_not_given_and_is_not_shown_when_never_asked():
    readable = review.readable_answers(answers(bp_systolic=DROP, bp_diastolic=DROP))
    assert review.AnswerRow("Recent blood pressure reading", "Not given", True) in readable.health
    early_only = review.readable_answers({"phq9": BASELINE["phq9"], "cssrs": BASELINE["cssrs"]})
    assert early_only.health == () and len(early_only.phq9) == 9 and len(early_only.cssrs) == 7


# --- One entry is enough ---------------------------------------------------------------------------------------

KIDNEYS = questions.YesNo(name="severe_kidney_disease", step=5, text="Do you have serious kidney disease?",
                          hint="For example kidney failure or dialysis.", review_label="Severe kidney disease")


def test_a_new_question_is_one_entry_and_reaches_the_schema_the_form_the_page_the_facts_and_the_review(pages):
    catalogue = (*QUESTIONS, KIDNEYS)
    schema = questions.build_schema(catalogue)()
    assert schema.fields["severe_kidney_disease"].required
    assert schema.load({**BASELINE, "severe_kidney_disease": True})["severe_kidney_disease"] is True

    step = forms.step_form(questions.STEPS[4], catalogue)
    with pages.test_request_context():
        form = step(formdata=None, meta={"csrf": False})
        assert [field.name for field in form][-1] == "severe_kidney_disease"
        page = parse(pages.response_class(render_template(step.template, form=form, step=step, total=6,
                                                          title=step.title, told_us_of_thoughts=False)))
    group = page.by_id("severe_kidney_disease")
    assert group.find("legend").text() == KIDNEYS.text
    assert [radio["value"] for radio in group.find_all("input", type="radio")] == ["yes", "no"]

    assert questions.facts({"severe_kidney_disease": True}, catalogue) == {"severe_kidney_disease": True}
    assert "severe_kidney_disease" in questions.fact_names(catalogue)
    readable = review.readable_answers({**BASELINE, "severe_kidney_disease": True}, catalogue)
    assert review.AnswerRow("Severe kidney disease", "Yes", True) in readable.health


def test_an_entry_left_out_of_the_catalogue_is_missing_everywhere():
    """The other way round: without its entry, glaucoma is neither accepted, nor asked, nor shown."""
    catalogue = tuple(question for question in QUESTIONS if question.name != "glaucoma")
    assert "glaucoma" not in questions.build_schema(catalogue)().fields
    assert "glaucoma" not in forms.step_form(questions.STEPS[4], catalogue).keys
    assert "glaucoma" not in questions.fact_names(catalogue)
    readable = review.readable_answers(BASELINE, catalogue)
    assert review.AnswerRow("Glaucoma", "No") not in readable.health
    assert review.AnswerRow("Glaucoma", "False") in readable.health  # an answer of no question it knows


def test_the_catalogue_has_room_for_what_comes_next():
    """Groups, units and translated wording have their place in an entry (nothing is translated yet)."""
    weight = questions.BY_NAME["weight_kg"]
    assert weight.unit == "kg"
    assert questions.BY_NAME["method"].group == "thoughts-follow-ups"
    spanish = questions.Wording("(the validated Spanish wording)", choices={True: "Sí", False: "No"})
    translated = dataclasses.replace(questions.BY_NAME["wish_dead"], translations={"es": spanish})
    assert translated.translations["es"] is spanish and translated.text == CSSRS_WORDING["wish_dead"]
    assert all(question.translations == {} for question in QUESTIONS)
