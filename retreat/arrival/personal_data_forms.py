"""The forms of the applicant's data: asking for erasure (the applicant) and carrying it out (an admin)."""

from flask_wtf import FlaskForm
from wtforms import BooleanField, SubmitField
from wtforms.validators import InputRequired


class ErasureRequestForm(FlaskForm):
    understood = BooleanField(
        "I understand that once my data is erased, this page and my booking's link no longer work, and the clinic "
        "can no longer tell me about this booking",
        validators=[InputRequired("Tick this box to confirm that you want your data erased.")],
        render_kw={"required": True})
    submit = SubmitField("Ask the clinic to erase my data")


class EraseForm(FlaskForm):
    understood = BooleanField(
        "I have checked that nothing more is owed to or by this applicant; the erasure cannot be undone",
        validators=[InputRequired("Tick this box to confirm the erasure.")], render_kw={"required": True})
    submit = SubmitField("Erase this applicant's data")
