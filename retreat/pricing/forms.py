"""The estimator's two forms: a catalog program with a lodging option, or a custom configuration."""

from flask_wtf import FlaskForm
from wtforms import IntegerField, RadioField, SelectField, SubmitField
from wtforms.fields.choices import SelectChoice
from wtforms.validators import InputRequired, NumberRange

from retreat.pricing import rules


def options(pairs) -> list[SelectChoice]:
    """WTForms choices from (value, label) pairs."""
    return [SelectChoice(value, label) for value, label in pairs]


class ProgramEstimateForm(FlaskForm):
    program = SelectField("Program", validators=[InputRequired(message="Choose a program.")],
                          validate_choice=False)
    lodging = RadioField("Where will you stay?", choices=options(rules.LODGING_LABELS.items()), default="shared",
                         validators=[InputRequired(message="Choose where you will stay.")])
    submit = SubmitField("See my estimate")


class CustomEstimateForm(FlaskForm):
    duration_days = SelectField(
        "Length of stay", coerce=int, default=7,
        choices=options((days, f"{days} days")
                        for days in range(rules.DURATION_DAYS.low, rules.DURATION_DAYS.high + 1)),
    )
    ketamine_route = RadioField("Ketamine treatment", choices=options(rules.ROUTE_LABELS.items()), default="iv",
                                validators=[InputRequired(message="Choose a ketamine treatment.")])
    dosing_sessions = IntegerField(
        "Dosing sessions", default=4,
        description="4 to 6 for IV, IM or sublingual ketamine; 2 to 4 for esketamine.",
        validators=[InputRequired(message="Give the number of dosing sessions."), NumberRange(min=0, max=99)],
    )
    therapy_modality = RadioField(
        "Integration therapy", default="emdr",
        choices=options((code, f"{rules.MODALITY_LABELS[code]} ({name})") for code, name in rules.MODALITY_NAMES.items()),
        validators=[InputRequired(message="Choose an integration therapy.")],
    )
    integration_sessions = IntegerField(
        "Integration therapy sessions", default=4,
        description="At least one per dosing session, at most 10.",
        validators=[InputRequired(message="Give the number of integration sessions."), NumberRange(min=0, max=99)],
    )
    intensive_sessions = RadioField(
        "Half-day therapy intensives", coerce=int, default=1, choices=options([(1, "One"), (2, "Two")]),
        validators=[InputRequired(message="Choose one or two intensives.")],
    )
    lodging = RadioField("Where will you stay?", choices=options(rules.LODGING_LABELS.items()), default="shared",
                         validators=[InputRequired(message="Choose where you will stay.")])
    submit = SubmitField("See my estimate")

    def configuration_values(self) -> dict:
        return {name: self[name].data for name in (
            "duration_days", "ketamine_route", "dosing_sessions", "therapy_modality", "integration_sessions",
            "intensive_sessions", "lodging")}
