"""`flask staff create` (the first admin; the password asked twice or read from standard input, never an argument)
and `flask demo seed` (one user per role with one-time passwords, printed once, to be changed at first sign-in)."""

import re
from types import SimpleNamespace
from urllib.parse import urlsplit

import pytest
import sqlalchemy as sa
from flask import url_for

from retreat.core.audit import AuditEntry
from retreat.extensions import db
from retreat.staff import cli as staff_cli_module
from retreat.staff import services
from retreat.staff.cli import staff_cli
from retreat.staff.models import ROLES, StaffUser

PASSWORD = "first admin passphrase 2030"
NEW_PASSWORD = "a passphrase of my own 99"


@pytest.fixture
def runner(app):
    return app.test_cli_runner()


def users() -> list[StaffUser]:
    db.session.rollback()  # a fresh read of what the command committed
    return list(db.session.scalars(sa.select(StaffUser).order_by(StaffUser.id)))


def sign_in(client, email, password):
    return client.post("/staff/login", data={"email": email, "password": password})


# --- flask staff create ----------------------------------------------------------------------------------------

def test_staff_create_reads_the_password_from_standard_input(app, runner):
    result = runner.invoke(args=["staff", "create", "--email", "Founder@Clinic.Example", "--role", "admin"],
                           input=PASSWORD + "\n")
    assert result.exit_code == 0, result.output
    assert "Created founder@clinic.example with roles admin." in result.output
    assert PASSWORD not in result.output

    [user] = users()
    assert (user.email, user.name, user.roles, user.active) == ("founder@clinic.example", "Founder", ["admin"],
                                                                 True)
    assert not user.must_change_password, "the admin chose this password"
    assert user.password_hash.startswith("$argon2id$") and PASSWORD not in user.password_hash

    [entry] = db.session.scalars(sa.select(AuditEntry)).all()
    assert (entry.action, entry.target_id, entry.actor_email, entry.ip_address) == (
        "staff.create", str(user.id), "system (command line)", None)

    client = app.test_client()
    assert sign_in(client, "founder@clinic.example", PASSWORD).status_code == 302
    assert client.get("/staff/users").status_code == 200


def test_staff_create_takes_several_roles_and_a_name(app, runner):
    result = runner.invoke(args=["staff", "create", "--email", "pat@clinic.example", "--role", "finance",
                                 "--role", "coordinator", "--name", "Pat Jones"], input=PASSWORD + "\n")
    assert result.exit_code == 0, result.output
    [user] = users()
    assert (user.name, user.roles) == ("Pat Jones", ["coordinator", "finance"])


@pytest.fixture
def on_a_terminal(monkeypatch):
    """Standard input says it is a terminal, so the command prompts (the runner feeds the prompts)."""
    monkeypatch.setattr(staff_cli_module, "sys", SimpleNamespace(stdin=SimpleNamespace(isatty=lambda: True)))


def test_staff_create_on_a_terminal_asks_for_the_password_twice(app, runner, on_a_terminal):
    result = runner.invoke(args=["staff", "create", "--email", "founder@clinic.example", "--role", "admin"],
                           input=f"{PASSWORD}\n{PASSWORD}\n")
    assert result.exit_code == 0, result.output
    assert result.output.count("Password") == 2
    assert "Password again" in result.output
    assert PASSWORD not in result.output, "the password is not echoed"
    [user] = users()
    assert services.sign_in(user.email, PASSWORD, "127.0.0.1").id == user.id


def test_staff_create_on_a_terminal_asks_again_when_the_two_differ(app, runner, on_a_terminal):
    result = runner.invoke(args=["staff", "create", "--email", "founder@clinic.example", "--role", "admin"],
                           input=f"{PASSWORD}\nsomething else entirely\n{PASSWORD}\n{PASSWORD}\n")
    assert result.exit_code == 0, result.output
    assert "do not match" in result.output
    [user] = users()
    assert services.sign_in(user.email, PASSWORD, "127.0.0.1").id == user.id


def test_staff_create_takes_no_password_argument(app, runner):
    command = staff_cli.commands["create"]
    names = {name for param in command.params for name in (param.name, *param.opts)}
    assert not any("pass" in name.lower() for name in names), names

    for args in (["--password", PASSWORD], [f"--password={PASSWORD}"], [PASSWORD]):
        result = runner.invoke(args=["staff", "create", "--email", "founder@clinic.example", "--role", "admin",
                                     *args], input=PASSWORD + "\n")
        assert result.exit_code == 2, result.output
        assert users() == []


@pytest.mark.parametrize("args, stdin, message", [
    (["--email", "founder@clinic.example", "--role", "admin"], "short\n", "password: Use at least 12 characters."),
    (["--email", "founder@clinic.example", "--role", "admin"], "founder-founder-founder\n",
     "password: Do not use your email address in your password."),
    (["--email", "founder@clinic.example", "--role", "admin"], "\n", "password: Use at least 12 characters."),
    (["--email", "not-an-email", "--role", "admin"], PASSWORD + "\n", "email: Give a valid email address."),
])
def test_staff_create_refuses_a_bad_password_or_email(app, runner, args, stdin, message):
    result = runner.invoke(args=["staff", "create", *args], input=stdin)
    assert result.exit_code == 1
    assert message in result.output
    assert users() == []


def test_staff_create_refuses_an_unknown_role_and_a_missing_one(app, runner):
    unknown = runner.invoke(args=["staff", "create", "--email", "a@clinic.example", "--role", "superuser"],
                            input=PASSWORD + "\n")
    assert unknown.exit_code == 2
    missing = runner.invoke(args=["staff", "create", "--email", "a@clinic.example"], input=PASSWORD + "\n")
    assert missing.exit_code == 2
    assert users() == []


def test_staff_create_refuses_an_email_in_use(app, runner, staff_user):
    staff_user("admin", email="founder@clinic.example")
    result = runner.invoke(args=["staff", "create", "--email", "Founder@clinic.example", "--role", "finance"],
                           input=PASSWORD + "\n")
    assert result.exit_code == 1
    assert "email: A staff user with this email exists already." in result.output
    assert [user.roles for user in users()] == [["admin"]]


# --- flask demo seed -------------------------------------------------------------------------------------------

SEED_LINE = re.compile(r"^\s+(?P<roles>[a-z, ]+?)\s+(?P<email>\S+@\S+)\s+(?P<password>\S+)\s*$", re.MULTILINE)


def seeded_logins(output: str) -> dict[str, tuple[str, str]]:
    return {match["email"]: (match["roles"].strip(), match["password"]) for match in SEED_LINE.finditer(output)}


def test_demo_seed_makes_one_user_per_role_and_prints_their_passwords_once(app, runner):
    first = runner.invoke(args=["demo", "seed"])
    assert first.exit_code == 0, first.output
    logins = seeded_logins(first.output)
    assert len(logins) == 4, first.output
    assert sorted(roles for roles, _ in logins.values()) == sorted(ROLES)
    assert "shown only now" in first.output

    made = [user for user in users() if user.email in logins]
    assert sorted(user.email for user in made) == sorted(logins)
    therapists = [user for user in users() if user.email not in logins]
    assert therapists, "the demo's therapists staff its cohorts"
    assert all(user.roles == ["clinician"] and user.password_hash == "!" for user in therapists), \
        "a demo therapist is on the rota but cannot sign in (no password to print)"
    for user in made:
        roles, password = logins[user.email]
        assert user.roles == [roles]
        assert user.must_change_password and user.active
        assert user.password_hash.startswith("$argon2id$") and password not in user.password_hash
    assert len({password for _, password in logins.values()}) == 4, "each user has a password of their own"

    second = runner.invoke(args=["demo", "seed"])
    assert second.exit_code == 0, second.output
    assert seeded_logins(second.output) == {}
    for _, password in logins.values():
        assert password not in second.output
    assert len(users()) == len(made) + len(therapists)


def staff_requests(app):
    """(method, url) for every staff route but sign-in, password change and sign-out, with dummy arguments."""
    found = []
    with app.test_request_context():
        for rule in app.url_map.iter_rules():
            if not rule.endpoint.startswith("staff.") or rule.endpoint in (
                    "staff.login", "staff.change_password", "staff.logout"):
                continue
            url = url_for(rule.endpoint, **{name: 1 for name in rule.arguments})
            found.extend((method, url) for method in ("GET", "POST") if method in rule.methods)
    return found


def test_demo_users_must_choose_a_password_before_any_other_staff_page(app, runner):
    logins = seeded_logins(runner.invoke(args=["demo", "seed"]).output)
    seeded = len(users())
    assert len(logins) == 4
    requests = staff_requests(app)
    assert {("GET", "/staff/"), ("GET", "/staff/users"), ("POST", "/staff/users"), ("GET", "/staff/audit")
            } <= set(requests)

    for email, (_roles, one_time) in logins.items():
        client = app.test_client()
        response = sign_in(client, email, one_time)
        assert response.status_code == 302, email
        assert urlsplit(client.get(response.headers["Location"]).headers["Location"]).path == "/staff/password"
        for method, url in requests:
            response = client.open(url, method=method)
            assert response.status_code == 302, (email, method, url, response.status_code)
            assert urlsplit(response.headers["Location"]).path == "/staff/password", (email, method, url)
        assert client.get("/staff/password").status_code == 200
        assert len(users()) == seeded, "nothing was changed on the way"

        response = client.post("/staff/password", data={
            "current_password": one_time, "new_password": NEW_PASSWORD, "confirm_password": NEW_PASSWORD})
        assert response.status_code == 302, (email, response.get_data(as_text=True)[:1000])
        home = client.get("/staff/")
        assert home.status_code == 200 or urlsplit(home.headers["Location"]).path not in (
            "/staff/password", "/staff/login")
        assert not services.find_by_email(email).must_change_password

        again = app.test_client()
        assert sign_in(again, email, one_time).status_code == 401, "the one-time password no longer works"
        assert sign_in(again, email, NEW_PASSWORD).status_code == 302
