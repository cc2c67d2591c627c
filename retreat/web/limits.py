"""Rate limits of public writes (estimates now; screenings and bookings later)."""

from functools import wraps

from flask import current_app

from retreat.extensions import limiter


def _public_write_limit() -> str:
    return current_app.config["RATELIMIT_PUBLIC_WRITE"]


def public_write_limit(view):
    """Limit a public POST per client address (RATELIMIT_PUBLIC_WRITE). With RATELIMIT_ENABLED=false the
    limiter is skipped outright: Flask-Limiter's decorator otherwise still evaluates its limits per request."""
    limited = limiter.limit(_public_write_limit)(view)

    @wraps(view)
    def guarded(*args, **kwargs):
        return limited(*args, **kwargs) if limiter.enabled else view(*args, **kwargs)

    return guarded


def _document_limit() -> str:
    return current_app.config["RATELIMIT_DOCUMENTS"]


def document_limit(view):
    """Limit the PDF documents an applicant downloads per client address (RATELIMIT_DOCUMENTS): each is rendered
    afresh, so a script fetching one in a loop would keep a worker busy."""
    limited = limiter.limit(_document_limit)(view)

    @wraps(view)
    def guarded(*args, **kwargs):
        return limited(*args, **kwargs) if limiter.enabled else view(*args, **kwargs)

    return guarded
