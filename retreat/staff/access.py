"""Access to /staff: every route declares the roles it allows, and a route that declares none is refused.

`roles_required("coordinator", "admin")` marks a view; the blueprint's before_request checks the mark, so a
forgotten decorator fails closed (403) instead of open.
"""

from functools import wraps

from flask import abort, current_app, redirect, request, url_for
from flask_login import current_user

from retreat.extensions import login_manager
from retreat.staff.models import ROLES

# Routes of the staff blueprint open to anyone: the sign-in page itself.
PUBLIC_ENDPOINTS = frozenset({"staff.login"})
# Routes any signed-in staff user may use, whatever their roles.
ANY_STAFF = frozenset(ROLES)
# Who runs programs, cohorts and their bookings.
COORDINATION = ("coordinator", "admin")
# Reachable while a one-time password is still to be replaced.
PASSWORD_CHANGE_ENDPOINTS = frozenset({"staff.change_password", "staff.logout"})


def roles_required(*roles: str):
    unknown = set(roles) - set(ROLES)
    if not roles or unknown:
        raise ValueError(f"roles_required needs known roles, got {roles!r}")

    def decorate(view):
        @wraps(view)
        def guarded(*args, **kwargs):
            return view(*args, **kwargs)

        guarded.allowed_roles = frozenset(roles)
        return guarded

    return decorate


def allowed_roles(endpoint: str) -> frozenset[str] | None:
    view = current_app.view_functions.get(endpoint)
    return getattr(view, "allowed_roles", None)


def enforce_access():
    """before_request of the staff blueprint: sign-in, password change, then the route's roles."""
    endpoint = request.endpoint
    if endpoint in PUBLIC_ENDPOINTS:
        return None
    if not current_user.is_authenticated:
        return login_manager.unauthorized()
    if current_user.must_change_password and endpoint not in PASSWORD_CHANGE_ENDPOINTS:
        return redirect(url_for("staff.change_password"))
    roles = allowed_roles(endpoint)
    if roles is None:
        current_app.logger.error("Staff route %s declares no roles; refused.", endpoint)
        abort(403)
    if not current_user.has_any_role(roles):
        abort(403)
    return None
