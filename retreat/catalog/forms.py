"""The coordinator's form for programs (cohorts: booking.staff_forms).

The form parses (text, whole numbers, choices) and catalog.programs decides what is valid,
so one set of rules serves the console and, later, the API; limits shown here are read from those rules.
"""

from flask_wtf import FlaskForm
from wtforms import (
    RadioField,
    StringField,
    SubmitField,
    TextAreaField,
)
from wtforms.validators import InputRequired
from wtforms.widgets import NumberInput

from retreat.catalog import programs
from retreat.pricing import rules
from retreat.web.forms import CheckboxesField, WholeNumberField, options

# The staff wording of the lodging kinds (the public labels speak to the applicant).
STAFF_LODGING_LABELS = {"none": "No lodging: the applicant stays elsewhere", "shared": "Shared room",
                        "private": "Private room"}


def _text(field: str, **render_kw) -> dict:
    """The browser's length limit, read from the service's rule (which has the last word)."""
    return {"maxlength": programs.TEXT_RULES[field].max_length, **render_kw}


def _number(label: str, description: str, low: int, high: int) -> WholeNumberField:
    return WholeNumberField(label, description=description, widget=NumberInput(min=low, max=high),
                            validators=[InputRequired(message=f"Give the number of {label.lower()}.")])


def _range_text(bounds: rules.Bounds) -> str:
    return f"{bounds.low} to {bounds.high}"


_ALL_DOSING = rules.Bounds(min(b.low for b in rules.DOSING_SESSIONS_BY_ROUTE.values()),
                           max(b.high for b in rules.DOSING_SESSIONS_BY_ROUTE.values()))


def _dosing_hint() -> str:
    """`4 to 6 for IV ketamine, IM ketamine or Sublingual ketamine; 2 to 4 for Esketamine (Spravato).`"""
    routes_by_bounds: dict[rules.Bounds, list[str]] = {}
    for route, bounds in rules.DOSING_SESSIONS_BY_ROUTE.items():
        routes_by_bounds.setdefault(bounds, []).append(rules.ROUTE_LABELS[route])
    parts = []
    for bounds, labels in routes_by_bounds.items():
        names = labels[0] if len(labels) == 1 else ", ".join(labels[:-1]) + " or " + labels[-1]
        parts.append(f"{_range_text(bounds)} for {names}")
    return "; ".join(parts) + "."


class ProgramForm(FlaskForm):
    name = StringField("Name", render_kw=_text("name"),
                       description="As applicants see it, for example “IV Ketamine with EMDR, One Week”.")
    slug = StringField("Web address name", render_kw=_text("slug"),
                       description="The end of the program's public address, /programs/<name>: lowercase "
                                   "letters, digits and hyphens. Leave empty to make one from the name.")
    summary = TextAreaField("Summary", render_kw=_text("summary", rows=3),
                            description="One or two sentences for the catalog.")
    description = TextAreaField("Description", render_kw=_text("description", rows=6),
                                description="Optional. The program page shows it.")
    location = StringField("Location", render_kw=_text("location"),
                           description="Optional, for example the house and town.")
    duration_days = _number(
        "Days", f"How long the retreat lasts: {_range_text(rules.DURATION_DAYS)} days.",
        rules.DURATION_DAYS.low, rules.DURATION_DAYS.high)
    ketamine_route = RadioField("Ketamine treatment", choices=options(rules.ROUTE_LABELS.items()),
                                validators=[InputRequired(message="Choose a ketamine treatment.")])
    dosing_sessions = _number("Dosing sessions", _dosing_hint(), _ALL_DOSING.low, _ALL_DOSING.high)
    therapy_modality = RadioField(
        "Integration therapy",
        choices=options((code, f"{rules.MODALITY_LABELS[code]} ({name})")
                        for code, name in rules.MODALITY_NAMES.items()),
        validators=[InputRequired(message="Choose an integration therapy.")])
    integration_sessions = _number(
        "Integration sessions",
        f"At least one per dosing session, at most {rules.INTEGRATION_SESSIONS_MAX}.",
        0, rules.INTEGRATION_SESSIONS_MAX)
    intensive_sessions = RadioField(
        "Half-day therapy intensives", coerce=int,
        choices=options((n, str(n))
                        for n in range(rules.INTENSIVE_SESSIONS.low, rules.INTENSIVE_SESSIONS.high + 1)),
        validators=[InputRequired(message="Choose the number of intensives.")])
    lodging_options = CheckboxesField(
        "Lodging options", description="What applicants may choose from; at least one.",
        choices=options((kind, STAFF_LODGING_LABELS.get(kind, rules.LODGING_LABELS[kind]))
                        for kind in rules.LODGING_KINDS))
    submit = SubmitField("Save program")

    def values(self) -> dict:
        return {name: self[name].data for name in programs.PROGRAM_FIELDS}
