"""The coordinator's forms for staffing and rooms: they parse, and booking.staffing and booking.rooms decide what is
valid; limits shown here are read from those rules."""

from flask_wtf import FlaskForm
from wtforms import BooleanField, SelectField, StringField, SubmitField
from wtforms.validators import InputRequired
from wtforms.widgets import NumberInput

from retreat.booking import rooms
from retreat.booking.staffing_models import COHORT_ROLE_LABELS
from retreat.web.forms import WholeNumberField, options


def _whole_or_none(value):
    """A row id as sent, or None for anything else (a number too large for the database included)."""
    try:
        number = int(value) if value not in (None, "") else None
    except (TypeError, ValueError):
        return None
    return number if number is not None and 0 < number < 2**31 else None


class AssignForm(FlaskForm):
    staff_user_id = SelectField("Person", coerce=_whole_or_none, validate_choice=False,
                                validators=[InputRequired(message="Choose a person.")],
                                description="Active staff accounts with the clinician role.")
    role = SelectField("Role in these dates", choices=options(COHORT_ROLE_LABELS.items()), default="therapist",
                       validate_choice=False,
                       validators=[InputRequired(message="Choose clinician or therapist.")])
    submit = SubmitField("Assign")


class RoomForm(FlaskForm):
    name = StringField("Name", validators=[InputRequired(message="Give the room's name.")],
                       description=f"As guests and staff call it; at most {rooms.NAME_MAX} characters.")
    beds = WholeNumberField("Beds", widget=NumberInput(min=rooms.BEDS.low, max=rooms.BEDS.high),
                            description=f"{rooms.BEDS.low} to {rooms.BEDS.high}.",
                            validators=[InputRequired(message="Give the number of beds.")])
    active = BooleanField("In use: guests can be placed in it", default=True)
    submit = SubmitField("Save room")


class PlaceForm(FlaskForm):
    room_id = SelectField("Room", coerce=_whole_or_none, validate_choice=False,
                          validators=[InputRequired(message="Choose a room.")])
    submit = SubmitField("Place")
