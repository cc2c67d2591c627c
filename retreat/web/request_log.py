"""Logs as one JSON object a line, and one line per request with its request id.

The request id is the X-Request-Id header the load balancer sets (nginx passes the client's or makes one, see
deploy/nginx/retreat.conf), or one made here; it is sent back in the response's X-Request-Id and added to every
line logged while the request runs, so a request can be followed from nginx's log through every app host.

A request's line names the method, the path, the status and the duration, never the query string, and never a
secret of the path: the manage and screening tokens (any route argument named like a token) are written as
`[token]`, and so is the segment after the public prefixes that carry one even when no route matched (a mistyped
link still holds a real token).
"""

import json
import logging
import re
import time
import traceback
import uuid
from datetime import UTC, datetime

from flask import Flask, Response, g, has_request_context, request

request_logger = logging.getLogger("retreat.request")

REQUEST_ID_HEADER = "X-Request-Id"
_SAFE_REQUEST_ID = re.compile(r"[A-Za-z0-9._:-]{1,128}")
REDACTED = "[token]"
# Path prefixes whose next segment is a secret (manage links, screening tokens, email confirmation codes).
_SECRET_AFTER = (
    ("bookings", "manage"),
    ("bookings", "new"),
    ("screening", "result"),
    ("screening", "approved"),
)
_SECRET_ARGUMENT = re.compile(r"token|secret|signature", re.IGNORECASE)


def redacted_path(path: str, view_args: dict | None = None) -> str:
    """The path with its secrets replaced by [token]: route arguments named like a token, the segment after a
    prefix of _SECRET_AFTER, and the last segment of /bookings/confirm/<reference>/<code>."""
    segments = path.split("/")
    secrets = {str(value) for name, value in (view_args or {}).items() if _SECRET_ARGUMENT.search(name)}
    for index, segment in enumerate(segments):
        if segment in secrets:
            segments[index] = REDACTED
    for index in range(1, len(segments) - 1):
        if tuple(segments[index - 1:index + 1]) in _SECRET_AFTER and segments[index + 1]:
            segments[index + 1] = REDACTED
    if len(segments) > 4 and segments[1:3] == ["bookings", "confirm"]:
        segments[4] = REDACTED
    return "/".join(segments)


def current_request_id() -> str | None:
    return g.get("request_id") if has_request_context() else None


def _start_request() -> None:
    given = request.headers.get(REQUEST_ID_HEADER, "")
    g.request_id = given if _SAFE_REQUEST_ID.fullmatch(given) else uuid.uuid4().hex
    g.request_started = time.perf_counter()


def _log_request(response: Response) -> Response:
    request_id = g.get("request_id")
    if request_id is None:  # a before_request earlier than ours answered
        return response
    response.headers[REQUEST_ID_HEADER] = request_id
    if request_logger.isEnabledFor(logging.INFO):
        duration_ms = (time.perf_counter() - g.request_started) * 1000
        path = redacted_path(request.path, request.view_args)
        request_logger.info("%s %s %s %.1f ms", request.method, path, response.status_code, duration_ms,
                            extra={"fields": {"request_id": request_id, "method": request.method, "path": path,
                                              "status": response.status_code,
                                              "duration_ms": round(duration_ms, 2)}})
    return response


class JsonFormatter(logging.Formatter):
    """One JSON object a line: time (UTC), level, logger, message, the request id, and the record's `fields`."""

    def format(self, record: logging.LogRecord) -> str:
        document = {
            "time": datetime.fromtimestamp(record.created, UTC).isoformat(timespec="milliseconds"),
            "level": record.levelname,
            "logger": record.name,
            "message": record.getMessage(),
        }
        request_id = current_request_id()
        if request_id:
            document["request_id"] = request_id
        document.update(getattr(record, "fields", None) or {})
        if record.exc_info:
            document["exception"] = "".join(traceback.format_exception(*record.exc_info)).rstrip()
        return json.dumps(document, default=str)


def register(app: Flask) -> None:
    """Request ids and request lines for every request; JSON logs when LOG_FORMAT is json (production's default)."""
    app.before_request_funcs.setdefault(None, []).insert(0, _start_request)
    app.after_request(_log_request)
    log_format = app.config.get("LOG_FORMAT") or ("json" if app.config.get("ENV_NAME") == "production" else "text")
    if log_format == "json":
        app.logger.setLevel(logging.INFO)
        for handler in app.logger.handlers or logging.getLogger().handlers:
            handler.setFormatter(JsonFormatter())
