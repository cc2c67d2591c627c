"""The security baseline: headers on every response (a Content-Security-Policy without inline script, no framing,
Referrer-Policy, nosniff), no-store on staff pages, HSTS and Secure/HttpOnly/SameSite cookies in production, and
CSRF protection on every form while the JSON API stays exempt."""

import re
from html.parser import HTMLParser
from pathlib import Path
from urllib.parse import urlsplit

import pytest
import sqlalchemy as sa

import config
from retreat import create_app
from retreat.core.audit import AuditEntry
from retreat.extensions import db
from retreat.staff import services
from retreat.staff.models import LoginAttempt, StaffUser
from tests.conftest import STAFF_PASSWORD

TEMPLATES = Path(__file__).resolve().parent.parent / "templates"
ESTIMATE_BODY = {"duration_days": 7, "ketamine_route": "iv", "dosing_sessions": 4, "therapy_modality": "emdr",
                 "integration_sessions": 4, "intensive_sessions": 1, "lodging": "shared"}


def custom_estimate_form():
    data = {f"custom-{name}": str(value) for name, value in ESTIMATE_BODY.items()}
    data["custom-submit"] = "See my estimate"
    return data


def sign_in(client, email, password=STAFF_PASSWORD, **kwargs):
    return client.post("/staff/login", data={"email": email, "password": password}, **kwargs)


# --- Security headers on every response ------------------------------------------------------------------------

def policy(response) -> dict[str, list[str]]:
    header = response.headers.get("Content-Security-Policy")
    assert header, f"{response.request.path} has no Content-Security-Policy"
    directives = {}
    for part in header.split(";"):
        name, *sources = part.split()
        directives[name.lower()] = sources
    return directives


def assert_security_headers(response):
    where = f"{response.request.method} {response.request.path} ({response.status_code})"
    directives = policy(response)
    scripts = directives.get("script-src", directives.get("default-src"))
    assert scripts, f"{where}: the policy does not restrict scripts"
    for unsafe in ("'unsafe-inline'", "'unsafe-eval'", "*", "data:", "http:", "https:"):
        assert unsafe not in scripts, f"{where}: script-src allows {unsafe}"
    assert directives.get("frame-ancestors") == ["'none'"], where
    assert directives.get("object-src") == ["'none'"], where
    assert response.headers.get("Referrer-Policy") in ("no-referrer", "same-origin", "strict-origin",
                                                       "strict-origin-when-cross-origin"), where
    assert response.headers.get("X-Content-Type-Options") == "nosniff", where


class _Markup(HTMLParser):
    """Inline script in a page: <script> without src, on* event attributes, javascript: URLs."""

    def __init__(self):
        super().__init__(convert_charrefs=True)
        self.problems = []

    def handle_starttag(self, tag, attrs):
        attrs = dict(attrs)
        if tag == "script" and not attrs.get("src"):
            self.problems.append("<script> without src")
        for name, value in attrs.items():
            if name.startswith("on"):
                self.problems.append(f"<{tag} {name}=...>")
            if name in ("href", "src", "action", "formaction") and (value or "").strip().lower().startswith(
                    "javascript:"):
                self.problems.append(f"<{tag} {name}={value}>")


def inline_script_in(html: str) -> list[str]:
    parser = _Markup()
    parser.feed(html)
    return parser.problems


def test_public_responses_carry_the_security_headers(app, client, demo):
    responses = [
        client.get("/"),
        client.get("/estimate"),
        client.post("/estimate", data=custom_estimate_form()),
        client.post("/estimate", data={"custom-submit": "See my estimate"}),
        client.get("/no-such-page"),
        client.get("/estimates/not-a-real-estimate"),
        client.get("/api/v1/programs"),
        client.post("/api/v1/estimates", json=ESTIMATE_BODY),
        client.post("/api/v1/estimates", data="not json", content_type="application/json"),
        client.get("/healthz"),
        client.get("/static/css/app.css"),
        client.delete("/estimate"),
    ]
    assert [response.status_code for response in responses] == [200, 200, 303, 422, 404, 404, 200, 201, 400, 200,
                                                                 200, 405]
    responses.append(client.get(responses[2].headers["Location"]))
    programs = responses[6].get_json()["programs"]
    responses.append(client.get(f"/programs/{programs[0]['slug']}"))
    for response in responses:
        assert_security_headers(response)
        if response.mimetype == "text/html":
            assert response.status_code < 500
            assert not inline_script_in(response.get_data(as_text=True)), response.request.path


def test_staff_responses_carry_the_security_headers(app, client, login_as, staff_user):
    staff_user("clinician")
    responses = [
        client.get("/staff/login"),
        client.get("/staff/users"),  # anonymous: sent to sign in
        sign_in(client, "clinician@clinic.example", "wrong password!"),
        sign_in(client, "clinician@clinic.example"),
        client.get("/staff/screenings"),
        client.get("/staff/users"),  # a clinician: 403
        client.get("/staff/password"),
    ]
    client.post("/staff/logout")
    login_as("admin")
    responses += [client.get("/staff/users"), client.get("/staff/audit"), client.get("/staff/users/987654")]
    assert [response.status_code for response in responses] == [200, 302, 401, 302, 200, 403, 200, 200, 200, 404]
    for response in responses:
        assert_security_headers(response)
        if response.mimetype == "text/html":
            assert not inline_script_in(response.get_data(as_text=True)), response.request.path


def test_no_template_holds_inline_script():
    templates = sorted(TEMPLATES.rglob("*.html"))
    assert len(templates) > 10
    found = []
    for template in templates:
        text = template.read_text()
        if re.search(r"<script(?![^>]*\ssrc=)[^>]*>", text, re.IGNORECASE):
            found.append(f"{template.name}: <script> without src")
        if re.search(r"<[a-z][^>]*\son[a-z]+\s*=", text, re.IGNORECASE):
            found.append(f"{template.name}: an on* event attribute")
        if re.search(r"""(?:href|src|action)\s*=\s*["']?\s*javascript:""", text, re.IGNORECASE):
            found.append(f"{template.name}: a javascript: URL")
    assert not found


def test_staff_pages_are_never_cached(app, client, login_as, staff_user):
    anonymous = [client.get("/staff/login"), client.get("/staff/audit"), sign_in(client, "nobody@clinic.example")]
    admin = login_as("admin")
    signed_in = [client.get("/staff/users"), client.get(f"/staff/users/{admin.id}"), client.get("/staff/audit"),
                 client.get("/staff/password"), client.get("/staff/users/987654"),
                 client.post("/staff/users", data={"email": "x"}), client.post("/staff/logout")]
    clinician = app.test_client()
    staff_user("clinician")
    assert sign_in(clinician, "clinician@clinic.example").status_code == 302
    refused = [clinician.get("/staff/users")]
    responses = anonymous + signed_in + refused
    assert [r.status_code for r in responses] == [200, 302, 401, 200, 200, 200, 200, 404, 422, 302, 403]
    for response in responses:
        assert "no-store" in response.headers.get("Cache-Control", ""), response.request.path


# --- Production: HSTS and cookie flags -------------------------------------------------------------------------

@pytest.fixture
def production_app(app, database_url, monkeypatch):
    """The production configuration on the test database (the `app` fixture empties it first)."""
    secret = "production-secret-for-tests-" + "x" * 40
    monkeypatch.setenv("SECRET_KEY", secret)
    monkeypatch.setenv("DATABASE_URL", database_url)
    monkeypatch.setenv("ONCALL_CLINICIAN_EMAIL", "oncall@clinic.example")
    monkeypatch.setenv("MAIL_SERVER", "smtp.clinic.example")
    for name, value in (("CLINIC_EMAIL", "hello@cedarhouse.example"), ("CLINIC_PHONE", "(828) 555-0142"),
                        ("CLINIC_TIMEZONE", "America/New_York"), ("CLINIC_NPI", "1234567893"),
                        ("CLINIC_TAX_ID", "12-3456789")):
        monkeypatch.setenv(name, value)
    monkeypatch.setenv("SCREENING_ENCRYPTION_KEYS", "Vv0nW9D2cVmz2y0cqJ8b8t1fQ3YV4x6yF9Qm0m1bXk8=")
    monkeypatch.setenv("PAYMENT_PROVIDER", "offline")
    monkeypatch.setenv("BANK_TRANSFER_INSTRUCTIONS", "Clinic Bank, account 000123")
    # Both are read from the environment when config.py is imported; set them as that import would have.
    monkeypatch.setattr(config.ProductionConfig, "SECRET_KEY", secret)
    monkeypatch.setattr(config.ProductionConfig, "SQLALCHEMY_DATABASE_URI", database_url)
    production = create_app("production")
    assert production.config["ENV_NAME"] == "production" and not production.testing
    yield production
    with production.app_context():
        db.session.remove()
        db.engine.dispose()


def csrf_token_of(response) -> str:
    match = re.search(r'name="(?:[a-z]+-)?csrf_token" type="hidden" value="([^"]+)"|'
                      r'type="hidden" name="(?:[a-z]+-)?csrf_token" value="([^"]+)"|'
                      r'name="csrf_token" value="([^"]+)"', response.get_data(as_text=True))
    assert match, "the page carries a CSRF token"
    return next(group for group in match.groups() if group)


def session_cookie_header(response) -> str:
    cookies = [value for value in response.headers.getlist("Set-Cookie") if value.startswith("session=")]
    assert len(cookies) == 1, response.headers.getlist("Set-Cookie")
    return cookies[0]


def assert_hardened_cookie(set_cookie: str):
    attributes = {part.strip().split("=")[0].lower(): part.strip() for part in set_cookie.split(";")[1:]}
    assert "secure" in attributes, set_cookie
    assert "httponly" in attributes, set_cookie
    assert attributes.get("samesite", "").lower() in ("samesite=lax", "samesite=strict"), set_cookie


def test_production_sends_hsts_and_hardened_session_cookies(production_app, staff_user):
    staff_user("clinician")
    client = production_app.test_client()
    https = {"base_url": "https://retreat.example"}

    flashed = client.get("/staff/password", **https)  # sent to sign in, with a flashed message
    assert flashed.status_code == 302
    assert_hardened_cookie(session_cookie_header(flashed))

    page = client.get("/staff/login", **https)
    assert page.status_code == 200
    token = csrf_token_of(page)
    # Over HTTPS Flask-WTF also wants a same-origin Referer, as a browser sends.
    signed = client.post("/staff/login", data={"email": "clinician@clinic.example", "password": STAFF_PASSWORD,
                                               "csrf_token": token},
                         headers={"Referer": "https://retreat.example/staff/login"}, **https)
    assert signed.status_code == 302, signed.get_data(as_text=True)[:1000]
    assert_hardened_cookie(session_cookie_header(signed))
    assert client.get("/staff/password", **https).status_code == 200, "the session works over HTTPS"

    for response in (flashed, page, signed, client.get("/", **https), client.get("/api/v1/programs", **https)):
        hsts = response.headers.get("Strict-Transport-Security", "")
        match = re.search(r"max-age=(\d+)", hsts)
        assert match and int(match.group(1)) >= 31_536_000, hsts
        assert_security_headers(response)


def test_session_cookies_are_httponly_and_samesite_outside_production_too(app, client, staff_user):
    staff_user("clinician")
    response = sign_in(client, "clinician@clinic.example")
    set_cookie = session_cookie_header(response)
    assert "HttpOnly" in set_cookie
    assert re.search(r"SameSite=(Lax|Strict)", set_cookie)


# --- CSRF --------------------------------------------------------------------------------------------------------

@pytest.fixture
def csrf_app(app, database_url):
    """The testing configuration with CSRF protection on, as in production (the `app` fixture empties the database)."""
    protected = create_app("testing", SQLALCHEMY_DATABASE_URI=database_url, WTF_CSRF_ENABLED=True)
    yield protected
    with protected.app_context():
        db.session.remove()
        db.engine.dispose()


def counts():
    db.session.rollback()  # end the test's read transaction: the other app's requests wrote in their own
    return {model.__name__: db.session.scalar(sa.select(sa.func.count()).select_from(model))
            for model in (StaffUser, LoginAttempt, AuditEntry)}


def signed_in(client) -> bool:
    response = client.get("/staff/password")
    return response.status_code == 200


@pytest.mark.parametrize("token", [None, "", "forged-token"])
def test_sign_in_without_a_valid_csrf_token_is_refused(csrf_app, staff_user, token):
    staff_user("clinician")
    client = csrf_app.test_client()
    before = counts()
    data = {"email": "clinician@clinic.example", "password": STAFF_PASSWORD}
    if token is not None:
        data["csrf_token"] = token
    assert client.post("/staff/login", data=data).status_code == 400
    assert counts() == before, "a refused form changes nothing"
    assert not signed_in(client)

    data["csrf_token"] = csrf_token_of(client.get("/staff/login"))
    assert client.post("/staff/login", data=data).status_code == 302
    assert signed_in(client)


def test_estimate_without_a_csrf_token_is_refused(csrf_app, demo):
    client = csrf_app.test_client()
    refused = client.post("/estimate", data=custom_estimate_form())
    assert refused.status_code == 400
    assert "Location" not in refused.headers, "no estimate was issued"

    form = custom_estimate_form()
    form["custom-csrf_token"] = csrf_token_of(client.get("/estimate"))
    accepted = client.post("/estimate", data=form)
    assert accepted.status_code == 303
    assert urlsplit(accepted.headers["Location"]).path.startswith("/estimates/")


def test_the_json_api_needs_no_csrf_token(csrf_app, demo):
    client = csrf_app.test_client()
    response = client.post("/api/v1/estimates", json=ESTIMATE_BODY)
    assert response.status_code == 201, response.get_json()
    assert response.get_json()["total_cents"] > 0


@pytest.fixture
def csrf_admin(csrf_app, staff_user):
    """A client signed in as an admin on the CSRF-protected app, a clinician to act on, and the admin's token."""
    admin = staff_user("admin")
    clinician = staff_user("clinician")
    client = csrf_app.test_client()
    token = csrf_token_of(client.get("/staff/login"))
    assert client.post("/staff/login", data={"email": admin.email, "password": STAFF_PASSWORD,
                                             "csrf_token": token}).status_code == 302
    token = csrf_token_of(client.get("/staff/password"))  # sign-in starts a new session, with a new CSRF token
    return client, clinician.id, token


ADMIN_FORMS = {
    "add a user": ("/staff/users", {"email": "new@clinic.example", "name": "New", "roles": ["finance"]}),
    "set roles": ("/staff/users/{id}", {"roles": ["admin"]}),
    "disable": ("/staff/users/{id}/active", {}),
    "reset password": ("/staff/users/{id}/reset-password", {}),
    "change own password": ("/staff/password", {"current_password": STAFF_PASSWORD,
                                                "new_password": "another long passphrase",
                                                "confirm_password": "another long passphrase"}),
    "sign out": ("/staff/logout", {}),
}


def staff_state():
    db.session.rollback()
    return [(user.email, user.roles, user.active, user.password_hash)
            for user in db.session.scalars(sa.select(StaffUser).order_by(StaffUser.id))]


@pytest.mark.parametrize("form", list(ADMIN_FORMS))
def test_staff_forms_without_a_csrf_token_are_refused_and_change_nothing(csrf_admin, form):
    client, clinician_id, token = csrf_admin
    url, data = ADMIN_FORMS[form]
    url = url.format(id=clinician_id)
    before, log_before = staff_state(), counts()

    assert client.post(url, data=data).status_code == 400
    assert client.post(url, data={**data, "csrf_token": "forged"}).status_code == 400
    assert staff_state() == before
    assert counts() == log_before
    assert signed_in(client)

    accepted = client.post(url, data={**data, "csrf_token": token})
    assert accepted.status_code in (200, 302), accepted.get_data(as_text=True)[:1000]
    assert staff_state() != before or form == "sign out"
    if form == "sign out":
        assert not signed_in(client)


def test_the_admin_pages_render_csrf_tokens_in_every_form(csrf_admin):
    client, clinician_id, token = csrf_admin
    for url in ("/staff/users", f"/staff/users/{clinician_id}", "/staff/password"):
        html = client.get(url).get_data(as_text=True)
        forms = re.findall(r"<form\b[^>]*>.*?</form>", html, re.DOTALL | re.IGNORECASE)
        posting = [form for form in forms if re.search(r'method="post"', form, re.IGNORECASE)]
        assert posting, url
        for form in posting:
            assert 'name="csrf_token"' in form, (url, form[:200])
    assert services.find_by_email("admin@clinic.example") is not None
