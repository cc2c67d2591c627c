"""Security headers on every response."""

from flask import Flask, Response, current_app, g

CONTENT_SECURITY_POLICY = {
    "default-src": ["'self'"],
    "script-src": ["'self'"],
    "style-src": ["'self'"],
    "img-src": ["'self'", "data:"],
    "font-src": ["'self'"],
    "connect-src": ["'self'"],
    "frame-src": ["'none'"],
    "object-src": ["'none'"],
    "base-uri": ["'self'"],
    "form-action": ["'self'"],
    "frame-ancestors": ["'none'"],
}


def allow_sources(directive: str, *sources: str) -> None:
    """Widen the policy for this response only (the payment page adds Stripe's script and frames)."""
    extra = g.setdefault("csp_extra", {})
    extra.setdefault(directive, []).extend(sources)


def _policy(extra: dict[str, list[str]]) -> str:
    parts = []
    for directive, sources in CONTENT_SECURITY_POLICY.items():
        merged = [s for s in sources if s != "'none'" or not extra.get(directive)] + extra.get(directive, [])
        parts.append(f"{directive} {' '.join(merged)}")
    return "; ".join(parts)


DEFAULT_POLICY = _policy({})


def add_security_headers(response: Response) -> Response:
    extra = g.get("csp_extra")
    response.headers["Content-Security-Policy"] = _policy(extra) if extra else DEFAULT_POLICY
    response.headers.setdefault("Referrer-Policy", "same-origin")  # a page may ask for no-referrer
    response.headers["X-Content-Type-Options"] = "nosniff"
    response.headers["X-Frame-Options"] = "DENY"
    response.headers["Permissions-Policy"] = "camera=(), microphone=(), geolocation=(), interest-cohort=()"
    if current_app.config.get("SESSION_COOKIE_SECURE"):
        response.headers["Strict-Transport-Security"] = "max-age=63072000; includeSubDomains"
    return response


def register(app: Flask) -> None:
    app.after_request(add_security_headers)
