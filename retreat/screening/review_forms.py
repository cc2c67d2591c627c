"""The clinician's forms on the review page: the decision, and closing an anonymous crisis."""

from flask_wtf import FlaskForm
from wtforms import RadioField, SubmitField, TextAreaField
from wtforms.validators import InputRequired, Length, Optional

from retreat.screening.review import CLOSE_NOTE_REQUIRED, DECISION_LABELS, NOTE_MAX_LENGTH
from retreat.web.forms import options


class DecisionForm(FlaskForm):
    decision = RadioField("Decision", choices=options(DECISION_LABELS.items()),
                          validators=[InputRequired(message="Choose approve, decline or ask for records.")])
    note = TextAreaField(
        "Note for the clinical record",
        description="Required to decline or to ask for records. Kept encrypted; never sent to the applicant.",
        validators=[Optional(), Length(max=NOTE_MAX_LENGTH)], render_kw={"rows": 5},
    )
    submit = SubmitField("Record decision")


class CloseForm(FlaskForm):
    """An anonymous crisis acknowledged: the note is required (review.acknowledge_and_close checks it too)."""

    close_note = TextAreaField(
        "What you did or checked",
        description="Required. For example: on-call alert received and reviewed; no contact details, nothing more "
                    "can be done. Kept encrypted; never emailed.",
        validators=[InputRequired(message=CLOSE_NOTE_REQUIRED), Length(max=NOTE_MAX_LENGTH)], render_kw={"rows": 4},
    )
    submit = SubmitField("Acknowledge and close")
