"""One place turns every error into a page or, under /api/, a JSON error with a stable code."""

from flask import Flask, render_template, request, url_for
from flask_wtf.csrf import CSRFError
from sqlalchemy.exc import OperationalError
from werkzeug.exceptions import HTTPException, InternalServerError

from retreat.core.errors import DomainError
from retreat.extensions import db

HTTP_CODES = {
    400: "bad_request",
    401: "unauthorized",
    403: "forbidden",
    404: "not_found",
    405: "method_not_allowed",
    409: "conflict",
    413: "payload_too_large",
    415: "unsupported_media_type",
    422: "validation_failed",
    429: "rate_limited",
    500: "server_error",
    503: "service_unavailable",
}
# How long a client should wait before trying again when the database stayed busy (seconds).
BUSY_RETRY_AFTER = "2"

MESSAGES = {
    403: "This page is not open to you.",
    404: "We could not find that page.",
    405: "That action is not available here.",
    429: "Too many requests from your connection. Please wait a minute and try again.",
    500: "Something went wrong on our side. Nothing was charged. Please try again in a moment.",
}


CSRF_MESSAGE = "This form has expired, so nothing was saved."
# What the page says below its title, in the app's words: what happened, then who to ask. Staff pages (under
# /staff/) send staff to their home and to an administrator; other pages to the programs and the clinic.
EXPLANATIONS = {
    400: "Something in the request was not as this site expects, so nothing was saved.",
    403: "Your account's roles do not open this page: it belongs to another part of the clinic's work.",
    404: "The link may be old, or the address mistyped.",
    405: "This page cannot be used that way; nothing was saved.",
    429: "This protects applicants and the clinic from automated requests. Nothing is wrong with your account.",
    500: "The error is recorded for the clinic's team.",
    503: "The site is busy for a moment.",
}
CSRF_EXPLANATION = ("The page was open a long time, or the form was sent from another tab or site. Go back, reload "
                    "the page and send the form again.")
STAFF_ASK = {
    403: "If your work needs this page, ask an administrator of the staff accounts to add the role to your "
         "account.",
}
STAFF_ASK_DEFAULT = "If this keeps happening, tell an administrator of the staff accounts what you were doing."
PUBLIC_ASK = "If this keeps happening, contact the clinic: we are glad to help by phone or email."


def _error_page(status: int, message: str, explanation: str | None = None):
    staff = request.path == "/staff" or request.path.startswith("/staff/")
    return render_template(
        # The staff layout reads the signed-in user; a server-side failure (the database away) gets the plain one.
        "errors/staff_error.html" if staff and status < 500 else "errors/error.html", status=status, message=message,
        explanation=explanation if explanation is not None else EXPLANATIONS.get(status, ""),
        ask=STAFF_ASK.get(status, STAFF_ASK_DEFAULT) if staff else PUBLIC_ASK,
        staff=staff, home_url=url_for("staff.home") if staff else url_for("catalog.home"))


def error_json(code: str, message: str, fields: dict[str, list[str]] | None = None) -> dict:
    """The contract's error body (API.md): {"error": {"code", "message", "fields"?}}."""
    body = {"code": code, "message": message}
    if fields:
        body["fields"] = fields
    return {"error": body}


def _wants_json() -> bool:
    return request.path.startswith("/api/")


def _render(status: int, code: str, message: str, fields=None, headers=None, explanation: str | None = None):
    if _wants_json():
        return error_json(code, message, fields), status, headers or []
    return _error_page(status, message, explanation), status, headers or []


def register(app: Flask) -> None:
    @app.errorhandler(DomainError)
    def domain_error(error: DomainError):
        db.session.rollback()
        return _render(error.status, error.code, error.message, error.fields)

    @app.errorhandler(CSRFError)
    def csrf_failed(error: CSRFError):
        """A form without its valid token (expired, or sent from elsewhere): the app's page, not Werkzeug's 400."""
        return _render(400, "csrf_failed", CSRF_MESSAGE, explanation=CSRF_EXPLANATION)

    @app.errorhandler(HTTPException)
    def http_error(error: HTTPException):
        status = error.code or 500
        message = MESSAGES.get(status) or error.description or "The request could not be handled."
        # Keep what the exception says about itself (Allow on a 405, Retry-After on a 429), not its body type.
        headers = [(name, value) for name, value in error.get_headers() if name.lower() != "content-type"]
        if error.response is not None:
            headers += [(n, v) for n, v in error.response.headers.items() if n.lower() != "content-type"]
        return _render(status, HTTP_CODES.get(status, "error"), message, headers=headers)

    @app.errorhandler(OperationalError)
    def database_busy(error: OperationalError):
        """The database stayed locked (SQLite's busy timeout ran out) or went away: nothing was saved, so the
        client may simply try again: 503 with Retry-After, never a 500."""
        db.session.rollback()
        app.logger.warning("Database unavailable on %s %s: %s", request.method, request.path,
                           str(error.orig).splitlines()[0] if error.orig else type(error).__name__)
        return _render(503, "database_busy", "We are very busy just now and nothing was saved. Please try again "
                       "in a moment.", headers=[("Retry-After", BUSY_RETRY_AFTER)])

    @app.errorhandler(Exception)
    def unexpected_error(error: Exception):
        db.session.rollback()
        app.logger.exception("Unhandled error on %s %s", request.method, request.path)
        return http_error(InternalServerError())
