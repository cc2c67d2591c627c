"""Errors the domain raises; views and the API turn them into a page or a JSON error with a stable code."""


class DomainError(Exception):
    """A rule of the business refused the request.

    `code` is stable (clients match on it), `message` is plain words, `fields` maps a field name to the
    reasons it was refused, and `status` is the HTTP status the API answers with.
    """

    status = 409
    code = "conflict"

    def __init__(self, message: str, *, code: str | None = None, fields: dict[str, list[str]] | None = None,
                 status: int | None = None):
        super().__init__(message)
        self.message = message
        self.code = code or self.code
        self.fields = fields or {}
        self.status = status or self.status


class ValidationFailed(DomainError):
    """Input broke a rule; `fields` names each field and why."""

    status = 422
    code = "validation_failed"

    def __init__(self, fields: dict[str, list[str]], message: str = "Some fields need attention."):
        super().__init__(message, fields=fields)


class NotFound(DomainError):
    status = 404
    code = "not_found"


def flatten_field_errors(messages: dict, prefix: str = "", whole: str = "body") -> dict[str, list[str]]:
    """marshmallow's nested error messages as {"field.sub.0": [reasons]}. An error about a whole object is
    reported under that object's name, or under `whole` at the top level."""
    flat: dict[str, list[str]] = {}
    for key, value in messages.items():
        name = (prefix.rstrip(".") or whole) if key == "_schema" else f"{prefix}{key}"
        if isinstance(value, dict):
            for field, reasons in flatten_field_errors(value, f"{name}.", whole).items():
                flat.setdefault(field, []).extend(reasons)
        else:
            flat.setdefault(name, []).extend(str(message) for message in value)
    return flat
