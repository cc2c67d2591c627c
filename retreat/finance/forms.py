"""Forms of the finance console: the ledger's filters (a GET form), the month to close, API tokens."""

from datetime import timedelta

from flask_wtf import FlaskForm
from wtforms import DateField, SelectField, StringField, SubmitField
from wtforms.validators import DataRequired, Length, Optional, ValidationError

from retreat.core.clock import today
from retreat.finance import services as finance
from retreat.finance.services import KIND_LABELS, PROVIDER_LABELS, STATUS_LABELS, LedgerFilters
from retreat.web.forms import options

ANY = ("", "Any")
PERIOD_LABELS = {"week": "Week", "month": "Month"}
DEFAULT_DAYS = 90


class LedgerFilterForm(FlaskForm):
    """Read from the query string (no CSRF: it changes nothing). Empty dates mean the last 90 days."""

    class Meta:
        csrf = False

    date_from = DateField("From", validators=[Optional()], description="UTC date, included.")
    date_to = DateField("To", validators=[Optional()], description="UTC date, included.")
    program = SelectField("Program", validators=[Optional()])
    cohort = SelectField("Cohort", validators=[Optional()])
    provider = SelectField("Paid with", choices=options([ANY, *PROVIDER_LABELS.items()]), validators=[Optional()])
    kind = SelectField("Kind", choices=options([ANY, *KIND_LABELS.items()]), validators=[Optional()])
    status = SelectField("Status", choices=options([ANY, *STATUS_LABELS.items()]), validators=[Optional()])
    by = SelectField("Chart by", choices=options(PERIOD_LABELS.items()), default="week",
                     validators=[Optional()])
    submit = SubmitField("Show")

    def __init__(self, *args, choices: finance.Choices, **kwargs):
        super().__init__(*args, **kwargs)
        self.program.choices = options([ANY, *((str(pid), name) for pid, name in choices.programs)])
        self.cohort.choices = options([ANY, *((str(cid), f"{name}, {start:%-d %b %Y}")
                                              for cid, name, start in choices.cohorts)])

    def validate_date_from(self, field):
        _in_range(field)

    def validate_date_to(self, field):
        _in_range(field)
        if field.data and self.date_from.data and field.data < self.date_from.data:
            raise ValidationError("The last day must not be before the first day.")

    def filters(self) -> LedgerFilters:
        """The filters chosen; call after validate(). Without dates: the last 90 days, today included."""
        last = self.date_to.data or (None if self.date_from.data else today())
        first = self.date_from.data or ((last or today()) - timedelta(days=DEFAULT_DAYS - 1))
        return LedgerFilters(
            date_from=first, date_to=last,
            program_id=int(self.program.data) if self.program.data else None,
            cohort_id=int(self.cohort.data) if self.cohort.data else None,
            provider=self.provider.data or None, kind=self.kind.data or None, status=self.status.data or None,
        )


def _in_range(field) -> None:
    if field.data and not finance.MIN_DATE <= field.data <= finance.MAX_DATE:
        raise ValidationError(f"Give a date from {finance.MIN_DATE.year} to {finance.MAX_DATE.year}.")


class BookingLookupForm(FlaskForm):
    class Meta:
        csrf = False

    reference = StringField("Booking reference", validators=[DataRequired("Give a booking reference."),
                                                             Length(max=20)],
                            description="For example RT-7K3M9Q.")
    submit = SubmitField("Show its payments")





class ResolveFlagForm(FlaskForm):
    """Finance marks money flagged for review as reviewed, saying what was done."""

    resolution = StringField("What was done", validators=[DataRequired("Say what was done about this payment."),
                                                          Length(max=500)],
                             description="For example: refunded from the Stripe dashboard; kept, it was the "
                                         "applicant's own payment at the old price.")
    submit = SubmitField("Mark reviewed")
