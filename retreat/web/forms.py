"""Helpers shared by the HTML forms of every area."""

from flask_wtf import FlaskForm
from wtforms.fields.choices import SelectChoice

from retreat.core.errors import ValidationFailed


def options(pairs) -> list[SelectChoice]:
    """WTForms choices from (value, label) pairs (WTForms 3.3 deprecates tuples)."""
    return [SelectChoice(value, label) for value, label in pairs]


def attach_errors(form: FlaskForm, refusal: ValidationFailed) -> None:
    """Show a domain refusal next to the fields it names; a field the form lacks goes to the form's top."""
    for name, reasons in refusal.fields.items():
        field = form._fields.get(name)
        if field is None:
            form.form_errors.extend(reasons)
        else:
            field.errors = list(field.errors) + list(reasons)
