"""The forms of documents: the applicant's upload, and a clinician's request. They carry what was sent;
retreat/arrival/uploads.py checks every value and names each refused field."""

from flask_wtf import FlaskForm
from flask_wtf.file import FileField
from wtforms import RadioField, SubmitField, TextAreaField

from retreat.arrival.uploads import DETAILS_MAX_LENGTH, MAX_FILE_BYTES
from retreat.web.forms import options

ACCEPT = ".pdf,.jpg,.jpeg,.png,application/pdf,image/jpeg,image/png"


class UploadForm(FlaskForm):
    request = RadioField("Which request is this file for?", validate_choice=False)
    file = FileField("Choose a file", description=f"A PDF, JPEG or PNG of up to {MAX_FILE_BYTES // (1024 * 1024)} MB. "
                     "A photo of a paper document is fine if it is sharp and every page is whole.",
                     render_kw={"accept": ACCEPT})
    submit = SubmitField("Upload this file")


class AskForm(FlaskForm):
    kind = RadioField("What to ask for", choices=options((
        ("records", "Medical records (from their doctor, psychiatrist or therapist)"),
        ("clearance", "Medical clearance: an ECG, lab results or another test"),
    )), validate_choice=False)
    details = TextAreaField("What is needed", description="The applicant reads this on their booking page (it is "
                            "stored encrypted and never emailed). Needed for clearance, such as “a resting ECG "
                            "from the last 3 months”.", render_kw={"rows": 3, "maxlength": DETAILS_MAX_LENGTH})
    submit = SubmitField("Ask the applicant and email them")
