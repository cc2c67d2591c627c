from flask import Blueprint

from retreat.extensions import login_manager
from retreat.staff.access import enforce_access
from retreat.staff.services import load_session_user

staff_bp = Blueprint("staff", __name__, url_prefix="/staff")
staff_bp.before_request(enforce_access)

login_manager.login_view = "staff.login"
login_manager.login_message = "Please sign in to continue."
login_manager.user_loader(load_session_user)


@staff_bp.after_request
def never_cache(response):
    """Staff pages show personal data: browsers and proxies must not keep them."""
    response.headers["Cache-Control"] = "no-store"
    return response
