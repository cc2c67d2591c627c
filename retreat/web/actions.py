"""The one shape of a form that calls a service: success is flashed and redirected to, a refusal naming fields is
shown next to them on the form's page again (422), and any other refusal is flashed as an error."""

from collections.abc import Callable
from typing import TypeVar

from flask import flash, redirect
from flask_wtf import FlaskForm

from retreat.core.errors import DomainError, ValidationFailed
from retreat.web.forms import attach_errors

T = TypeVar("T")


def perform(action: Callable[[], T], *, done: str | Callable[[T], str | tuple[str, str]], to: str,
            form: FlaskForm | None = None, again: Callable[[], object] | None = None,
            to_result: Callable[[T], str] | None = None):
    """Call `action` (a service, with what the form parsed) and answer:

    - success: flash `done` (words, words made from the result, or (words, category)), then 303 to `to` (or to
      the address `to_result` makes from the result: a page of what was made);
    - ValidationFailed: its reasons beside `form`'s fields on `again()` (the form's page, with its 422), or, for
      a form-less action, flashed as an error;
    - any other DomainError: its message flashed as an error, then 303 to `to`.
    """
    try:
        result = action()
    except ValidationFailed as refusal:
        if form is not None and again is not None:
            attach_errors(form, refusal)
            return again()
        flash(" ".join(reason for reasons in refusal.fields.values() for reason in reasons) or refusal.message,
              "error")
        return redirect(to, code=303)
    except DomainError as refusal:
        flash(refusal.message, "error")
        return redirect(to, code=303)
    message = done(result) if callable(done) else done
    if isinstance(message, tuple):
        flash(*message)
    elif message:
        flash(message)
    return redirect(to_result(result) if to_result is not None else to, code=303)
