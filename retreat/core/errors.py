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
