"""The estimator's two forms: a catalog program with a lodging option, or a custom configuration."""

from flask_wtf import FlaskForm
from wtforms import (
    BooleanField,
    HiddenField,
    IntegerField,
    RadioField,
    SelectField,
    StringField,
    SubmitField,
    TextAreaField,
)
from wtforms.validators import InputRequired, NumberRange

from retreat.pricing import rules
from retreat.web.forms import options


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
        choices=options((code, f"{rules.MODALITY_LABELS[code]} ({name})")
                        for code, name in rules.MODALITY_NAMES.items()),
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


# Staff: editing the price list

class PriceListForm(FlaskForm):
    """The newest price list, editable, saved as a new version (pricing.editing checks every value).

    Prices stay text here, as staff typed them: the service turns dollars into cents and refuses bad input
    with a message per field, under the same names as these fields. `for_items` adds three fields per item
    (price_<code>, label_<code>, hsa_<code>).
    """

    base_version = HiddenField()
    deposit_percent = StringField("Deposit, percent of the total", description="A whole number, 0 to 100.")
    deposit_minimum = StringField("Minimum deposit, in dollars",
                                  description="The deposit is at least this, and never more than the total.")
    balance_due_days = StringField("Balance due, days before the start", description="0 to 365 days.")
    band_min = StringField("Usual range: lowest total, in dollars",
                           description="An estimate below this says a custom quote is required.")
    band_max = StringField("Usual range: highest total, in dollars",
                           description="An estimate above this says a custom quote is required.")
    note = TextAreaField("What changed, and why",
                         description="Shown with the version; at most 400 characters.")
    preview = SubmitField("Preview the effect")
    submit = SubmitField("Save as a new version")

    item_codes: tuple[str, ...] = ()
    POLICY_NAMES = ("deposit_percent", "deposit_minimum", "balance_due_days", "band_min", "band_max")

    @classmethod
    def for_items(cls, items) -> type["PriceListForm"]:
        """A form class with fields for these price list items (each with code, label and unit)."""
        fields: dict[str, object] = {"item_codes": tuple(item.code for item in items)}
        for item in items:
            fields[f"label_{item.code}"] = StringField(f"Label of {item.code} ({item.label})")
            fields[f"price_{item.code}"] = StringField(f"Price per {item.unit} in dollars: {item.label}")
            fields[f"hsa_{item.code}"] = BooleanField(f"HSA/FSA eligible: {item.label}")
        return type(f"{cls.__name__}ForItems", (cls,), fields)

    def item_rows(self):
        """(code, label field, price field, HSA/FSA field) per item, in price list order."""
        return [(code, self[f"label_{code}"], self[f"price_{code}"], self[f"hsa_{code}"])
                for code in self.item_codes]

    def price_values(self) -> dict[str, object]:
        """What the service takes: every policy and item field, as typed."""
        names = list(self.POLICY_NAMES)
        names += [f"{prefix}_{code}" for code in self.item_codes for prefix in ("price", "label", "hsa")]
        return {name: self[name].data if self[name].data is not None else "" for name in names}

    def based_on(self) -> int | None:
        value = (self.base_version.data or "").strip()
        return int(value) if value.isascii() and value.isdigit() else None
