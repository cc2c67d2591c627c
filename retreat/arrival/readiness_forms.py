"""The readiness board's forms: its filters (a GET form, no CSRF) and the clinician's clearance."""

from flask_wtf import FlaskForm
from wtforms import RadioField, SelectField, SubmitField, TextAreaField
from wtforms.validators import Optional

from retreat.arrival import clearance, readiness
from retreat.booking.states import BOOKING_STATUS_LABELS
from retreat.web.forms import options


class BoardFilterForm(FlaskForm):
    show = SelectField("Show", choices=options([("", "Every booking"), *readiness.SHOW_CHOICES.items()]),
                       default="")
    # The steps are the board's columns, known once the board is read: the view checks the choice.
    missing = SelectField("Step not done", default="", validate_choice=False)
    status = SelectField("Booking status", choices=options(
        [("", "Any status"), *((status, BOOKING_STATUS_LABELS[status]) for status in readiness.SEAT_STATUSES)]),
        default="")
    submit = SubmitField("Filter")

    def filters(self) -> readiness.Filters:
        return readiness.Filters(show=self.show.data or "", missing=self.missing.data or "",
                                 status=self.status.data or "")


class ClearanceForm(FlaskForm):
    status = RadioField("Medical clearance", choices=options(clearance.STATUS_LABELS.items()), validators=[Optional()],
                        validate_choice=False)
    note = TextAreaField(
        "Note (clinicians only)", render_kw={"rows": 4, "maxlength": clearance.NOTE_MAX},
        description=f"Required for a follow-up: what is missing or what to check. At most {clearance.NOTE_MAX:,} "
                    "characters. Coordinators see the status, never this note.")
    submit = SubmitField("Save the clearance")
