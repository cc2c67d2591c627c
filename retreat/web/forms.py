"""Helpers shared by the HTML forms of every area."""

from flask_wtf import FlaskForm

from retreat.core.errors import ValidationFailed


def attach_errors(form: FlaskForm, refusal: ValidationFailed) -> None:
    """Show a domain refusal next to the fields it names; a field the form lacks goes to the form's top."""
    for name, reasons in refusal.fields.items():
        field = form._fields.get(name)
        if field is None:
            form.form_errors.extend(reasons)
        else:
            field.errors = list(field.errors) + list(reasons)
