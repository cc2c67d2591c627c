"""The public JSON API, version 1 (../shared/API.md). Thin: it parses, calls one service, serialises."""

from flask import Blueprint

api_bp = Blueprint("api", __name__, url_prefix="/api/v1")

from retreat.api import (  # noqa: E402  (each module adds its routes to the blueprint)
    bookings,  # noqa: F401  (bookings and the waitlist)
    finance,  # noqa: F401  (GET /api/v1/finance/payments, staff API tokens)
    personal_data,  # noqa: F401  (GET /api/v1/bookings/{reference}/data)
    views,  # noqa: F401  (catalog, estimates, screenings, the OpenAPI document)
)
