"""The coordinator's forms for cohorts and bookings: they parse (whole numbers, dates, text) and booking.cohorts and
booking.console decide what is valid; limits shown here are read from those rules."""

import re

from flask_wtf import FlaskForm
from wtforms import BooleanField, HiddenField, RadioField, SelectField, StringField, SubmitField, TextAreaField
from wtforms.validators import InputRequired, Length, Optional
from wtforms.widgets import NumberInput

from retreat.booking import cohorts, console, todos
from retreat.booking.models import BOOKING_STATUSES
from retreat.booking.states import BOOKING_STATUS_LABELS
from retreat.core.money import decimal_dollars
from retreat.web.forms import LocalDateField, WholeNumberField, options


def _range_text(bounds) -> str:
    return f"{bounds.low} to {bounds.high}"


class CohortForm(FlaskForm):
    """The last day is not asked: it follows from the program's length (booking.cohorts.end_date_for)."""

    start_date = LocalDateField("First day", validators=[InputRequired(message="Give the first day.")])
    capacity = WholeNumberField(
        "Seats", widget=NumberInput(min=cohorts.CAPACITY.low, max=cohorts.CAPACITY.high),
        description=f"{_range_text(cohorts.CAPACITY)} applicants.",
        validators=[InputRequired(message="Give the number of seats.")])
    submit = SubmitField("Add these dates")


class CohortDatesForm(FlaskForm):
    start_date = LocalDateField("First day", validators=[InputRequired(message="Give the first day.")])
    submit = SubmitField("Save dates")


class CapacityForm(FlaskForm):
    capacity = WholeNumberField(
        "Seats", widget=NumberInput(min=cohorts.CAPACITY.low, max=cohorts.CAPACITY.high),
        description=f"{_range_text(cohorts.CAPACITY)}, and not fewer than the seats taken.",
        validators=[InputRequired(message="Give the number of seats.")])
    submit = SubmitField("Save seats")


class CancelCohortForm(FlaskForm):
    fingerprint = HiddenField()
    reason = TextAreaField("Reason (for the audit log)", validators=[Optional(), Length(max=500)],
                           render_kw={"rows": 2}, description="Optional, at most 500 characters.")
    acknowledge = BooleanField("I understand that these applicants must be contacted by the clinic, and that "
                               "cancelling the dates does not cancel or refund their bookings.")


# --- The bookings console ---

MAX_DOLLARS = 10_000_000


class DollarsField(StringField):
    """An amount typed in dollars (`994`, `$1,994.50`), held as integer cents."""

    AMOUNT = re.compile(r"(\d+)(?:\.(\d{1,2}))?")

    def process_formdata(self, valuelist):
        text = (valuelist[0] if valuelist else "").strip().replace("$", "").replace(",", "").replace(" ", "")
        if not text:
            self.data = None
            return
        match = self.AMOUNT.fullmatch(text)
        if match is None or int(match.group(1)) > MAX_DOLLARS:
            self.data = None
            raise ValueError("Give an amount in dollars, for example 994 or 994.50.")
        self.data = int(match.group(1)) * 100 + int((match.group(2) or "0").ljust(2, "0"))

    def _value(self):
        if self.raw_data:
            return self.raw_data[0]
        return decimal_dollars(self.data) if isinstance(self.data, int) else ""


class BookingFilterForm(FlaskForm):
    q = StringField("Reference, name or email", validators=[Optional(), Length(max=console.SEARCH_MAX_LENGTH)])
    cohort = SelectField("Dates", default="", validate_choice=False)
    status = SelectField("Status", choices=options(
        [("", "Any status"), *((status, BOOKING_STATUS_LABELS[status]) for status in BOOKING_STATUSES)]),
        default="")
    provider = SelectField("Payment", choices=options([("", "Any payment"), *console.PROVIDER_LABELS.items()]),
                           default="")
    needs = SelectField("Needs attention", choices=options(
        [("", "Any"), *((key, need.label) for key, need in todos.NEEDS.items())]), default="")
    submit = SubmitField("Filter")

    def cohort_id(self) -> int | None:
        value = self.cohort.data or ""
        return int(value) if value.isdigit() and 0 < int(value) < 2**31 else None


class TransferReceivedForm(FlaskForm):
    amount = DollarsField("Amount received, in dollars",
                          validators=[InputRequired(message="Give the amount received, in dollars.")])
    bank_reference = StringField(
        "Bank reference", validators=[InputRequired(message="Give the reference of the transfer on the clinic's "
                                                            "bank statement.")],
        render_kw={"maxlength": console.BANK_REFERENCE_MAX_LENGTH, "autocomplete": "off"},
        description="As the clinic's bank statement shows it. Each transfer is recorded once.")
    note = StringField("Note (optional)", render_kw={"maxlength": console.NOTE_MAX_LENGTH})
    submit = SubmitField("Mark bank transfer received")


class StaffCancelForm(FlaskForm):
    by = RadioField("Who is cancelling?", choices=options(
        [("applicant", "The applicant asked to cancel: the refund policy applies"),
         ("clinic", "The clinic is cancelling: everything paid is refunded")]),
        validators=[InputRequired(message="Choose who is cancelling.")])
    refund = DollarsField("Refund a different amount (optional), in dollars",
                          description="Leave empty to refund what the choice above gives. A different amount "
                                      "needs a reason and is recorded in the audit log.")
    reason = TextAreaField("Reason", validators=[Optional(), Length(max=console.REASON_MAX_LENGTH)],
                           render_kw={"rows": 2, "maxlength": console.REASON_MAX_LENGTH},
                           description="Kept in the audit log. Required for a different refund.")
    submit = SubmitField("Cancel this booking")


class CancelCohortBookingsForm(FlaskForm):
    acknowledge = BooleanField("Cancel every booking listed and refund everything each has paid. This cannot be "
                               "undone; each applicant is emailed.")
    submit = SubmitField("Cancel these bookings and refund everything paid")


class FeeDecisionForm(FlaskForm):
    """A coordinator's decision on a request for a reduced fee (booking.fee_requests checks the floor and the rest;
    the view writes the floor into the price's description)."""

    decision = RadioField("Decision", choices=options(
        [("grant", "Grant a reduced price"), ("decline", "Decline: the price stays as it is")]),
        validators=[InputRequired(message="Choose to grant a price or to decline.")])
    price = DollarsField("Price granted, in dollars (when granting)")
    reason = TextAreaField("Reason", validators=[Optional(), Length(max=500, message="Enter at most 500 characters.")],
                           render_kw={"rows": 2, "maxlength": 500},
                           description="Required. Kept in the audit log; not sent to the applicant.")
    submit = SubmitField("Record the decision and email the applicant")
class DiagnosisForm(FlaskForm):
    """A clinician's ICD-10 codes for the superbill (booking.superbills checks them)."""

    diagnosis_codes = StringField("ICD-10-CM diagnosis codes", description="One or more, separated by commas, such as "
                        "F33.2, F43.10. Printed on the applicant's superbill; only clinicians see them here.",
                        render_kw={"autocomplete": "off", "spellcheck": "false", "maxlength": 200})
    submit = SubmitField("Record the diagnosis")
