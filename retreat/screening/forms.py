"""The pre-screen's forms: six short steps, each one page, and the form that asks for a clinician review.

Every step turns its fields into answers under the names of the API contract (domain/screening.md,
retreat.screening.questions) and back again, so that the answers carried between pages can be checked by the
very same validators on every request. Health questions are never preselected: a radio group has no default
and leaving it unanswered is refused with a reason shown next to it.

The answers so far travel from page to page in one hidden field, `progress`: encrypted and authenticated with
retreat.core.crypto (Fernet), so the applicant's browser holds them but cannot read or alter them, and nothing
is stored in the cookie session or the database until a result. `read_progress` validates every carried
answer again and refuses a token it cannot read (`BadProgress`: the page asks to start again).
"""

import math
import re
from dataclasses import dataclass, field

from flask_wtf import FlaskForm
from werkzeug.datastructures import MultiDict
from wtforms import BooleanField, HiddenField, RadioField, SelectMultipleField, StringField, widgets
from wtforms.validators import Email, InputRequired, Length, StopValidation, ValidationError

from retreat.core import crypto
from retreat.screening.questions import (
    BIPOLAR,
    CARDIAC_EVENT,
    CSSRS_AFTER_THOUGHTS,
    CSSRS_QUESTIONS,
    HYPERTENSION,
    MEDICATIONS,
    PHQ9_CHOICES,
    PHQ9_ITEMS,
    PHQ9_STEM,
    PSYCHOSIS,
    SUBSTANCE_USE,
)
from retreat.web.forms import options

YES_NO = (("yes", "Yes"), ("no", "No"))
CHOOSE_YES_OR_NO = "Choose yes or no."
NONE_OF_THESE = "none"


def follow_up(number: int) -> str:
    return f"Please answer this one too: it follows your yes to question {number}."


# --- Fields --------------------------------------------------------------------------------------------------

class Answer(RadioField):
    """A radio group with no default. Unanswered: refused with `required_message`, or, when `required` is
    false, left for the form to decide (a follow-up question). A value that is not one of the choices is
    refused too."""

    def __init__(self, label=None, choices=YES_NO, *, required_message=CHOOSE_YES_OR_NO, required=True,
                 short_label=None, **kwargs):
        super().__init__(label, choices=options(choices), **kwargs)
        self.required_message = required_message
        self.required = required
        self.short_label = short_label  # names the question in the error summary ("Question 3")

    @property
    def answered(self) -> bool:
        return bool(self.raw_data) and self.raw_data[0] != ""

    def pre_validate(self, form):
        if not self.answered:
            raise StopValidation(self.required_message if self.required else None)
        if self.data not in {choice.value for choice in self.choices}:
            raise StopValidation("Choose one of the answers shown.")


class Medicines(SelectMultipleField):
    """Checkboxes of the medicines that matter, plus "None of these": one answer is required, so that an
    unticked list is never read as "takes none of them"."""

    widget = widgets.ListWidget(prefix_label=False)
    option_widget = widgets.CheckboxInput()

    def pre_validate(self, form):
        chosen = self.data or []
        if not chosen:
            raise StopValidation("Tick each of these medicines you take, or \u201cNone of these\u201d.")
        if any(value not in {choice.value for choice in self.choices} for value in chosen):
            raise StopValidation("Choose from the medicines listed.")
        if NONE_OF_THESE in chosen and len(chosen) > 1:
            raise StopValidation("You ticked \u201cNone of these\u201d and a medicine: please untick one of them.")


class Number(StringField):
    """A number typed as text (the page asks for `inputmode`), checked here with messages in plain words:
    `whole` numbers or numbers with decimals, within `low`..`high`. A comma is read as a decimal point."""

    def __init__(self, label=None, *, low, high, whole=True, required=True, required_message, invalid_message,
                 range_message, **kwargs):
        super().__init__(label, **kwargs)
        self.low, self.high, self.whole, self.required = low, high, whole, required
        self.required_message, self.invalid_message, self.range_message = (
            required_message, invalid_message, range_message)
        self.number = None

    @property
    def answered(self) -> bool:
        return bool((self.data or "").strip())

    def pre_validate(self, form):
        self.number = None
        text = (self.data or "").strip()
        if not text:
            raise StopValidation(self.required_message if self.required else None)
        pattern = r"[0-9]{1,4}" if self.whole else r"[0-9]{1,4}([.,][0-9]{1,2})?"
        if not re.fullmatch(pattern, text):
            raise StopValidation(self.invalid_message)
        number = int(text) if self.whole else float(text.replace(",", "."))
        if not math.isfinite(number) or not self.low <= number <= self.high:
            raise StopValidation(self.range_message)
        self.number = number


def yes_no(answer: bool | None) -> str | None:
    return None if answer is None else ("yes" if answer else "no")


def _number_text(value) -> str:
    if isinstance(value, float) and value.is_integer():
        value = int(value)
    return str(value)


# --- The steps -----------------------------------------------------------------------------------------------

class Step(FlaskForm):
    """One page of the questionnaire. `keys` are the answers it gives (names of the API contract);
    `answers()` gives them after `validate()`, `values(answers)` gives the form values that hold them."""

    progress = HiddenField()

    number: int = 0
    title: str = ""
    template: str = ""
    keys: tuple[str, ...] = ()

    def answers(self) -> dict:
        raise NotImplementedError

    @classmethod
    def values(cls, answers: dict) -> dict[str, object]:
        raise NotImplementedError

    @classmethod
    def holds_answers(cls, answers: dict) -> bool:
        return any(key in answers for key in cls.keys)

    def question_fields(self):
        return [f for f in self if f.name not in ("progress", "csrf_token")]


class BooleanQuestions:
    """Helpers for steps made of yes/no questions named as their answers."""

    booleans: tuple[str, ...] = ()

    def boolean_answers(self) -> dict:
        return {name: self[name].data == "yes" for name in self.booleans}

    @classmethod
    def boolean_values(cls, answers: dict) -> dict:
        return {name: yes_no(answers.get(name)) for name in cls.booleans}


class FeelingStep(Step):
    number, title, template = 1, "How you have been feeling", "screening/steps/feeling.html"
    keys = ("phq9",)
    stem = PHQ9_STEM

    @classmethod
    def values(cls, answers):
        return {f"phq9_{index}": str(value) for index, value in enumerate(answers.get("phq9") or (), start=1)}

    def answers(self):
        return {"phq9": [int(self[f"phq9_{index}"].data) for index in range(1, len(PHQ9_ITEMS) + 1)]}

    def phq9_fields(self):
        return [self[f"phq9_{index}"] for index in range(1, len(PHQ9_ITEMS) + 1)]


for _index, _item in enumerate(PHQ9_ITEMS, start=1):
    setattr(FeelingStep, f"phq9_{_index}", Answer(
        _item, choices=[(str(value), label) for value, label in PHQ9_CHOICES], short_label=f"Question {_index}",
        required_message="Choose how often this has bothered you over the last 2 weeks."))


class SafetyStep(Step):
    """The C-SSRS screener (past month). Questions 3 to 5 follow a yes to question 2, and the question of
    when follows a yes to question 6: without JavaScript all are shown, none preselected; a yes that leaves
    its follow-ups unanswered brings the page back asking for them. A follow-up answered after a no is kept:
    the applicant said it, and it may matter for their safety."""

    number, title, template = 2, "Your safety", "screening/steps/safety.html"
    keys = ("cssrs",)
    CSSRS_KEYS = tuple(CSSRS_QUESTIONS)

    # The error summary names these by number: it does not repeat the questions' words in an alert.
    wish_dead = Answer(CSSRS_QUESTIONS["wish_dead"], short_label="Question 1")
    suicidal_thoughts = Answer(CSSRS_QUESTIONS["suicidal_thoughts"], short_label="Question 2")
    method = Answer(CSSRS_QUESTIONS["method"], required=False, short_label="Question 3")
    intent = Answer(CSSRS_QUESTIONS["intent"], required=False, short_label="Question 4")
    plan = Answer(CSSRS_QUESTIONS["plan"], required=False, short_label="Question 5")
    behavior = Answer(CSSRS_QUESTIONS["behavior"], short_label="Question 6")
    behavior_within_3_months = Answer(CSSRS_QUESTIONS["behavior_within_3_months"], required=False,
                                      short_label="Question 6, when")

    def validate(self, extra_validators=None):
        valid = super().validate(extra_validators)
        follow_ups = []
        if self.suicidal_thoughts.data == "yes":
            follow_ups += [(self[name], 2) for name in CSSRS_AFTER_THOUGHTS]
        if self.behavior.data == "yes":
            follow_ups.append((self.behavior_within_3_months, 6))
        for question, after in follow_ups:
            if not question.answered:
                question.errors = [*question.errors, follow_up(after)]
                valid = False
        return valid

    def answers(self):
        return {"cssrs": {name: self[name].data == "yes" for name in self.CSSRS_KEYS if self[name].answered}}

    @classmethod
    def values(cls, answers):
        return {name: yes_no(value) for name, value in (answers.get("cssrs") or {}).items()}


class AboutStep(BooleanQuestions, Step):
    number, title, template = 3, "About you", "screening/steps/about.html"
    keys = ("age", "weight_kg", "pregnant_or_breastfeeding")
    booleans = ("pregnant_or_breastfeeding",)

    age = Number("Your age", low=0, high=120, description="In years.",
                 required_message="Enter your age in years.",
                 invalid_message="Enter your age as a whole number of years, for example 42.",
                 range_message="Check your age: enter a number of years from 0 to 120.")
    weight_kg = Number(
        "Your weight, in kilograms", low=20, high=350, whole=False,
        description="Ketamine is dosed by weight. If you know your weight in pounds, divide it by 2.2: "
                    "for example, 165 pounds is about 75 kilograms.",
        required_message="Enter your weight in kilograms.",
        invalid_message="Enter your weight in kilograms as a number, for example 72 or 72.5.",
        range_message="Check your weight: enter a number of kilograms from 20 to 350.")
    pregnant_or_breastfeeding = Answer("Are you pregnant or breastfeeding?",
                                       description="Answer no if this does not apply to you.")

    def answers(self):
        return {"age": self.age.number, "weight_kg": round(float(self.weight_kg.number), 1),
                **self.boolean_answers()}

    @classmethod
    def values(cls, answers):
        values = cls.boolean_values(answers)
        for name in ("age", "weight_kg"):
            if answers.get(name) is not None:
                values[name] = _number_text(answers[name])
        return values


class HeartStep(BooleanQuestions, Step):
    number, title, template = 4, "Heart and blood pressure", "screening/steps/heart.html"
    keys = ("bp_systolic", "bp_diastolic", "hypertension", "cardiac_event", "aneurysm_avm_or_brain_bleed",
            "stroke_tia")
    booleans = ("aneurysm_avm_or_brain_bleed", "stroke_tia")

    bp_systolic = Number(
        "Top number (systolic)", low=60, high=300, required=False,
        description="In mmHg, for example 120.",
        required_message=None, invalid_message="Enter the top number as a whole number, for example 120.",
        range_message="Check the top number: enter a number from 60 to 300.")
    bp_diastolic = Number(
        "Bottom number (diastolic)", low=30, high=200, required=False,
        description="In mmHg, for example 80.",
        required_message=None, invalid_message="Enter the bottom number as a whole number, for example 80.",
        range_message="Check the bottom number: enter a number from 30 to 200.")
    no_reading = BooleanField("I don\u2019t have a recent reading",
                              description="That\u2019s fine: a clinician will ask you for one later.")
    hypertension = Answer(
        "Have you been told you have high blood pressure (hypertension)?",
        choices=list(zip(HYPERTENSION, ("No", "Yes, and it is under control",
                                        "Yes, and it is not under control"), strict=True)),
        required_message="Choose one answer about high blood pressure.")
    cardiac_event = Answer(
        "Have you had a heart attack, unstable angina, or a procedure to open or bypass a heart artery?",
        description="Unstable angina is chest pain that comes on at rest or without warning. The procedures "
                    "include a stent, an angioplasty and bypass surgery.",
        choices=list(zip(CARDIAC_EVENT, ("No", "Yes, in the past 12 months", "Yes, more than 12 months ago"),
                         strict=True)),
        required_message="Choose one answer about your heart.")
    aneurysm_avm_or_brain_bleed = Answer(
        "Have you ever had an aneurysm, an arteriovenous malformation (AVM), or bleeding in the brain?",
        description="An aneurysm is a bulge in the wall of a blood vessel, for example in the brain or in the "
                    "aorta (the body\u2019s main artery). An AVM is a tangle of blood vessels in which arteries "
                    "join veins directly.")
    stroke_tia = Answer(
        "Have you ever had a stroke or a TIA (\u201cmini-stroke\u201d)?",
        description="A TIA (transient ischemic attack) is a brief stroke-like attack whose symptoms pass on "
                    "their own, usually within minutes or hours.")

    def validate(self, extra_validators=None):
        valid = super().validate(extra_validators)
        systolic, diastolic = self.bp_systolic, self.bp_diastolic
        if self.no_reading.data and (systolic.answered or diastolic.answered):
            self.no_reading.errors = [*self.no_reading.errors,
                                      "You entered a reading and ticked that you don\u2019t have one: please do "
                                      "one or the other."]
            return False
        if not self.no_reading.data:
            if not systolic.answered and not diastolic.answered:
                systolic.errors = [*systolic.errors, "Enter your reading, or tick \u201cI don\u2019t have a "
                                                     "recent reading\u201d."]
                return False
            for number, other in ((systolic, diastolic), (diastolic, systolic)):
                if other.answered and not number.answered:
                    number.errors = [*number.errors, "Enter both numbers of your reading."]
                    valid = False
        if systolic.number is not None and diastolic.number is not None and systolic.number <= diastolic.number:
            diastolic.errors = [*diastolic.errors, "The bottom number must be lower than the top number."]
            valid = False
        return valid

    def answers(self):
        answers = {"hypertension": self.hypertension.data, "cardiac_event": self.cardiac_event.data,
                   **self.boolean_answers()}
        if not self.no_reading.data:
            answers |= {"bp_systolic": self.bp_systolic.number, "bp_diastolic": self.bp_diastolic.number}
        return answers

    @classmethod
    def values(cls, answers):
        values = {**cls.boolean_values(answers), "hypertension": answers.get("hypertension"),
                  "cardiac_event": answers.get("cardiac_event")}
        if answers.get("bp_systolic") is not None:
            values |= {"bp_systolic": str(answers["bp_systolic"]), "bp_diastolic": str(answers["bp_diastolic"])}
        elif cls.holds_answers(answers):
            values["no_reading"] = True
        return values


class ConditionsStep(BooleanQuestions, Step):
    number, title, template = 5, "Other health conditions", "screening/steps/conditions.html"
    booleans = keys = (
        "raised_intracranial_pressure", "glaucoma", "seizure_disorder", "hyperthyroidism_uncontrolled",
        "severe_liver_disease", "severe_lung_disease", "bladder_pain_or_interstitial_cystitis",
        "ketamine_allergy", "prior_adverse_ketamine_reaction")

    raised_intracranial_pressure = Answer(
        "Have you been told you have raised pressure inside your head (raised intracranial pressure)?",
        description="For example after a head injury, with a brain tumor, or with idiopathic intracranial "
                    "hypertension.")
    glaucoma = Answer("Do you have glaucoma?",
                      description="An eye condition in which pressure inside the eye can damage the nerve "
                                  "at the back of the eye.")
    seizure_disorder = Answer("Do you have epilepsy or another seizure disorder?")
    hyperthyroidism_uncontrolled = Answer(
        "Do you have an overactive thyroid (hyperthyroidism) that is not under control?",
        description="Answer no if you have no thyroid problem, or if treatment keeps it under control.")
    severe_liver_disease = Answer("Do you have serious liver disease?",
                                  description="For example cirrhosis or liver failure.")
    severe_lung_disease = Answer("Do you have serious lung disease?",
                                 description="For example severe COPD or emphysema.")
    bladder_pain_or_interstitial_cystitis = Answer(
        "Do you have bladder pain or interstitial cystitis?",
        description="Interstitial cystitis is a long-lasting condition that causes bladder pain and pressure.")
    ketamine_allergy = Answer(
        "Have you ever had an allergic reaction to ketamine or esketamine (Spravato)?",
        description="Answer no if you have never had either.")
    prior_adverse_ketamine_reaction = Answer(
        "Have you ever had a bad reaction to ketamine that was not an allergy?",
        description="For example severe distress, confusion, or a large rise in blood pressure during or after a "
                    "session. Answer no if you have never had ketamine.")

    def answers(self):
        return self.boolean_answers()

    @classmethod
    def values(cls, answers):
        return cls.boolean_values(answers)


MEDICINE_LABELS = {
    "benzodiazepine": "A benzodiazepine, such as alprazolam (Xanax), clonazepam (Klonopin), diazepam (Valium) "
                      "or lorazepam (Ativan)",
    "lamotrigine": "Lamotrigine (Lamictal)",
    "maoi": "An MAOI antidepressant, such as phenelzine (Nardil), tranylcypromine (Parnate), isocarboxazid "
            "(Marplan) or the selegiline patch (Emsam)",
    "stimulant": "A stimulant, such as amphetamine (Adderall), lisdexamfetamine (Vyvanse) or methylphenidate "
                 "(Ritalin, Concerta)",
}
assert tuple(MEDICINE_LABELS) == MEDICATIONS


class HistoryStep(BooleanQuestions, Step):
    number, title, template = 6, "Mental health history and medicines", "screening/steps/history.html"
    keys = ("psychosis", "family_history_psychosis", "bipolar", "substance_use", "medications",
            "failed_antidepressant_trials")
    booleans = ("family_history_psychosis",)

    psychosis = Answer(
        "Have you ever had psychosis, or been diagnosed with schizophrenia or a related condition?",
        description="Psychosis means losing touch with what is real: for example hearing or seeing things "
                    "other people don\u2019t, or holding strong beliefs that others find untrue.",
        choices=list(zip(PSYCHOSIS, (
            "No",
            "Yes, in the past, and I have been well since",
            "Yes, I have these experiences now, or I have a diagnosis of schizophrenia or a related condition",
        ), strict=True)),
        required_message="Choose one answer about psychosis.")
    family_history_psychosis = Answer(
        "Has a parent, brother or sister had psychosis, schizophrenia or a related condition?",
        description="Answer no if you don\u2019t know.")
    bipolar = Answer(
        "Have you been diagnosed with bipolar disorder?",
        description="A manic episode is a stretch of days with a very high or irritable mood, much more energy "
                    "and much less need for sleep than usual.",
        choices=list(zip(BIPOLAR, ("No", "Yes, and my mood is stable now", "Yes, and I am in a manic episode now"),
                         strict=True)),
        required_message="Choose one answer about bipolar disorder.")
    substance_use = Answer(
        "Do you use alcohol or drugs in a way that is a problem for you, or are you in recovery?",
        description="Not counting tobacco.",
        choices=list(zip(SUBSTANCE_USE, (
            "No",
            "Yes, my use is a problem for me now",
            "I am in recovery, for less than 12 months",
            "I am in recovery, for 12 months or more",
        ), strict=True)),
        required_message="Choose one answer about alcohol and drugs.")
    medications = Medicines(
        "Do you take any of these medicines?",
        description="Tick all that you take, or \u201cNone of these\u201d.",
        choices=options([*MEDICINE_LABELS.items(), (NONE_OF_THESE, "None of these")]))
    failed_antidepressant_trials = Number(
        "How many antidepressants have you tried that did not help enough?",
        low=0, high=50,
        description="Count each medicine you took for at least 4 to 6 weeks at the dose your prescriber "
                    "recommended. Enter 0 if none.",
        required_message="Enter how many antidepressants you have tried, or 0.",
        invalid_message="Enter a whole number, for example 2, or 0 if none.",
        range_message="Check this number: enter from 0 to 50.")

    def answers(self):
        return {"psychosis": self.psychosis.data, "bipolar": self.bipolar.data,
                "substance_use": self.substance_use.data,
                "medications": [value for value in self.medications.data if value != NONE_OF_THESE],
                "failed_antidepressant_trials": self.failed_antidepressant_trials.number,
                **self.boolean_answers()}

    @classmethod
    def values(cls, answers):
        values = {**cls.boolean_values(answers), "psychosis": answers.get("psychosis"),
                  "bipolar": answers.get("bipolar"), "substance_use": answers.get("substance_use")}
        if "medications" in answers:
            values["medications"] = list(answers["medications"]) or [NONE_OF_THESE]
        if answers.get("failed_antidepressant_trials") is not None:
            values["failed_antidepressant_trials"] = str(answers["failed_antidepressant_trials"])
        return values


STEPS: tuple[type[Step], ...] = (FeelingStep, SafetyStep, AboutStep, HeartStep, ConditionsStep, HistoryStep)
SAFETY_STEP = SafetyStep.number
assert [step.number for step in STEPS] == list(range(1, len(STEPS) + 1))


def step_of(answer_name: str) -> type[Step] | None:
    """The step that asks this answer (`answers.cssrs.intent` and `phq9.8` name their step too)."""
    top = answer_name.removeprefix("answers.").split(".")[0]
    return next((step for step in STEPS if top in step.keys), None)


def formdata(values: dict[str, object]) -> MultiDict:
    data = MultiDict()
    for name, value in values.items():
        if value is None or value is False:
            continue
        if value is True:
            data.add(name, "y")
        elif isinstance(value, list):
            for item in value:
                data.add(name, item)
        else:
            data.add(name, value)
    return data


# --- Progress: the answers so far, carried encrypted in one hidden field -------------------------------------

PROGRESS_KIND = "retreat.screening.progress/1"


class BadProgress(ValueError):
    """The progress field cannot be read or its answers do not check: the applicant starts again."""


@dataclass
class Progress:
    step: int = 1  # the step whose page is shown
    answers: dict = field(default_factory=dict)  # every step's answers so far, by the names of the API contract

    def token(self) -> str:
        return crypto.encrypt_json({"kind": PROGRESS_KIND, "step": self.step, "answers": self.answers}).decode()

    def with_step(self, step: type[Step], answers: dict) -> "Progress":
        """The answers with this step's replaced (a step's optional answers may have gone)."""
        kept = {key: value for key, value in self.answers.items() if key not in step.keys}
        return Progress(self.step, kept | answers)


def read_progress(token: str | None) -> Progress:
    """The progress a page carried, every answer in it checked again by its step's own validators: the
    steps before the current one must be complete; later ones (kept when going back) must be valid."""
    if not token:
        return Progress()
    try:
        carried = crypto.decrypt_json(token.encode("ascii"))
    except (crypto.DecryptionError, UnicodeEncodeError, ValueError):
        raise BadProgress("The progress token cannot be read.") from None
    # The kind marks a token this questionnaire made: any other encrypted value (a stored screening's
    # answers, say) is refused rather than shown back on a page.
    if not isinstance(carried, dict) or carried.get("kind") != PROGRESS_KIND:
        raise BadProgress("Not a progress token.")
    step, answers = carried.get("step"), carried.get("answers")
    if type(step) is not int or not 1 <= step <= len(STEPS) or not isinstance(answers, dict):
        raise BadProgress("The progress token is malformed.")
    known = {key for each in STEPS for key in each.keys}
    if set(answers) - known:
        raise BadProgress("The progress token holds unknown answers.")
    for each in STEPS:
        if each.number >= step and not each.holds_answers(answers):
            continue
        form = each(formdata=formdata(each.values(answers)), meta={"csrf": False})
        if not form.validate() or form.answers() != {k: v for k, v in answers.items() if k in each.keys}:
            raise BadProgress(f"The carried answers of step {each.number} do not check.")
    return Progress(step, answers)


# --- Asking for a clinician review ---------------------------------------------------------------------------

class ReviewRequestForm(FlaskForm):
    first_name = StringField("First name", validators=[
        InputRequired("Enter your first name."), Length(max=100, message="Enter at most 100 characters.")])
    last_name = StringField("Last name", validators=[
        InputRequired("Enter your last name."), Length(max=100, message="Enter at most 100 characters.")])
    email = StringField("Email address", description="We\u2019ll use it to tell you what the clinician decides.",
                        validators=[InputRequired("Enter your email address."),
                                    Length(max=254, message="Enter at most 254 characters."),
                                    Email("Enter an email address like name@example.com.")])
    phone = StringField("Phone number", description="A clinician may call you to talk through your answers.",
                        validators=[InputRequired("Enter a phone number we can call you on.")])

    def validate_phone(self, field):
        digits = re.sub(r"\D", "", field.data or "")
        if not re.fullmatch(r"[0-9+()\-.\s]{7,25}", (field.data or "").strip()) or not 7 <= len(digits) <= 15:
            raise ValidationError("Enter a phone number with its area code, for example 555 123 4567.")

    def contact(self) -> dict[str, str]:
        return {name: " ".join(self[name].data.split()) for name in ("first_name", "last_name", "email", "phone")}
