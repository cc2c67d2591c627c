"""The pre-screen's forms: six short steps, each one page, and the form that asks for a clinician review.

The steps are made from the catalogue of questions (retreat.screening.questions): each question there is a field
of its step here, with its wording, hint, choices and reasons, and its page sets it out in its group
(templates/screening/_macros.html, `question_parts`). Every step turns its fields into answers under the names
of the API contract and back again, so that the answers carried between pages can be checked by the very same
validators on every request. Health questions are never preselected: a radio group has no default and leaving
it unanswered is refused with a reason shown next to it.

The answers so far travel from page to page in one hidden field, `progress`: encrypted and authenticated with
retreat.core.crypto (Fernet), so the applicant's browser holds them but cannot read or alter them, and nothing
is stored in the cookie session or the database until a result. `read_progress` validates every carried
answer again and refuses a token it cannot read (`BadProgress`: the page asks to start again).
"""

import dataclasses
import math
import re
from dataclasses import dataclass, field
from functools import singledispatch

from flask_wtf import FlaskForm
from werkzeug.datastructures import MultiDict
from wtforms import BooleanField, HiddenField, RadioField, SelectMultipleField, StringField, widgets
from wtforms.validators import Email, InputRequired, Length, StopValidation, ValidationError

from retreat.core import crypto
from retreat.screening import questions
from retreat.screening.questions import Question
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


class Checkboxes(SelectMultipleField):
    """Checkboxes of the choices, plus "None of these": one answer is required, so that an unticked list is never
    read as "none of them"."""

    widget = widgets.ListWidget(prefix_label=False)
    option_widget = widgets.CheckboxInput()

    def __init__(self, label=None, *, required_message, invalid_message, conflict_message, **kwargs):
        super().__init__(label, **kwargs)
        self.required_message, self.invalid_message, self.conflict_message = (
            required_message, invalid_message, conflict_message)

    @property
    def answered(self) -> bool:
        return bool(self.data)

    def pre_validate(self, form):
        chosen = self.data or []
        if not chosen:
            raise StopValidation(self.required_message)
        if any(value not in {choice.value for choice in self.choices} for value in chosen):
            raise StopValidation(self.invalid_message)
        if NONE_OF_THESE in chosen and len(chosen) > 1:
            raise StopValidation(self.conflict_message)


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



# --- From a question to its field and back ---------------------------------------------------------------------

@singledispatch
def make_field(question: Question):
    """The unbound field that asks this question."""
    raise TypeError(f"No field for {type(question).__name__}")


@make_field.register
def _(question: questions.YesNo):
    return Answer(question.text, description=question.hint or "", required=question.required,
                  required_message=question.required_message, short_label=question.short_label)


@make_field.register
def _(question: questions.OneOf):
    return Answer(question.text, choices=[(_form_value(question, choice.value), choice.label)
                                          for choice in question.choices],
                  description=question.hint or "", required=question.required,
                  required_message=question.required_message, short_label=question.short_label)


@make_field.register
def _(question: questions.Number):
    return Number(question.text, low=question.low, high=question.high, whole=question.whole,
                  required=question.required, description=question.hint or "",
                  required_message=question.required_message, invalid_message=question.invalid_message,
                  range_message=question.range_message)


@make_field.register
def _(question: questions.SeveralOf):
    return Checkboxes(question.text, description=question.hint or "",
                      choices=options([*((choice.value, choice.label) for choice in question.choices),
                                       (NONE_OF_THESE, question.none_label)]),
                      required_message=question.required_message, invalid_message=question.invalid_message,
                      conflict_message=question.conflict_message)


@singledispatch
def _form_value(question: Question, value):
    """An answer as its field holds it."""
    return value


@_form_value.register
def _(question: questions.YesNo, value):
    return yes_no(value)


@_form_value.register
def _(question: questions.Phq9Item, value):
    return str(value)


@_form_value.register
def _(question: questions.Number, value):
    return _number_text(value)


@_form_value.register
def _(question: questions.SeveralOf, value):
    return list(value) or [NONE_OF_THESE]


@singledispatch
def _answer_of(question: Question, field):
    """A validated field's answer, as the API contract has it."""
    return field.data


@_answer_of.register
def _(question: questions.YesNo, field):
    return field.data == "yes"


@_answer_of.register
def _(question: questions.Phq9Item, field):
    return int(field.data)


@_answer_of.register
def _(question: questions.Number, field):
    return field.number if question.whole else round(float(field.number), question.decimals)


@_answer_of.register
def _(question: questions.SeveralOf, field):
    return [value for value in field.data if value != NONE_OF_THESE]


def _put(answers: dict, question: Question, value) -> None:
    if question.part is None:
        answers[question.answer] = value
    elif isinstance(question.part, int):
        items = answers.setdefault(question.answer, [])
        items.extend([None] * (question.part + 1 - len(items)))
        items[question.part] = value
    else:
        answers.setdefault(question.answer, {})[question.part] = value


# --- The steps -----------------------------------------------------------------------------------------------

@dataclass
class Part:
    """A piece of a step's page: a question's field, or a group of them (with its "none" box, for a reading)."""

    field: object = None
    question: Question | None = None
    group: questions.Group | None = None
    parts: list["Part"] = dataclasses.field(default_factory=list)
    none_field: object = None


class Step(FlaskForm):
    """One page of the questionnaire, made from the catalogue (`step_form`). `keys` are the answers it gives
    (names of the API contract); `answers()` gives them after `validate()`, `values(answers)` gives the form
    values that hold them."""

    progress = HiddenField()

    number: int = 0
    title: str = ""
    template: str = ""
    asked: tuple[Question, ...] = ()  # the questions of the catalogue it asks, in order
    keys: tuple[str, ...] = ()

    @classmethod
    def holds_answers(cls, answers: dict) -> bool:
        return any(key in answers for key in cls.keys)

    @classmethod
    def readings(cls) -> tuple[questions.Reading, ...]:
        names = {question.name for question in cls.asked}
        return tuple(reading for reading in questions.READINGS if reading.upper in names)

    def answers(self) -> dict:
        answers = {}
        for question in self.asked:
            field_ = self[question.name]
            if question.required or field_.answered:
                _put(answers, question, _answer_of(question, field_))
        return answers

    @classmethod
    def values(cls, answers: dict) -> dict[str, object]:
        values = {}
        for question in cls.asked:
            value = questions.value_of(answers, question)
            if value is not None:
                values[question.name] = _form_value(question, value)
        for reading in cls.readings():
            if not any(name in values for name in reading.members) and cls.holds_answers(answers):
                values[reading.none_name] = True
        return values

    def validate(self, extra_validators=None):
        valid = super().validate(extra_validators)
        for reading in self.readings():
            valid = self._check_reading(reading) and valid
        for question in self.asked:
            if question.asked_if is None:
                continue
            asking = next(each for each in self.asked if each.name == question.asked_if.question)
            if self[asking.name].data == _form_value(asking, question.asked_if.answer) and \
                    not self[question.name].answered:
                field_ = self[question.name]
                field_.errors = [*field_.errors, follow_up(asking.number)]
                valid = False
        return valid

    def _check_reading(self, reading: questions.Reading) -> bool:
        """Both numbers or the "none" box; the upper one above the lower one."""
        valid = True
        upper, lower, none = self[reading.upper], self[reading.lower], self[reading.none_name]
        if none.data and (upper.answered or lower.answered):
            none.errors = [*none.errors, reading.both_and_none_message]
            return False
        if not none.data:
            if not upper.answered and not lower.answered:
                upper.errors = [*upper.errors, reading.neither_message]
                return False
            for number, other in ((upper, lower), (lower, upper)):
                if other.answered and not number.answered:
                    number.errors = [*number.errors, reading.one_missing_message]
                    valid = False
        if upper.number is not None and lower.number is not None and upper.number <= lower.number:
            lower.errors = [*lower.errors, reading.order_message]
            valid = False
        return valid

    def layout(self) -> list[Part]:
        """The step's questions as its page sets them out: in catalogue order, each inside its groups."""
        top: list[Part] = []
        open_: list[Part] = []  # the groups open at this point, outermost first
        for question in self.asked:
            chain = questions.group_chain(question.group)
            while open_ and tuple(part.group for part in open_) != chain[:len(open_)]:
                open_.pop()
            for group in chain[len(open_):]:
                part = Part(group=group)
                if isinstance(group, questions.Reading):
                    part.none_field = self[group.none_name]
                (open_[-1].parts if open_ else top).append(part)
                open_.append(part)
            (open_[-1].parts if open_ else top).append(Part(field=self[question.name], question=question))
        return top


def step_form(step: questions.Step, catalogue: tuple[Question, ...] = questions.QUESTIONS) -> type[Step]:
    """The form of a step: a field for each question it asks, in catalogue order (a reading's "none" box right
    after its numbers)."""
    asked = questions.asked_on(step.number, catalogue)
    attributes = {"number": step.number, "title": step.title, "template": f"screening/steps/{step.slug}.html",
                  "asked": asked, "keys": questions.answer_names(asked)}
    for question in asked:
        attributes[question.name] = make_field(question)
        for reading in questions.READINGS:
            if question.name == reading.lower:
                attributes[reading.none_name] = BooleanField(reading.none_label, description=reading.none_hint or "")
    return type(f"{step.slug.title()}Step", (Step,), attributes)


STEPS: tuple[type[Step], ...] = tuple(step_form(step) for step in questions.STEPS)
SAFETY_STEP = questions.SAFETY_STEP
SafetyStep = STEPS[SAFETY_STEP - 1]
assert [step.number for step in STEPS] == list(range(1, len(STEPS) + 1))
assert all(step.asked for step in STEPS), "every step asks something"


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


class EmailLinkForm(FlaskForm):
    """The eligible result page's offer to email its link: an address used once, for that email only."""

    email = StringField("Your email address", description="We send this page\u2019s link there once, and keep the "
                        "address no longer than it takes to send.", filters=[lambda value: (value or "").strip()],
                        validators=[InputRequired("Enter your email address."),
                                    Length(max=254, message="Enter at most 254 characters."),
                                    Email("Enter an email address like name@example.com.")])
