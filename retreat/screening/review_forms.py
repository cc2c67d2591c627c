"""The clinician's decision form on the review page."""

from flask_wtf import FlaskForm
from wtforms import RadioField, SubmitField, TextAreaField
from wtforms.validators import InputRequired, Length, Optional

from retreat.screening.review import DECISION_LABELS, NOTE_MAX_LENGTH
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
