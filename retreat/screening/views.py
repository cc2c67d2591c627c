"""The applicant's pre-screen: a short multi-step questionnaire and a result page per outcome."""

from flask import Blueprint

screening_bp = Blueprint("screening", __name__, url_prefix="/screening")
