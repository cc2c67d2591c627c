"""The screening questions (domain/screening.md): the answers' shape and its validation, shared by the web
questionnaire and the JSON API. Wrong types, values out of range and unknown fields are refused, never
defaulted; the only allowed gaps are a missing blood pressure (it gives a review) and the C-SSRS questions
that follow a "no" to suicidal thoughts."""

from marshmallow import RAISE, Schema, ValidationError, fields, validate, validates_schema

HYPERTENSION = ("none", "controlled", "uncontrolled")
CARDIAC_EVENT = ("none", "within_12_months", "over_12_months")
PSYCHOSIS = ("none", "past_stable", "current")
BIPOLAR = ("none", "stable", "currently_manic")
SUBSTANCE_USE = ("none", "active", "recovery_under_12_months", "recovery_12_months_plus")
MEDICATIONS = ("benzodiazepine", "lamotrigine", "maoi", "stimulant")

# PHQ-9, as the instrument words it: "Over the last 2 weeks, how often have you been bothered by any of the
# following problems?"
PHQ9_STEM = "Over the last 2 weeks, how often have you been bothered by any of the following problems?"
PHQ9_ITEMS = (
    "Little interest or pleasure in doing things",
    "Feeling down, depressed, or hopeless",
    "Trouble falling or staying asleep, or sleeping too much",
    "Feeling tired or having little energy",
    "Poor appetite or overeating",
    "Feeling bad about yourself — or that you are a failure or have let yourself or your family down",
    "Trouble concentrating on things, such as reading the newspaper or watching television",
    "Moving or speaking so slowly that other people could have noticed? Or the opposite — being so fidgety "
    "or restless that you have been moving around a lot more than usual",
    "Thoughts that you would be better off dead or of hurting yourself in some way",
)
PHQ9_CHOICES = ((0, "Not at all"), (1, "Several days"), (2, "More than half the days"), (3, "Nearly every day"))

# C-SSRS screener, past month, as the instrument words it.
CSSRS_QUESTIONS = {
    "wish_dead": "Have you wished you were dead or wished you could go to sleep and not wake up?",
    "suicidal_thoughts": "Have you actually had any thoughts of killing yourself?",
    "method": "Have you been thinking about how you might do this?",
    "intent": "Have you had these thoughts and had some intention of acting on them?",
    "plan": "Have you started to work out or worked out the details of how to kill yourself? "
            "Do you intend to carry out this plan?",
    "behavior": "Have you ever done anything, started to do anything, or prepared to do anything to end your "
                "life?",
    "behavior_within_3_months": "Was this within the past 3 months?",
}
CSSRS_AFTER_THOUGHTS = ("method", "intent", "plan")  # asked only when suicidal_thoughts is yes


class StrictBoolean(fields.Boolean):
    """A JSON true or false: refuses 1, 0 and strings that a plain Boolean would accept."""

    def _deserialize(self, value, attr, data, **kwargs):
        if not isinstance(value, bool):
            raise self.make_error("invalid")
        return value


def _boolean(**kwargs) -> fields.Boolean:
    return StrictBoolean(**kwargs)


def _integer(low: int, high: int, **kwargs) -> fields.Integer:
    return fields.Integer(strict=True, validate=validate.Range(low, high), **kwargs)


class StrictNumber(fields.Float):
    """A JSON number: refuses strings and booleans that a plain Float would accept."""

    def _deserialize(self, value, attr, data, **kwargs):
        if isinstance(value, bool) or not isinstance(value, int | float):
            raise self.make_error("invalid")
        return super()._deserialize(value, attr, data, **kwargs)


class CssrsAnswers(Schema):
    class Meta:
        unknown = RAISE

    wish_dead = _boolean(required=True)
    suicidal_thoughts = _boolean(required=True)
    method = _boolean(metadata={"description": "Required when suicidal_thoughts is true."})
    intent = _boolean(metadata={"description": "Required when suicidal_thoughts is true."})
    plan = _boolean(metadata={"description": "Required when suicidal_thoughts is true."})
    behavior = _boolean(required=True)
    behavior_within_3_months = _boolean(metadata={"description": "Required when behavior is true."})

    @validates_schema
    def follow_up_questions(self, data, **kwargs):
        errors = {}
        if data.get("suicidal_thoughts"):
            for name in CSSRS_AFTER_THOUGHTS:
                if name not in data:
                    errors[name] = ["Answer this question (it follows a yes to suicidal thoughts)."]
        if data.get("behavior") and "behavior_within_3_months" not in data:
            errors["behavior_within_3_months"] = ["Say whether this was within the past 3 months."]
        if errors:
            raise ValidationError(errors)


class Answers(Schema):
    class Meta:
        unknown = RAISE

    age = _integer(0, 120, required=True)
    weight_kg = StrictNumber(required=True, allow_nan=False, validate=validate.Range(20, 350))
    pregnant_or_breastfeeding = _boolean(required=True)
    bp_systolic = _integer(60, 300, metadata={"description": "mmHg; give both readings or neither."})
    bp_diastolic = _integer(30, 200, metadata={"description": "mmHg; give both readings or neither."})
    hypertension = fields.String(required=True, validate=validate.OneOf(HYPERTENSION))
    cardiac_event = fields.String(required=True, validate=validate.OneOf(CARDIAC_EVENT))
    aneurysm_avm_or_brain_bleed = _boolean(required=True)
    stroke_tia = _boolean(required=True)
    raised_intracranial_pressure = _boolean(required=True)
    glaucoma = _boolean(required=True)
    seizure_disorder = _boolean(required=True)
    hyperthyroidism_uncontrolled = _boolean(required=True)
    severe_liver_disease = _boolean(required=True)
    severe_lung_disease = _boolean(required=True)
    ketamine_allergy = _boolean(required=True)
    prior_adverse_ketamine_reaction = _boolean(required=True)
    psychosis = fields.String(required=True, validate=validate.OneOf(PSYCHOSIS))
    family_history_psychosis = _boolean(required=True)
    bipolar = fields.String(required=True, validate=validate.OneOf(BIPOLAR))
    substance_use = fields.String(required=True, validate=validate.OneOf(SUBSTANCE_USE))
    medications = fields.List(fields.String(validate=validate.OneOf(MEDICATIONS)), required=True,
                              validate=validate.Length(max=len(MEDICATIONS)))
    bladder_pain_or_interstitial_cystitis = _boolean(required=True)
    failed_antidepressant_trials = _integer(0, 50, required=True)
    phq9 = fields.List(_integer(0, 3), required=True, validate=validate.Length(equal=9),
                       metadata={"description": "The nine PHQ-9 items in order, each 0-3."})
    cssrs = fields.Nested(CssrsAnswers, required=True)

    @validates_schema
    def blood_pressure_pair(self, data, **kwargs):
        if ("bp_systolic" in data) != ("bp_diastolic" in data):
            missing = "bp_diastolic" if "bp_systolic" in data else "bp_systolic"
            raise ValidationError({missing: ["Give both blood pressure readings, or neither."]})
        if "bp_systolic" in data and data["bp_systolic"] <= data["bp_diastolic"]:
            raise ValidationError({"bp_diastolic": ["The lower number must be below the upper one."]})
        if len(set(data.get("medications", []))) != len(data.get("medications", [])):
            raise ValidationError({"medications": ["List each medicine once."]})


ANSWERS = Answers()
