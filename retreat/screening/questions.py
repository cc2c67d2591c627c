"""The screening questions (domain/screening.md): one catalogue, one entry per question.

An entry says everything about its question: the name of its answer (the API contract), its type (yes/no,
one choice, a number with bounds and unit, several choices, a PHQ-9 item, a C-SSRS item), its wording as the
applicant reads it, its choices with their labels, the step that asks it and whether it is asked only after
another answer, how the clinician's page shows it, and the rule input (fact) it feeds. Everything else is
derived from the catalogue:

- the answers' validation schema (ANSWERS, below), shared by the web questionnaire and the JSON API, and with
  it the OpenAPI document's ScreeningRequest: wrong types, values out of range and unknown fields are refused,
  never defaulted; the only allowed gaps are a missing blood pressure (it gives a review) and the questions
  asked only after a yes (the C-SSRS follow-ups);
- the questionnaire's step forms and pages (forms.py, templates/screening/steps);
- the facts the rules read (`facts`; rules.py keeps the versioned rules as data);
- the clinician's page (review.readable_answers).

So adding a question is one entry here (plus a rule, if it matters to one). The PHQ-9 and C-SSRS wording is
validated wording: keep it word for word.

Room for what comes later: `group` (the questions a page sets out together; one error message per group can
hang on it), `unit` (a number's unit: weight in kilograms or pounds), `asked_if` (a follow-up, for showing it only
after a yes without JavaScript: a step's follow-ups are a page of their own, forms.PAGES) and `translations`
(the wording in another language: Spanish wording of the validated instruments). None is translated yet.
"""

from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from decimal import Decimal
from typing import ClassVar

from marshmallow import RAISE, Schema, ValidationError, fields, validate, validates_schema

# --- The pieces of an entry --------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Step:
    """A page of the questionnaire: its template is templates/screening/steps/<slug>.html."""

    number: int
    slug: str
    title: str


@dataclass(frozen=True)
class Wording:
    """A question's or a group's words in another language (a place kept for them; none are filled in yet)."""

    text: str
    hint: str | None = None
    choices: Mapping[object, str] = field(default_factory=dict, hash=False)  # stored value -> label


@dataclass(frozen=True)
class Choice:
    value: object  # as stored in the answers (the API contract)
    label: str  # as the applicant reads it
    review: str  # as the clinician's page shows it
    notable: bool = False  # highlighted on the clinician's page


@dataclass(frozen=True)
class AskedIf:
    """A follow-up: asked only when `question` (on the same step, in the same answer) was answered `answer`."""

    question: str
    answer: object
    missing_message: str  # the API's reason when the follow-up is left out


@dataclass(frozen=True, kw_only=True)
class Question:
    """One question. `name` is its answer's name in the API contract and its form field's name and id (a C-SSRS
    item's name is its key inside `cssrs`; a PHQ-9 item's is phq9_<n>, its answer being item n of `phq9`)."""

    name: str
    text: str  # its wording as the applicant reads it
    step: int  # the number of the step that asks it
    hint: str | None = None
    group: str | None = None  # the name of the Group its page sets it out in
    number: int | str | None = None  # shown before the question on its page ("2a": a follow-up of question 2)
    short_label: str | None = None  # names it in a page's error summary (default: the question itself)
    required_message: str | None = None  # the page's reason when it is left unanswered
    optional: bool = False  # may be left out (blood pressure: both numbers or neither)
    asked_if: AskedIf | None = None
    review_label: str | None = None  # its label on the clinician's page
    api_description: str | None = None  # for the OpenAPI document
    translations: Mapping[str, Wording] = field(default_factory=dict, hash=False)  # language code -> wording

    review_section: ClassVar[str] = "health"  # the table of the clinician's page that shows it

    @property
    def answer(self) -> str:
        """The top-level answer that holds it."""
        return self.name

    @property
    def part(self) -> int | str | None:
        """Its place inside that answer: an index in a list, a key in an object; None for the whole answer."""
        return None

    @property
    def path(self) -> str:
        """As the API names it in an error (after "answers."): age, phq9.8, cssrs.intent."""
        return self.answer if self.part is None else f"{self.answer}.{self.part}"

    @property
    def fact(self) -> str | None:
        """The rule input its answer is (None: it feeds only a total)."""
        return self.path

    @property
    def required(self) -> bool:
        return not self.optional and self.asked_if is None

    @property
    def label(self) -> str:
        """Its label on the clinician's page."""
        return self.review_label or self.text

    def schema_field(self) -> fields.Field:
        raise NotImplementedError

    def reads(self, value) -> str:
        """How an answer reads on the clinician's page."""
        return str(value)

    def notable(self, value) -> bool:
        """Whether the clinician's page highlights this answer."""
        return False

    def _schema_options(self) -> dict:
        options = {"required": True} if self.required else {}
        description = self.api_description
        if self.asked_if is not None and description is None:
            description = f"Required when {self.asked_if.question} is {_json(self.asked_if.answer)}."
        if description:
            options["metadata"] = {"description": description}
        return options


class StrictBoolean(fields.Boolean):
    """A JSON true or false: refuses 1, 0 and strings that a plain Boolean would accept."""

    def _deserialize(self, value, attr, data, **kwargs):
        if not isinstance(value, bool):
            raise self.make_error("invalid")
        return value


class StrictNumber(fields.Float):
    """A JSON number: refuses strings and booleans that a plain Float would accept."""

    def _deserialize(self, value, attr, data, **kwargs):
        if isinstance(value, bool) or not isinstance(value, int | float):
            raise self.make_error("invalid")
        return super()._deserialize(value, attr, data, **kwargs)


def _json(value) -> str:
    return ("true" if value else "false") if isinstance(value, bool) else str(value)


@dataclass(frozen=True, kw_only=True)
class YesNo(Question):
    required_message: str | None = "Choose yes or no."

    def schema_field(self):
        return StrictBoolean(**self._schema_options())

    def reads(self, value):
        return "Yes" if value else "No"

    def notable(self, value):
        return bool(value)


@dataclass(frozen=True, kw_only=True)
class OneOf(Question):
    """One answer among `choices`."""

    choices: tuple[Choice, ...]

    @property
    def values(self) -> tuple:
        return tuple(choice.value for choice in self.choices)

    def choice(self, value) -> Choice | None:
        return next((choice for choice in self.choices if choice.value == value), None)

    def schema_field(self):
        return fields.String(validate=validate.OneOf(self.values), **self._schema_options())

    def reads(self, value):
        choice = self.choice(value)
        return choice.review if choice else str(value)

    def notable(self, value):
        choice = self.choice(value)
        return choice.notable if choice else True


@dataclass(frozen=True)
class Unit:
    """Another unit a number may be entered in: converted exactly to the stored unit (value x factor), with its
    own bounds (the stored bounds converted and rounded inward, so every value it takes stores within them)."""

    code: str  # the form's value: "lb"
    label: str  # beside the field: "lb"
    name: str  # in words: "pounds"
    factor: Decimal  # one of it, in the stored unit, exactly
    low: int
    high: int
    range_message: str


@dataclass(frozen=True, kw_only=True)
class Number(Question):
    """A number from `low` to `high`: whole, or with `decimals` kept. `usual` bounds (inclusive, None for open)
    the values the clinician's page does not highlight."""

    low: int
    high: int
    decimals: int = 0
    unit: str | None = None  # the unit of the stored number, shown after it on the clinician's page
    usual: tuple[int | float | None, int | float | None] = (None, None)
    invalid_message: str  # the page's reason when it is not a number of the right form
    range_message: str  # the page's reason when it is out of bounds
    units: tuple[Unit, ...] = ()  # other units it may be entered in (the page offers the choice beside it)
    unit_label: str | None = None  # the stored unit beside the field, when there is a choice: "kg"
    unit_required_message: str | None = None

    def unit_of(self, code: str) -> Unit | None:
        return next((unit for unit in self.units if unit.code == code), None)

    @property
    def whole(self) -> bool:
        return self.decimals == 0

    def schema_field(self):
        if self.whole:
            return fields.Integer(strict=True, validate=validate.Range(self.low, self.high), **self._schema_options())
        return StrictNumber(allow_nan=False, validate=validate.Range(self.low, self.high), **self._schema_options())

    def reads(self, value):
        return f"{value:g} {self.unit}" if self.unit else f"{value}"

    def notable(self, value):
        low, high = self.usual
        return (low is not None and value < low) or (high is not None and value > high)


@dataclass(frozen=True, kw_only=True)
class SeveralOf(Question):
    """Any number of `choices`, each at most once; the page adds "None of these" so that an empty answer is a
    choice, never an omission."""

    choices: tuple[Choice, ...]
    none_label: str
    invalid_message: str  # the page's reason for a value that is not a choice
    conflict_message: str  # the page's reason for "None of these" with a choice
    repeat_message: str  # the API's reason for a choice given twice

    @property
    def values(self) -> tuple:
        return tuple(choice.value for choice in self.choices)

    def schema_field(self):
        return fields.List(fields.String(validate=validate.OneOf(self.values)),
                           validate=validate.Length(max=len(self.choices)), **self._schema_options())

    def reads(self, value):
        labels = {choice.value: choice.review for choice in self.choices}
        return ", ".join(labels.get(item, item) for item in value) if value else "None"

    def notable(self, value):
        return bool(value)


PHQ9_CHOICES = ((0, "Not at all"), (1, "Several days"), (2, "More than half the days"), (3, "Nearly every day"))


@dataclass(frozen=True, kw_only=True)
class Phq9Item(OneOf):
    """Item `index` (1 to 9) of the PHQ-9: its answer is item index-1 of the list `phq9`, scored 0 to 3."""

    review_section: ClassVar[str] = "phq9"
    container: ClassVar[str] = "phq9"
    container_description: ClassVar[str] = "The nine PHQ-9 items in order, each 0-3."
    index: int
    choices: tuple[Choice, ...] = tuple(Choice(value, label, label) for value, label in PHQ9_CHOICES)
    required_message: str | None = "Choose how often this has bothered you over the last 2 weeks."
    fact_name: str | None = None  # the item on its own as a rule input (item 9); every item feeds the total
    notable_from: int | None = None  # scores from this one up are highlighted on the clinician's page

    @property
    def answer(self):
        return self.container

    @property
    def part(self):
        return self.index - 1

    @property
    def fact(self):
        return self.fact_name

    @property
    def label(self):
        return f"{self.index}. {self.text}"

    def schema_field(self):
        return fields.Integer(strict=True, validate=validate.Range(min(self.values), max(self.values)))

    def reads(self, value):
        choice = self.choice(value)
        return f"{value}: {choice.label if choice else value}"

    def notable(self, value):
        return self.notable_from is not None and value >= self.notable_from


@dataclass(frozen=True, kw_only=True)
class CssrsItem(YesNo):
    """A question of the C-SSRS screener: its answer is a key of the object `cssrs`."""

    review_section: ClassVar[str] = "cssrs"
    container: ClassVar[str] = "cssrs"
    schema_name: ClassVar[str] = "CssrsAnswers"

    @property
    def answer(self):
        return self.container

    @property
    def part(self):
        return self.name


# --- Groups: how a page sets questions out -----------------------------------------------------------------------

@dataclass(frozen=True, kw_only=True)
class Group:
    """Questions set out together on their page under a legend; `within` names the group it sits in."""

    name: str  # the id of its fieldset, where it has one
    legend: str
    hint: str | None = None
    within: str | None = None
    translations: Mapping[str, Wording] = field(default_factory=dict, hash=False)

    style: ClassVar[str] = ""


@dataclass(frozen=True, kw_only=True)
class QuestionSet(Group):
    """A set of questions under one stem ("In the past month:")."""

    style: ClassVar[str] = "set"


@dataclass(frozen=True, kw_only=True)
class FollowUps(Group):
    """Questions asked only after a yes; the legend says which."""

    style: ClassVar[str] = "follow_ups"


@dataclass(frozen=True, kw_only=True)
class Reading(Group):
    """Two numbers read together, `upper` above `lower` (a blood pressure reading): both or neither. The page adds
    a box to tick when there is no reading, and the clinician's page shows them on one row."""

    style: ClassVar[str] = "reading"
    upper: str
    lower: str
    none_name: str  # the form's box "I don't have one"
    none_label: str
    none_hint: str | None = None
    pair_class: str  # the class of the element holding the two numbers
    review_label: str
    # the page's reasons
    neither_message: str
    one_missing_message: str
    both_and_none_message: str
    order_message: str
    # the API's reasons
    api_one_missing_message: str
    api_order_message: str

    @property
    def members(self) -> tuple[str, str]:
        return (self.upper, self.lower)


# --- The catalogue ---------------------------------------------------------------------------------------------

STEPS = (
    Step(1, "feeling", "How you have been feeling"),
    Step(2, "safety", "Your safety"),
    Step(3, "about", "About you"),
    Step(4, "heart", "Heart and blood pressure"),
    Step(5, "conditions", "Other health conditions"),
    Step(6, "history", "Mental health history and medicines"),
)
SAFETY_STEP = 2  # the C-SSRS: a crisis in its answers (and those before it) ends the questionnaire there

# PHQ-9, as the instrument words it.
PHQ9_STEM = "Over the last 2 weeks, how often have you been bothered by any of the following problems?"
# The C-SSRS screener's follow-ups of question 2 and of question 6.
_AFTER_THOUGHTS = AskedIf("suicidal_thoughts", True, "Answer this question (it follows a yes to suicidal thoughts).")
_AFTER_BEHAVIOR = AskedIf("behavior", True, "Say whether this was within the past 3 months.")

GROUPS: tuple[Group, ...] = (
    QuestionSet(name="phq9-items", legend=PHQ9_STEM),
    QuestionSet(name="cssrs-past-month", legend="In the past month:"),
    FollowUps(name="thoughts-follow-ups", within="cssrs-past-month", legend="About your yes to question 2"),
    FollowUps(name="behavior-follow-up", legend="About your yes to question 3"),
    Reading(name="blood-pressure", legend="A recent blood pressure reading",
            hint="A reading has two numbers, for example 120/80 (\u201c120 over 80\u201d). One from a doctor, a "
                 "pharmacy or a home monitor is fine.",
            upper="bp_systolic", lower="bp_diastolic", pair_class="bp-pair",
            none_name="no_reading", none_label="I don\u2019t have a recent reading",
            none_hint="That\u2019s fine: a clinician will ask you for one later.",
            review_label="Recent blood pressure reading",
            neither_message="Enter your reading, or tick \u201cI don\u2019t have a recent reading\u201d.",
            one_missing_message="Enter both numbers of your reading.",
            both_and_none_message="You entered a reading and ticked that you don\u2019t have one: please do one or "
                                  "the other.",
            order_message="The bottom number must be lower than the top number.",
            api_one_missing_message="Give both blood pressure readings, or neither.",
            api_order_message="The lower number must be below the upper one."),
)


def _phq9(index: int, text: str, **options) -> Phq9Item:
    return Phq9Item(name=f"phq9_{index}", index=index, text=text, step=1, group="phq9-items", number=index,
                    short_label=f"Question {index}", **options)


def _cssrs(name: str, number: int | str | None, text: str, **options) -> CssrsItem:
    options.setdefault("short_label", f"Question {number}" if number else None)
    return CssrsItem(name=name, text=text, step=SAFETY_STEP, number=number, **options)


_NONE = Choice("none", "No", "None")
_BP = "mmHg; give both readings or neither."

QUESTIONS: tuple[Question, ...] = (
    # 1. How you have been feeling: the PHQ-9, as the instrument words it.
    _phq9(1, "Little interest or pleasure in doing things"),
    _phq9(2, "Feeling down, depressed, or hopeless"),
    _phq9(3, "Trouble falling or staying asleep, or sleeping too much"),
    _phq9(4, "Feeling tired or having little energy"),
    _phq9(5, "Poor appetite or overeating"),
    _phq9(6, "Feeling bad about yourself \u2014 or that you are a failure or have let yourself or your family down"),
    _phq9(7, "Trouble concentrating on things, such as reading the newspaper or watching television"),
    _phq9(8, "Moving or speaking so slowly that other people could have noticed? Or the opposite \u2014 being so "
             "fidgety or restless that you have been moving around a lot more than usual"),
    _phq9(9, "Thoughts that you would be better off dead or of hurting yourself in some way",
          fact_name="phq9_item9", notable_from=1),

    # 2. Your safety: the C-SSRS screener, past month, as the instrument words it. The error summary names its
    # questions by number: it does not repeat their words in an alert. The step's page asks the screener's
    # questions 1, 2 and 6 (numbered 1 to 3 there); its follow-ups (the screener's 3 to 5 after a yes to 2, and
    # "when" after a yes to 6) are a page of their own, shown only after that yes.
    _cssrs("wish_dead", 1, "Have you wished you were dead or wished you could go to sleep and not wake up?",
           group="cssrs-past-month"),
    _cssrs("suicidal_thoughts", 2, "Have you actually had any thoughts of killing yourself?",
           group="cssrs-past-month"),
    _cssrs("method", "2a", "Have you been thinking about how you might do this?",
           group="thoughts-follow-ups", asked_if=_AFTER_THOUGHTS),
    _cssrs("intent", "2b", "Have you had these thoughts and had some intention of acting on them?",
           group="thoughts-follow-ups", asked_if=_AFTER_THOUGHTS),
    _cssrs("plan", "2c", "Have you started to work out or worked out the details of how to kill yourself? "
                      "Do you intend to carry out this plan?",
           group="thoughts-follow-ups", asked_if=_AFTER_THOUGHTS),
    _cssrs("behavior", 3, "Have you ever done anything, started to do anything, or prepared to do anything to end "
                          "your life?"),
    _cssrs("behavior_within_3_months", "3a", "Was this within the past 3 months?",
           group="behavior-follow-up", asked_if=_AFTER_BEHAVIOR),

    # 3. About you
    Number(name="age", step=3, text="Your age", hint="In years.", low=0, high=120, usual=(18, None),
           review_label="Age",
           required_message="Enter your age in years.",
           invalid_message="Enter your age as a whole number of years, for example 42.",
           range_message="Check your age: enter a number of years from 0 to 120."),
    Number(name="weight_kg", step=3, text="Your weight", low=20, high=350, decimals=1, unit="kg",
           usual=(40, 150), review_label="Weight",
           hint="Ketamine is dosed by weight. Enter it in kilograms or in pounds, and choose which.",
           required_message="Enter your weight.",
           invalid_message="Enter your weight as a number, for example 72 or 158.5.",
           range_message="Check your weight: enter a number of kilograms from 20 to 350.",
           unit_label="kg", unit_required_message="Choose kilograms or pounds.",
           units=(Unit("lb", "lb", "pounds", Decimal("0.45359237"), 45, 771,
                       "Check your weight: enter a number of pounds from 45 to 771."),)),
    YesNo(name="pregnant_or_breastfeeding", step=3, text="Are you pregnant or breastfeeding?",
          hint="Answer no if this does not apply to you.", review_label="Pregnant or breastfeeding"),

    # 4. Heart and blood pressure
    Number(name="bp_systolic", step=4, group="blood-pressure", text="Top number (systolic)",
           hint="In mmHg, for example 120.", low=60, high=300, unit="mmHg", usual=(None, 139), optional=True,
           api_description=_BP,
           invalid_message="Enter the top number as a whole number, for example 120.",
           range_message="Check the top number: enter a number from 60 to 300."),
    Number(name="bp_diastolic", step=4, group="blood-pressure", text="Bottom number (diastolic)",
           hint="In mmHg, for example 80.", low=30, high=200, unit="mmHg", usual=(None, 89), optional=True,
           api_description=_BP,
           invalid_message="Enter the bottom number as a whole number, for example 80.",
           range_message="Check the bottom number: enter a number from 30 to 200."),
    OneOf(name="hypertension", step=4, text="Have you been told you have high blood pressure (hypertension)?",
          choices=(_NONE,
                   Choice("controlled", "Yes, and it is under control", "Yes, controlled", notable=True),
                   Choice("uncontrolled", "Yes, and it is not under control", "Yes, not controlled", notable=True)),
          required_message="Choose one answer about high blood pressure.", review_label="High blood pressure"),
    OneOf(name="cardiac_event", step=4,
          text="Have you had a heart attack, unstable angina, or a procedure to open or bypass a heart artery?",
          hint="Unstable angina is chest pain that comes on at rest or without warning. The procedures include a "
               "stent, an angioplasty and bypass surgery.",
          choices=(_NONE,
                   Choice("within_12_months", "Yes, in the past 12 months", "Within the past 12 months", notable=True),
                   Choice("over_12_months", "Yes, more than 12 months ago", "More than 12 months ago",
                          notable=True)),
          required_message="Choose one answer about your heart.",
          review_label="Heart attack, unstable angina or revascularisation"),
    YesNo(name="aneurysm_avm_or_brain_bleed", step=4,
          text="Have you ever had an aneurysm, an arteriovenous malformation (AVM), or bleeding in the brain?",
          hint="An aneurysm is a bulge in the wall of a blood vessel, for example in the brain or in the aorta (the "
               "body\u2019s main artery). An AVM is a tangle of blood vessels in which arteries join veins directly.",
          review_label="Aneurysm, arteriovenous malformation or bleed in the brain"),
    YesNo(name="stroke_tia", step=4, text="Have you ever had a stroke or a TIA (\u201cmini-stroke\u201d)?",
          hint="A TIA (transient ischemic attack) is a brief stroke-like attack whose symptoms pass on their own, "
               "usually within minutes or hours.",
          review_label="Stroke or TIA"),

    # 5. Other health conditions
    YesNo(name="raised_intracranial_pressure", step=5,
          text="Have you been told you have raised pressure inside your head (raised intracranial pressure)?",
          hint="For example after a head injury, with a brain tumor, or with idiopathic intracranial hypertension.",
          review_label="Raised intracranial pressure"),
    YesNo(name="glaucoma", step=5, text="Do you have glaucoma?",
          hint="An eye condition in which pressure inside the eye can damage the nerve at the back of the eye.",
          review_label="Glaucoma"),
    YesNo(name="seizure_disorder", step=5, text="Do you have epilepsy or another seizure disorder?",
          review_label="Seizure disorder"),
    YesNo(name="hyperthyroidism_uncontrolled", step=5,
          text="Do you have an overactive thyroid (hyperthyroidism) that is not under control?",
          hint="Answer no if you have no thyroid problem, or if treatment keeps it under control.",
          review_label="Overactive thyroid, not under control"),
    YesNo(name="severe_liver_disease", step=5, text="Do you have serious liver disease?",
          hint="For example cirrhosis or liver failure.", review_label="Severe liver disease"),
    YesNo(name="severe_lung_disease", step=5, text="Do you have serious lung disease?",
          hint="For example severe COPD or emphysema.", review_label="Severe lung disease"),
    YesNo(name="bladder_pain_or_interstitial_cystitis", step=5,
          text="Do you have bladder pain or interstitial cystitis?",
          hint="Interstitial cystitis is a long-lasting condition that causes bladder pain and pressure.",
          review_label="Bladder pain or interstitial cystitis"),
    YesNo(name="ketamine_allergy", step=5,
          text="Have you ever had an allergic reaction to ketamine or esketamine (Spravato)?",
          hint="Answer no if you have never had either.", review_label="Allergy to ketamine or esketamine"),
    YesNo(name="prior_adverse_ketamine_reaction", step=5,
          text="Have you ever had a bad reaction to ketamine that was not an allergy?",
          hint="For example severe distress, confusion, or a large rise in blood pressure during or after a "
               "session. Answer no if you have never had ketamine.",
          review_label="A bad (non-allergic) reaction to ketamine before"),

    # 6. Mental health history and medicines
    OneOf(name="psychosis", step=6,
          text="Have you ever had psychosis, or been diagnosed with schizophrenia or a related condition?",
          hint="Psychosis means losing touch with what is real: for example hearing or seeing things other people "
               "don\u2019t, or holding strong beliefs that others find untrue.",
          choices=(_NONE,
                   Choice("past_stable", "Yes, in the past, and I have been well since", "In the past, now stable",
                          notable=True),
                   Choice("current", "Yes, I have these experiences now, or I have a diagnosis of schizophrenia or "
                                     "a related condition", "Current or diagnosed", notable=True)),
          required_message="Choose one answer about psychosis.",
          review_label="Psychosis or a schizophrenia-spectrum diagnosis"),
    YesNo(name="family_history_psychosis", step=6,
          text="Has a parent, brother or sister had psychosis, schizophrenia or a related condition?",
          hint="Answer no if you don\u2019t know.", review_label="Psychosis in a parent or sibling"),
    OneOf(name="bipolar", step=6, text="Have you been diagnosed with bipolar disorder?",
          hint="A manic episode is a stretch of days with a very high or irritable mood, much more energy and much "
               "less need for sleep than usual.",
          choices=(_NONE,
                   Choice("stable", "Yes, and my mood is stable now", "Yes, stable", notable=True),
                   Choice("currently_manic", "Yes, and I am in a manic episode now", "Currently manic", notable=True)),
          required_message="Choose one answer about bipolar disorder.", review_label="Bipolar disorder"),
    OneOf(name="substance_use", step=6,
          text="Do you use alcohol or drugs in a way that is a problem for you, or are you in recovery?",
          hint="Not counting tobacco.",
          choices=(_NONE,
                   Choice("active", "Yes, my use is a problem for me now", "Active use", notable=True),
                   Choice("recovery_under_12_months", "I am in recovery, for less than 12 months",
                          "In recovery, under 12 months", notable=True),
                   Choice("recovery_12_months_plus", "I am in recovery, for 12 months or more",
                          "In recovery, 12 months or more")),
          required_message="Choose one answer about alcohol and drugs.", review_label="Substance use (not tobacco)"),
    SeveralOf(name="medications", step=6, text="Do you take any of these medicines?",
              hint="Tick all that you take, or \u201cNone of these\u201d.",
              choices=(
                  Choice("benzodiazepine", "A benzodiazepine, such as alprazolam (Xanax), clonazepam (Klonopin), "
                                           "diazepam (Valium) or lorazepam (Ativan)", "Benzodiazepine"),
                  Choice("lamotrigine", "Lamotrigine (Lamictal)", "Lamotrigine"),
                  Choice("maoi", "An MAOI antidepressant, such as phenelzine (Nardil), tranylcypromine (Parnate), "
                                 "isocarboxazid (Marplan) or the selegiline patch (Emsam)", "MAOI"),
                  Choice("stimulant", "A stimulant, such as amphetamine (Adderall), lisdexamfetamine (Vyvanse) or "
                                      "methylphenidate (Ritalin, Concerta)", "Stimulant"),
              ),
              none_label="None of these",
              required_message="Tick each of these medicines you take, or \u201cNone of these\u201d.",
              invalid_message="Choose from the medicines listed.",
              conflict_message="You ticked \u201cNone of these\u201d and a medicine: please untick one of them.",
              repeat_message="List each medicine once.",
              review_label="Medicines that interact with ketamine"),
    Number(name="failed_antidepressant_trials", step=6,
           text="How many antidepressants have you tried that did not help enough?", low=0, high=50, usual=(2, None),
           hint="Count each medicine you took for at least 4 to 6 weeks at the dose your prescriber recommended. "
                "Enter 0 if none.",
           required_message="Enter how many antidepressants you have tried, or 0.",
           invalid_message="Enter a whole number, for example 2, or 0 if none.",
           range_message="Check this number: enter from 0 to 50.",
           review_label="Adequate antidepressant trials that did not help"),
)

# Where the page keeps a number as it was entered in another unit (the stored answer is converted): beside the
# answers, never part of them (the API's answers are the stored units only).
AS_ENTERED = "as_entered"
UNIT_CHOICES = tuple(question for question in QUESTIONS if isinstance(question, Number) and question.units)

# Rule inputs computed from several answers: fact -> the list answer whose items it sums.
TOTALS = {"phq9_total": "phq9"}


# --- Looking things up -----------------------------------------------------------------------------------------

BY_NAME: dict[str, Question] = {question.name: question for question in QUESTIONS}
BY_PATH: dict[str, Question] = {question.path: question for question in QUESTIONS}
GROUPS_BY_NAME: dict[str, Group] = {group.name: group for group in GROUPS}
READINGS: tuple[Reading, ...] = tuple(group for group in GROUPS if isinstance(group, Reading))


def asked_on(step: int, questions: Iterable[Question] = QUESTIONS) -> tuple[Question, ...]:
    return tuple(question for question in questions if question.step == step)


def answer_names(questions: Iterable[Question] = QUESTIONS) -> tuple[str, ...]:
    """The top-level answers, in the questionnaire's order."""
    return tuple(dict.fromkeys(question.answer for question in questions))


def group_chain(group_name: str | None, groups: Mapping[str, Group] = GROUPS_BY_NAME) -> tuple[Group, ...]:
    """The groups a question of this group sits in, outermost first."""
    chain = []
    while group_name is not None:
        chain.insert(0, groups[group_name])
        group_name = chain[0].within
    return tuple(chain)


def value_of(answers: Mapping, question: Question):
    """The question's answer among `answers`, or None when it was not given."""
    value = answers.get(question.answer)
    if question.part is None or value is None:
        return value
    if isinstance(question.part, int):
        return value[question.part] if isinstance(value, list) and question.part < len(value) else None
    return value.get(question.part) if isinstance(value, dict) else None


def facts(answers: Mapping, questions: Iterable[Question] = QUESTIONS) -> dict[str, object]:
    """The rule inputs the answers give: each answered question's fact, and the totals."""
    result = {}
    for question in questions:
        value = value_of(answers, question)
        if question.fact is not None and value is not None:
            result[question.fact] = value
    for fact, answer in TOTALS.items():
        if answers.get(answer):
            result[fact] = sum(answers[answer])
    return result


def fact_names(questions: Iterable[Question] = QUESTIONS) -> set[str]:
    """Every fact these questions feed, totals included when their answer is among them."""
    questions = tuple(questions)
    answers = {question.answer for question in questions}
    return ({question.fact for question in questions if question.fact is not None}
            | {fact for fact, answer in TOTALS.items() if answer in answers})


# --- The validation schema -------------------------------------------------------------------------------------

def _follow_up_errors(questions: Iterable[Question], data: Mapping) -> dict[str, list[str]]:
    """A follow-up left out after the answer that asks it (given anyway after another answer, it is kept: the
    applicant said it, and it may matter for their safety)."""
    return {question.name: [question.asked_if.missing_message] for question in questions
            if question.asked_if is not None and data.get(question.asked_if.question) == question.asked_if.answer
            and question.name not in data}


def _schema(name: str, declared: dict[str, fields.Field], check) -> type[Schema]:
    meta = type("Meta", (), {"unknown": RAISE})
    return type(name, (Schema,), {**declared, "Meta": meta, "check": validates_schema(check)})


def build_schema(questions: tuple[Question, ...] = QUESTIONS,
                 readings: tuple[Reading, ...] = READINGS) -> type[Schema]:
    """The answers' marshmallow schema: one field per top-level answer, a list for the PHQ-9 items, a nested
    object for the C-SSRS items."""
    declared: dict[str, fields.Field] = {}
    for answer in answer_names(questions):
        members = [question for question in questions if question.answer == answer]
        first = members[0]
        if isinstance(first, Phq9Item):
            assert len({member.values for member in members}) == 1, "the items of a list answer are scored alike"
            assert [member.index for member in members] == list(range(1, len(members) + 1)), answer
            declared[answer] = fields.List(first.schema_field(), required=True,
                                           validate=validate.Length(equal=len(members)),
                                           metadata={"description": first.container_description})
        elif isinstance(first, CssrsItem):
            nested_fields = {member.name: member.schema_field() for member in members}

            def follow_ups(self, data, _members=tuple(members), **kwargs):
                errors = _follow_up_errors(_members, data)
                if errors:
                    raise ValidationError(errors)

            declared[answer] = fields.Nested(_schema(first.schema_name, nested_fields, follow_ups), required=True)
        else:
            assert len(members) == 1, f"{answer} is asked by one question"
            declared[answer] = first.schema_field()
    top_level = tuple(question for question in questions if question.part is None)
    several = tuple(question for question in top_level if isinstance(question, SeveralOf))

    def answers_check(self, data, **kwargs):
        for reading in readings:
            upper, lower = reading.members
            if (upper in data) != (lower in data):
                missing = lower if upper in data else upper
                raise ValidationError({missing: [reading.api_one_missing_message]})
            if upper in data and data[upper] <= data[lower]:
                raise ValidationError({lower: [reading.api_order_message]})
        for question in several:
            chosen = data.get(question.name, [])
            if len(set(chosen)) != len(chosen):
                raise ValidationError({question.name: [question.repeat_message]})
        errors = _follow_up_errors(top_level, data)
        if errors:
            raise ValidationError(errors)

    return _schema("Answers", declared, answers_check)


Answers = build_schema()
ANSWERS = Answers()
CssrsAnswers = ANSWERS.fields["cssrs"].nested

# The validated instruments' wording, by the names the pages and tests have long used.
PHQ9_ITEMS = tuple(question.text for question in QUESTIONS if isinstance(question, Phq9Item))
CSSRS_QUESTIONS = {question.name: question.text for question in QUESTIONS if isinstance(question, CssrsItem)}
