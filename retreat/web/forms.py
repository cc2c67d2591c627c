"""Helpers shared by the HTML forms of every area."""

from flask_wtf import FlaskForm
from wtforms import DateField, IntegerField, SelectMultipleField
from wtforms.fields.choices import SelectChoice
from wtforms.widgets import CheckboxInput, ListWidget

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


class WholeNumberField(IntegerField):
    """An IntegerField whose parsing error reads plainly."""

    def process_formdata(self, valuelist):
        try:
            super().process_formdata(valuelist)
        except ValueError:
            raise ValueError("Give a whole number.") from None


class LocalDateField(DateField):
    def process_formdata(self, valuelist):
        try:
            super().process_formdata(valuelist)
        except ValueError:
            raise ValueError("Give a date as year-month-day, for example 2027-03-01.") from None


class CheckboxesField(SelectMultipleField):
    widget = ListWidget(prefix_label=False)
    option_widget = CheckboxInput()


def add_other_problems(form, problems: dict[str, list[str]]) -> None:
    """After a form failed to parse some fields, show what the service finds wrong with the others too, so
    every problem shows at once (a field that failed to parse keeps its own message)."""
    for name, reasons in problems.items():
        if name in form._fields and not form[name].errors:
            form[name].errors = list(reasons)
