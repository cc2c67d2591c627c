"""Access to /staff: every route declares the roles it allows, anonymous visitors are sent to sign in, every
other role gets 403, and a route that declares no roles fails closed.

The walk reads the app's url_map when it runs, so routes added later (the coordinator console and whatever
follows) are covered without touching this file.
"""

from urllib.parse import urlsplit

import pytest
from flask import url_for
from werkzeug.routing.converters import FloatConverter, IntegerConverter, UUIDConverter

from retreat.staff.access import allowed_roles, roles_required
from retreat.staff.models import ROLES
from tests.conftest import STAFF_PASSWORD

METHODS = ("GET", "POST", "PUT", "PATCH", "DELETE")
DUMMY_ID = 987_654  # no row has it, so an allowed role meets a 404, never another user's data
# Routes that exist now; the walk covers any others too, but must at least find these.
KNOWN = {
    "staff.home": set(ROLES),
    "staff.logout": set(ROLES),
    "staff.change_password": set(ROLES),
    "staff.users": {"admin"},
    "staff.user_detail": {"admin"},
    "staff.set_user_active": {"admin"},
    "staff.reset_user_password": {"admin"},
    "staff.audit_log": {"admin"},
}


def staff_routes(app):
    """(endpoint, url, method) for every staff route but the sign-in page, with dummy values for arguments."""
    routes = []
    for rule in app.url_map.iter_rules():
        if not rule.endpoint.startswith("staff.") or rule.endpoint == "staff.login":
            continue
        values = {}
        for name, converter in rule._converters.items():
            if isinstance(converter, IntegerConverter | FloatConverter):
                values[name] = DUMMY_ID
            elif isinstance(converter, UUIDConverter):
                values[name] = "00000000-0000-4000-8000-000000000000"
            else:
                values[name] = "x"
        with app.test_request_context():
            url = url_for(rule.endpoint, **values)
        for method in METHODS:
            if method in rule.methods:
                routes.append((rule.endpoint, url, method))
    return routes


def signed_in_client(app, staff_user, *roles):
    user = staff_user(*roles, email=f"{'-'.join(roles)}@walk.example")
    client = app.test_client()
    response = client.post("/staff/login", data={"email": user.email, "password": STAFF_PASSWORD})
    assert response.status_code == 302
    return client


def goes_to_login(response) -> bool:
    return response.status_code == 302 and urlsplit(response.headers["Location"]).path == "/staff/login"


def asked_to_sign_in(response) -> bool:
    """Sent to the sign-in page to come back afterwards (sign-out also lands there, but without `next`)."""
    return goes_to_login(response) and "next=" in urlsplit(response.headers["Location"]).query


def test_every_staff_route_declares_the_roles_it_allows(app):
    endpoints = {endpoint for endpoint, _, _ in staff_routes(app)}
    assert set(KNOWN) <= endpoints, f"the walk missed routes: {set(KNOWN) - endpoints}"
    undeclared = [endpoint for endpoint in sorted(endpoints) if not allowed_roles(endpoint)]
    assert not undeclared, f"staff routes that declare no roles: {undeclared}"
    for endpoint in endpoints:
        roles = allowed_roles(endpoint)
        assert isinstance(roles, frozenset) and roles <= set(ROLES), (endpoint, roles)
        assert app.view_functions[endpoint].allowed_roles == roles
    for endpoint, roles in KNOWN.items():
        assert allowed_roles(endpoint) == roles, endpoint


def test_anonymous_visitors_are_sent_to_sign_in_from_every_staff_route(app, client):
    routes = staff_routes(app)
    assert len(routes) >= len(KNOWN)
    wrong = []
    for endpoint, url, method in routes:
        response = client.open(url, method=method)
        if not asked_to_sign_in(response):
            wrong.append((endpoint, method, url, response.status_code, response.headers.get("Location")))
    assert not wrong, f"staff routes that do not send an anonymous visitor to sign in: {wrong}"
    assert client.get("/staff/login").status_code == 200


def test_every_role_outside_a_routes_list_gets_403_and_every_role_inside_does_not(app, staff_user):
    clients = {role: signed_in_client(app, staff_user, role) for role in ROLES}
    routes = staff_routes(app)
    # Sign-out would end the session the rest of the walk needs: it goes last.
    routes.sort(key=lambda route: route[0] == "staff.logout")
    forbidden_checked = 0
    wrong = []
    for endpoint, url, method in routes:
        allowed = allowed_roles(endpoint) or frozenset()
        for role in ROLES:
            response = clients[role].open(url, method=method)
            if role in allowed:
                if response.status_code == 403 or asked_to_sign_in(response):
                    wrong.append((endpoint, method, role, "allowed but got", response.status_code))
            else:
                forbidden_checked += 1
                if response.status_code != 403:
                    wrong.append((endpoint, method, role, "not allowed but got", response.status_code))
    assert not wrong, f"staff routes that answer a role wrongly: {wrong}"
    assert forbidden_checked >= 3 * 6, "the admin-only routes alone give 3 refused roles each"


def test_a_user_with_several_roles_may_use_the_routes_of_each(app, staff_user):
    client = signed_in_client(app, staff_user, "clinician", "admin")
    assert client.get("/staff/users").status_code == 200
    assert client.get("/staff/audit").status_code == 200
    assert client.get("/staff/password").status_code == 200


def test_a_staff_route_that_declares_no_roles_is_refused_even_to_an_admin(app, client, login_as):
    def forgotten():
        return "patient records"

    app.add_url_rule("/staff/forgotten", endpoint="staff.forgotten", view_func=forgotten)
    assert allowed_roles("staff.forgotten") is None

    anonymous = app.test_client().get("/staff/forgotten")
    assert asked_to_sign_in(anonymous)

    login_as("admin", "coordinator", "clinician", "finance")
    response = client.get("/staff/forgotten")
    assert response.status_code == 403
    assert "patient records" not in response.get_data(as_text=True)
    assert client.get("/staff/audit").status_code == 200, "the same user may use a route that declares roles"


def test_roles_required_refuses_no_roles_and_unknown_roles():
    with pytest.raises(ValueError):
        roles_required()
    with pytest.raises(ValueError):
        roles_required("admin", "superuser")
    assert roles_required("finance", "admin")(lambda: None).allowed_roles == frozenset({"finance", "admin"})


def test_ids_too_large_for_the_database_are_not_found(app, client, login_as):
    login_as("admin", "coordinator", "clinician")
    for path in ("/staff/users/99999999999999999999", "/staff/cohorts/3000000000/roster.csv",
                 "/staff/screenings/99999999999999999999", "/staff/programs/3000000000"):
        assert client.get(path).status_code == 404, path
    assert client.get("/staff/audit?page=99999999999999999999").status_code == 200
