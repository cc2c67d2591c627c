"""Discount code forms: the applicant's code on an estimate, and the coordinator's form for a code. They parse
what was typed; catalog.discounts decides what is valid and names each refused field."""

import re

from flask_wtf import FlaskForm
from wtforms import RadioField, StringField, SubmitField
from wtforms.validators import InputRequired, Optional
from wtforms.widgets import NumberInput

from retreat.catalog.discounts import MAX_AMOUNT_CENTS
from retreat.core.money import decimal_dollars
from retreat.web.forms import CheckboxesField, LocalDateField, WholeNumberField, options


class PromoCodeForm(FlaskForm):
    """A discount code on a program's estimate: the estimate again, with the code's discount."""

    promo_code = StringField("Have a discount code?", validators=[InputRequired(message="Enter the discount code.")],
                             render_kw={"autocomplete": "off", "spellcheck": "false", "autocapitalize": "characters",
                                        "maxlength": 40})
    submit = SubmitField("Apply the code")


class DollarsField(StringField):
    """An amount typed in dollars (`500`, `$1,250.50`), held as integer cents."""

    AMOUNT = re.compile(r"(\d+)(?:\.(\d{1,2}))?")

    def process_formdata(self, valuelist):
        text = (valuelist[0] if valuelist else "").strip().replace("$", "").replace(",", "").replace(" ", "")
        if not text:
            self.data = None
            return
        match = self.AMOUNT.fullmatch(text)
        if match is None or int(match.group(1)) * 100 > MAX_AMOUNT_CENTS:
            self.data = None
            raise ValueError("Give an amount in dollars, for example 500 or 250.50.")
        self.data = int(match.group(1)) * 100 + int((match.group(2) or "0").ljust(2, "0"))

    def _value(self):
        if self.raw_data:
            return self.raw_data[0]
        return decimal_dollars(self.data) if isinstance(self.data, int) else ""


KINDS = (("percent", "A percentage of the price"), ("amount", "A fixed amount"))


class DiscountCodeForm(FlaskForm):
    code = StringField("Code", description="What applicants type: 3 to 40 letters, digits, dashes or underscores. "
                                           "Capitals or not, it is the same code.",
                       render_kw={"autocomplete": "off", "spellcheck": "false", "autocapitalize": "characters"})
    kind = RadioField("What it takes off", choices=options(KINDS), default="percent")
    percent_off = WholeNumberField("Percentage off", validators=[Optional()], widget=NumberInput(min=1, max=100),
                                   description="A whole number from 1 to 100.")
    amount_off_cents = DollarsField(
        "Amount off, in dollars",
        description="Never more than the price. A booking it would leave with under $1 to pay cannot be made "
                    "online: the clinic arranges it.")
    programs = CheckboxesField("Programs", coerce=int, validate_choice=False,
                               description="Tick none for every program.")
    valid_from = LocalDateField("First day (optional)", validators=[Optional()],
                                description="In the clinic's calendar. Empty: from today.")
    valid_until = LocalDateField("Last day (optional)", validators=[Optional()],
                                 description="In the clinic's calendar; the code works to the end of this day.")
    max_uses = WholeNumberField("Maximum number of bookings (optional)", validators=[Optional()],
                                widget=NumberInput(min=1),
                                description="Empty: no limit. A hold that ends unpaid gives its use back.")
    submit = SubmitField("Save the code")

    def values(self) -> dict:
        """The values for catalog.discounts: the chosen kind's amount only ("" when it was left empty, so the
        refusal names that field)."""
        percent = amount = None
        if self.kind.data == "amount":
            amount = self.amount_off_cents.data if self.amount_off_cents.data is not None else ""
        else:
            percent = self.percent_off.data if self.percent_off.data is not None else ""
        return {"code": self.code.data if "code" in self else None, "percent_off": percent,
                "amount_off_cents": amount, "program_ids": list(self.programs.data or []),
                "valid_from": self.valid_from.data, "valid_until": self.valid_until.data,
                "max_uses": self.max_uses.data}
