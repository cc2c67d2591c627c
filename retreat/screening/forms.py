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
from decimal import Decimal
from functools import singledispatch

from flask_wtf import FlaskForm
from werkzeug.datastructures import MultiDict
from wtforms import BooleanField, RadioField, SelectMultipleField, StringField, widgets
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


def _questions_named(numbers: list) -> str:
    """[2, 3, 5, 6, 7] -> "Questions 2, 3 and 5 to 7"."""
    runs: list[list] = []
    for number in numbers:
        if runs and isinstance(number, int) and isinstance(runs[-1][-1], int) and number == runs[-1][-1] + 1:
            runs[-1].append(number)
        else:
            runs.append([number])
    parts = [f"{run[0]} to {run[-1]}" if len(run) > 2 else ", ".join(str(n) for n in run) for run in runs]
    return "Questions " + (parts[0] if len(parts) == 1 else ", ".join(parts[:-1]) + " and " + parts[-1])


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


def unit_field_name(question: Question) -> str:
    return f"{question.name}_unit"


@make_field.register
def _(question: questions.Number):
    if question.units:  # the chosen unit's bounds are checked by the step (Step._check_unit)
        return Number(question.text, low=0, high=9999, whole=question.whole,
                      required=question.required, description=question.hint or "",
                      required_message=question.required_message, invalid_message=question.invalid_message,
                      range_message=question.range_message)
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
    unit_field: object = None  # a number's choice of unit, beside it


class Step(FlaskForm):
    """One page of the questionnaire, made from the catalogue (`step_form`). `keys` are the answers it gives
    (names of the API contract); `answers()` gives them after `validate()`, `values(answers)` gives the form
    values that hold them. A step's follow-up questions (asked only after a yes) are a page of their own, after
    the step's main page and with its number: `follow_ups` marks it."""

    number: int = 0
    title: str = ""
    template: str = ""
    asked: tuple[Question, ...] = ()  # the questions of the catalogue it asks, in order
    keys: tuple[str, ...] = ()
    follow_ups: bool = False

    @classmethod
    def holds_answers(cls, answers: dict) -> bool:
        return any(questions.value_of(answers, question) is not None for question in cls.asked)

    @classmethod
    def readings(cls) -> tuple[questions.Reading, ...]:
        names = {question.name for question in cls.asked}
        return tuple(reading for reading in questions.READINGS if reading.upper in names)

    def answers(self) -> dict:
        answers = {}
        for question in self.asked:
            field_ = self[question.name]
            if getattr(question, "units", ()) and field_.answered:
                code = self[unit_field_name(question)].data
                unit = question.unit_of(code)
                entered = field_.number
                stored = (float(Decimal(str(entered)) * unit.factor) if unit is not None
                          else round(float(entered), question.decimals))
                _put(answers, question, stored)
                answers.setdefault(questions.AS_ENTERED, {})[question.name] = {"value": entered, "unit": code}
            elif question.required or field_.answered:
                _put(answers, question, _answer_of(question, field_))
        return answers

    @classmethod
    def given(cls, answers: dict) -> dict:
        """What `answers` hold of this page's questions, shaped as `answers()` gives them."""
        picked: dict = {}
        for question in cls.asked:
            value = questions.value_of(answers, question)
            if value is not None:
                _put(picked, question, value)
            entered = (answers.get(questions.AS_ENTERED) or {}).get(question.name)
            if entered is not None:
                picked.setdefault(questions.AS_ENTERED, {})[question.name] = entered
        return picked

    @classmethod
    def values(cls, answers: dict) -> dict[str, object]:
        values = {}
        for question in cls.asked:
            value = questions.value_of(answers, question)
            if value is not None:
                values[question.name] = _form_value(question, value)
            if getattr(question, "units", ()) and value is not None:
                entered = (answers.get(questions.AS_ENTERED) or {}).get(question.name) or {
                    "value": value, "unit": question.unit_label}
                values[question.name] = _number_text(entered["value"])
                values[unit_field_name(question)] = entered["unit"]
        for reading in cls.readings():
            if not any(name in values for name in reading.members) and cls.holds_answers(answers):
                values[reading.none_name] = True
        return values

    def validate(self, extra_validators=None):
        valid = super().validate(extra_validators)
        for reading in self.readings():
            valid = self._check_reading(reading) and valid
        for question in self.asked:
            if getattr(question, "units", ()):
                valid = self._check_unit(question) and valid
        names = {question.name for question in self.asked}
        for question in self.asked:
            if question.asked_if is None or question.asked_if.question not in names:
                continue  # a follow-up on its own page is required there (it is shown only after the yes)
            asking = next(each for each in self.asked if each.name == question.asked_if.question)
            if self[asking.name].data == _form_value(asking, question.asked_if.answer) and \
                    not self[question.name].answered:
                field_ = self[question.name]
                field_.errors = [*field_.errors, follow_up(asking.number)]
                valid = False
        return valid

    def summary(self) -> list[tuple[str, str, str]]:
        """The error summary's lines (link target, label, reason): one line per question group and reason, so
        that an empty step says "Questions 1 to 9: choose ..." once rather than nine times; each line links to
        the first field it speaks of. Questions set out outside a group are a group of the step's."""
        lines: dict[tuple[str, str], list] = {}
        by_name = {question.name: question for question in self.asked}
        for field_ in self:
            if not field_.errors or field_.name == "csrf_token":
                continue
            question = by_name.get(field_.name)
            group = (question.group if question else None) or f"step-{self.number}"
            for error in field_.errors:
                lines.setdefault((group, error), []).append((field_, question))
        summary = []
        for (_, error), members in lines.items():
            field_, question = members[0]
            target = f"{field_.id}-0" if field_.type in ("Answer", "Checkboxes") else field_.id
            if len(members) == 1:
                label = getattr(field_, "short_label", None) or field_.label.text
            else:
                numbers = [q.number for _, q in members if q is not None and q.number is not None]
                label = (_questions_named(numbers) if len(numbers) == len(members)
                         else f"{len(members)} questions")
            summary.append((target, label, error))
        return summary

    def _check_unit(self, question: questions.Number) -> bool:
        """A number with a choice of unit: the unit chosen, and the number within that unit's bounds."""
        number, unit = self[question.name], self[unit_field_name(question)]
        if number.errors or unit.errors or not number.answered:
            return not (number.errors or unit.errors)
        if not unit.answered:
            unit.errors = [*unit.errors, question.unit_required_message]
            return False
        other = question.unit_of(unit.data)
        low, high, message = ((other.low, other.high, other.range_message) if other is not None
                               else (question.low, question.high, question.range_message))
        if not low <= number.number <= high:
            number.errors = [*number.errors, message]
            return False
        return True

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
            unit = self[unit_field_name(question)] if getattr(question, "units", ()) else None
            (open_[-1].parts if open_ else top).append(Part(field=self[question.name], question=question,
                                                            unit_field=unit))
        return top


def step_form(step: questions.Step, catalogue: tuple[Question, ...] = questions.QUESTIONS, *,
              asked: tuple[Question, ...] | None = None, follow_ups: bool = False) -> type[Step]:
    """The form of a step's page: a field for each question it asks, in catalogue order (a reading's "none" box
    right after its numbers). By default every question of the step is on it."""
    if asked is None:
        asked = questions.asked_on(step.number, catalogue)
    slug = f"{step.slug}_follow_ups" if follow_ups else step.slug
    attributes = {"number": step.number, "title": step.title, "template": f"screening/steps/{slug}.html",
                  "asked": asked, "keys": questions.answer_names(asked), "follow_ups": follow_ups}
    for question in asked:
        attributes[question.name] = make_field(question)
        if follow_ups and question.asked_if is not None:  # on its own page, shown only after the yes: required
            asking = questions.BY_NAME[question.asked_if.question]
            attributes[question.name].kwargs.update(required=True, required_message=follow_up(asking.number))
        if getattr(question, "units", ()):
            attributes[unit_field_name(question)] = Answer(
                f"Unit of {question.text[0].lower()}{question.text[1:]}",
                choices=[(question.unit_label, question.unit_label), *((u.code, u.label) for u in question.units)],
                required=False, short_label="Unit")
        for reading in questions.READINGS:
            if question.name == reading.lower:
                attributes[reading.none_name] = BooleanField(reading.none_label, description=reading.none_hint or "")
    return type(f"{slug.title().replace('_', '')}Step", (Step,), attributes)


def _is_asked(question: Question, answers: dict) -> bool:
    """Whether a follow-up is asked: the answer it follows was given as the one that asks it."""
    asking = questions.BY_NAME[question.asked_if.question]
    return questions.value_of(answers, asking) == question.asked_if.answer


@dataclass(frozen=True)
class Page:
    """A page of the questionnaire, in order: each step's main page, and after it, for a step with follow-up
    questions, their page, shown only when an answer on the main page asks one of them (no JavaScript needed)."""

    index: int  # its place in the questionnaire, from 1: its address is /screening/questions/<index>
    step: questions.Step
    follow_ups: bool = False

    def questions(self) -> tuple[Question, ...]:
        """Every question this page may ask."""
        return tuple(question for question in questions.asked_on(self.step.number)
                     if (question.asked_if is not None) is self.follow_ups)

    def asked(self, answers: dict) -> tuple[Question, ...]:
        """The questions it asks, given the answers so far (a follow-up only after the answer that asks it)."""
        if not self.follow_ups:
            return self.questions()
        return tuple(question for question in self.questions() if _is_asked(question, answers))

    def shown(self, answers: dict) -> bool:
        return bool(self.asked(answers))

    def form(self, answers: dict) -> type[Step]:
        return _page_form(self.step, self.asked(answers), self.follow_ups)


_forms: dict = {}


def _page_form(step: questions.Step, asked: tuple[Question, ...], follow_ups: bool) -> type[Step]:
    key = (step.number, tuple(question.name for question in asked), follow_ups)
    if key not in _forms:
        _forms[key] = step_form(step, asked=asked, follow_ups=follow_ups)
    return _forms[key]


def _pages() -> tuple[Page, ...]:
    pages: list[Page] = []
    for step in questions.STEPS:
        pages.append(Page(len(pages) + 1, step))
        if any(question.asked_if is not None for question in questions.asked_on(step.number)):
            pages.append(Page(len(pages) + 1, step, follow_ups=True))
    return tuple(pages)


PAGES: tuple[Page, ...] = _pages()
STEPS: tuple[type[Step], ...] = tuple(page.form({}) for page in PAGES if not page.follow_ups)  # main pages
SAFETY_STEP = questions.SAFETY_STEP
SafetyStep = STEPS[SAFETY_STEP - 1]
assert [step.number for step in STEPS] == list(range(1, len(STEPS) + 1))
assert all(step.asked for step in STEPS), "every step asks something"


def step_of(answer_name: str) -> Page | None:
    """The first page that asks this answer (`answers.cssrs.intent` and `phq9.8` name theirs too)."""
    path = answer_name.removeprefix("answers.")
    question = questions.BY_PATH.get(path)
    if question is not None:
        return next(page for page in PAGES if question in page.questions())
    top = path.split(".")[0]
    return next((page for page in PAGES if top in questions.answer_names(page.questions())), None)


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


def _remove(answers: dict, question: Question) -> None:
    (answers.get(questions.AS_ENTERED) or {}).pop(question.name, None)
    if question.answer not in answers:
        return
    if question.part is None or isinstance(question.part, int):  # a list answer is one page's, whole
        answers.pop(question.answer)
    else:
        answers[question.answer].pop(question.part, None)


# --- The draft: the answers so far, kept encrypted between pages -------------------------------------------------

DRAFT_KIND = "retreat.screening.draft/1"
DRAFT_COOKIE = "screening_draft"
DRAFT_TTL_SECONDS = 60 * 60  # an hour after the last page was sent, the draft is unreadable and its cookie gone
TYPED_MAX_CHARACTERS = 50


class BadProgress(ValueError):
    """The draft cannot be read, has expired, or its answers do not check: the applicant starts again."""


@dataclass
class Draft:
    """The answers so far (by the names of the API contract), and what was typed on a page left with the app's
    own Back button before it was complete (raw form values, shown again, never read as answers). It lives
    in one cookie, encrypted and authenticated with the screening Fernet keys (retreat.core.crypto): the
    browser holds it but cannot read or alter it, and it expires with DRAFT_TTL_SECONDS."""

    answers: dict = field(default_factory=dict)
    typed: dict = field(default_factory=dict)  # str(page index) -> {field name: [values]}

    def token(self) -> str:
        return crypto.encrypt_json({"kind": DRAFT_KIND, "answers": self.answers, "typed": self.typed}).decode()

    def shown(self) -> tuple[Page, ...]:
        return tuple(page for page in PAGES if page.shown(self.answers))

    def reachable(self) -> Page:
        """The furthest page the answers reach: every page shown before it is complete."""
        for page in self.shown():
            if not page.form(self.answers).holds_answers(self.answers) or not _complete(page, self.answers):
                return page
        return self.shown()[-1]

    def next_after(self, page: Page) -> Page | None:
        return next((each for each in self.shown() if each.index > page.index), None)

    def before(self, page: Page) -> Page | None:
        return next((each for each in reversed(self.shown()) if each.index < page.index), None)

    def save(self, page: Page, form: Step) -> None:
        """The page's answers replace what it held; follow-ups no longer asked go (the applicant changed the
        answer that asked them, and answers only what the pages show)."""
        for question in page.questions():
            _remove(self.answers, question)
        _merge(self.answers, form.answers())
        for each in PAGES:
            if each.follow_ups:
                for question in each.questions():
                    if not _is_asked(question, self.answers):
                        _remove(self.answers, question)
        self.answers = {key: value for key, value in self.answers.items() if value != {}}
        self.typed.pop(str(page.index), None)

    def keep_typed(self, page: Page, data: MultiDict, form: type[Step]) -> None:
        names = {question.name for question in form.asked} | {r.none_name for r in form.readings()}
        self.typed[str(page.index)] = {name: [value[:TYPED_MAX_CHARACTERS] for value in data.getlist(name)][:10]
                                       for name in names if data.getlist(name)}

    def typed_on(self, page: Page) -> MultiDict | None:
        typed = self.typed.get(str(page.index))
        return MultiDict([(name, value) for name, values in typed.items() for value in values]) if typed else None


def _merge(answers: dict, new: dict) -> None:
    for key, value in new.items():
        if isinstance(value, dict) and isinstance(answers.get(key), dict):
            answers[key].update(value)
        else:
            answers[key] = value


def _complete(page: Page, answers: dict) -> bool:
    form_class = page.form(answers)
    form = form_class(formdata=formdata(form_class.values(answers)), meta={"csrf": False})
    return form.validate() and form.answers() == form_class.given(answers)


def read_draft(token: str | None) -> Draft:
    """The draft a cookie holds, every answer in it checked again by its page's own validators: the pages shown
    must be complete up to the first one with no answers; later ones (kept when going back) must be valid.
    No cookie: an empty draft."""
    if not token:
        return Draft()
    try:
        carried = crypto.decrypt_json(token.encode("ascii"), ttl=DRAFT_TTL_SECONDS)
    except (crypto.DecryptionError, UnicodeEncodeError, ValueError):
        raise BadProgress("The draft cannot be read, or has expired.") from None
    # The kind marks a draft this questionnaire made: any other encrypted value (a stored screening's answers,
    # say) is refused rather than shown back on a page.
    if not isinstance(carried, dict) or carried.get("kind") != DRAFT_KIND:
        raise BadProgress("Not a draft.")
    answers, typed = carried.get("answers"), carried.get("typed")
    if not isinstance(answers, dict) or not isinstance(typed, dict):
        raise BadProgress("The draft is malformed.")
    known = {*questions.answer_names(), questions.AS_ENTERED}
    if set(answers) - known:
        raise BadProgress("The draft holds unknown answers.")
    paths = {question.path for question in questions.QUESTIONS} | {
        f"{questions.AS_ENTERED}.{question.name}" for question in questions.UNIT_CHOICES}
    for key, value in answers.items():
        if isinstance(value, dict) and {f"{key}.{part}" for part in value} - paths:
            raise BadProgress("The draft holds unknown answers.")
    gap = False
    for page in PAGES:
        if not page.shown(answers):
            continue
        form_class = page.form(answers)
        if not form_class.holds_answers(answers):
            gap = True
            continue
        if gap or not _complete(page, answers):
            raise BadProgress(f"The answers of page {page.index} do not check.")
    for index, values in typed.items():
        if index not in {str(page.index) for page in PAGES} or not isinstance(values, dict) or not all(
                isinstance(v, list) and all(isinstance(x, str) for x in v) for v in values.values()):
            raise BadProgress("The draft's typed values are malformed.")
    return Draft(answers, typed)


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
