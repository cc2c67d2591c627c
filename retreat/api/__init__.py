"""The public JSON API, version 1 (../shared/API.md). Thin: it parses, calls one service, serialises."""

from flask import Blueprint

api_bp = Blueprint("api", __name__, url_prefix="/api/v1")

from retreat.api import views  # noqa: E402,F401  (routes register on the blueprint)
