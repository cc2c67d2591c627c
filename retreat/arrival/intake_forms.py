"""The applicant's intake form. It only carries what was typed: retreat.arrival.intake checks every value and names
each refused field."""

from flask_wtf import FlaskForm
from wtforms import RadioField, StringField, TextAreaField
from wtforms.fields import TelField

from retreat.arrival.intake import NAME_LIMIT, NEEDS_LIMIT, RELATIONSHIP_LIMIT, ROOMMATE_LIMIT
from retreat.web.forms import options

NONE_HINT = "Write “none” if there are none."
HEALTH_HINT = "Seen only by your clinicians, and stored encrypted."


def _text(label: str, description: str) -> TextAreaField:
    return TextAreaField(label, description=description, render_kw={"rows": 3, "maxlength": NEEDS_LIMIT})


class IntakeForm(FlaskForm):
    emergency_name = StringField("Emergency contact's name",
                                 render_kw={"autocomplete": "off", "spellcheck": "false", "maxlength": NAME_LIMIT})
    emergency_phone = TelField("Emergency contact's phone number", description="With its area code.",
                               render_kw={"autocomplete": "off"})
    emergency_relationship = StringField("Who they are to you", description="For example partner, parent or friend.",
                                         render_kw={"maxlength": RELATIONSHIP_LIMIT})
    dietary_needs = _text("Dietary needs", f"Vegetarian, gluten-free, foods you avoid. {NONE_HINT}")
    accessibility_needs = _text(
        "Accessibility needs", f"Anything that makes moving around, resting or taking part easier for you: step-free "
        f"rooms, hearing or sight, a quiet space. {NONE_HINT}")
    medications = _text("Current medications",
                        f"Every medicine and supplement you take, with its dose if you know it. {NONE_HINT} "
                        f"{HEALTH_HINT}")
    allergies = _text("Allergies", f"To medicines, foods or anything else. {NONE_HINT} {HEALTH_HINT}")
    ride_home = RadioField(
        "Who takes you home after sessions?",
        description="You cannot drive for the rest of the day after a ketamine session: someone you trust "
                    "takes you home or back to your lodging.",
        choices=options((("person", "Someone I name here"),
                         ("clinic", "I cannot arrange it yet: I will arrange it with the clinic"))),
        validate_choice=False)
    ride_home_name = StringField("Name of who takes you home",
                                 render_kw={"autocomplete": "off", "spellcheck": "false", "maxlength": NAME_LIMIT})
    ride_home_phone = TelField("Their phone number", description="With its area code.",
                               render_kw={"autocomplete": "off"})
    arrival_time = StringField("Your arrival time", render_kw={"type": "time"})
    roommate = RadioField("Sharing a room",
                          choices=options((("none", "No preference"),
                                           ("preference", "I have a preference"))),
                          validate_choice=False)
    roommate_preference = StringField(
        "Your roommate preference",
        description="Their name, or what would help (someone quiet, an early riser). We do our best; it is not "
                    "promised.", render_kw={"maxlength": ROOMMATE_LIMIT})
