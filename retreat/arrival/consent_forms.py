"""The consent's forms: the applicant's signature (a name and one tick per section of the version shown) and the
admin's new version (the whole text, sections as `## Title` lines). arrival.consent checks every value."""

from flask_wtf import FlaskForm
from wtforms import BooleanField, HiddenField, StringField, SubmitField, TextAreaField

from retreat.arrival.consent_models import ConsentVersion


class SignForm(FlaskForm):
    version = HiddenField()
    submit = SubmitField("Sign the consent")

    @classmethod
    def for_version(cls, shown: ConsentVersion, *args, **kwargs) -> "SignForm":
        """The form with one box per section of the version `shown`, named section_<position>."""
        class Form(cls):
            pass
        for section in shown.sections:
            setattr(Form, f"section_{section.position}",
                    BooleanField(f"I have read and understood “{section.title}”"))
        # After the boxes, so that a form's errors are listed in the order of the page.
        Form.full_name = StringField("Your full name", description="As it is on your booking. Typing it is your "
                                     "signature.", render_kw={"autocomplete": "name", "spellcheck": "false"})
        form = Form(*args, **kwargs)
        form.section_fields = [(section, form[f"section_{section.position}"]) for section in shown.sections]
        return form

    def ticked(self) -> set[int]:
        return {section.position for section, field in self.section_fields if field.data}

    def version_number(self) -> object:
        value = self.version.data or ""
        return int(value) if value.isascii() and value.isdigit() and len(value) < 10 else value


class ConsentEditForm(FlaskForm):
    base_version = HiddenField()
    text = TextAreaField(
        "The consent, section by section",
        description="Begin each section with a line “## Title”, then its text. A blank line starts a new "
                    "paragraph; lines starting with “- ” make a list. Applicants tick each section.",
        render_kw={"rows": 30, "spellcheck": "true"})
    note = StringField("What changed and why", description="Shown to admins with the version; at most 400 "
                       "characters.")
    submit = SubmitField("Save as a new version")

    def based_on(self) -> int | None:
        value = self.base_version.data or ""
        return int(value) if value.isascii() and value.isdigit() and len(value) < 10 else None
