"""Staff accounts: sign-in, sign-out, password change, argon2id hashes, the admin's staff page (add, re-role,
disable, reset), sessions that end when they must, safe redirects after sign-in, and throttled sign-in."""

import re
from datetime import UTC, datetime, timedelta
from urllib.parse import urlsplit

import pytest
import sqlalchemy as sa
import time_machine

from retreat.core.errors import DomainError, ValidationFailed
from retreat.extensions import db
from retreat.staff import services
from retreat.staff.models import LoginAttempt, StaffUser
from tests.conftest import STAFF_PASSWORD

NEW_PASSWORD = "a brand new passphrase 42"
REFUSED = "That email and password do not match an active staff account."


# --- Helpers ---------------------------------------------------------------------------------------------------

def sign_in(client, email, password=STAFF_PASSWORD, **kwargs):
    return client.post("/staff/login", data={"email": email, "password": password}, **kwargs)


def client_from(app, address: str):
    """A test client whose requests come from this address."""
    client = app.test_client()
    client.environ_base["REMOTE_ADDR"] = address
    return client


def path_of(response) -> str:
    return urlsplit(response.headers["Location"]).path


def signed_in(client) -> bool:
    """Whether the client's session is a live staff session (the password page is open to every role)."""
    response = client.get("/staff/password")
    if response.status_code == 302 and path_of(response) == "/staff/login":
        return False
    assert response.status_code == 200, (response.status_code, response.get_data(as_text=True)[:500])
    return True


def one_time_password_in(response) -> str:
    match = re.search(r'<span class="one-time">([^<]+)</span>', response.get_data(as_text=True))
    assert match, "the page shows the one-time password"
    return match.group(1)


def fresh(user: StaffUser) -> StaffUser:
    db.session.expire_all()
    return db.session.get(StaffUser, user.id)


# --- Passwords are argon2id hashes -----------------------------------------------------------------------------

def test_passwords_are_stored_as_argon2id_hashes_never_plaintext(app, staff_user, client, login_as):
    user = staff_user("clinician")
    assert user.password_hash.startswith("$argon2id$")
    assert STAFF_PASSWORD not in user.password_hash

    # A one-time password made by the admin page and a password the user chose are hashed alike.
    login_as("admin")
    page = client.post("/staff/users", data={"email": "new@clinic.example", "name": "New Person",
                                             "roles": ["finance"]})
    assert page.status_code == 200
    one_time = one_time_password_in(page)
    made = services.find_by_email("new@clinic.example")
    assert made.password_hash.startswith("$argon2id$")

    services.change_password(fresh(user), STAFF_PASSWORD, NEW_PASSWORD)
    assert fresh(user).password_hash.startswith("$argon2id$")

    stored = db.session.execute(sa.text("SELECT email, password_hash FROM staff_user")).all()
    assert len(stored) == 3
    for _email, password_hash in stored:
        assert password_hash.startswith("$argon2id$")
        for plain in (STAFF_PASSWORD, NEW_PASSWORD, one_time):
            assert plain not in password_hash


# --- Sign in and sign out --------------------------------------------------------------------------------------

def test_sign_in_opens_a_session_and_records_it(app, client, staff_user):
    user = staff_user("clinician")
    assert not signed_in(client)
    response = sign_in(client, "  Clinician@Clinic.Example ")  # email is case- and space-insensitive
    assert response.status_code == 302
    assert path_of(response) == "/staff/"
    assert signed_in(client)
    assert fresh(user).last_login_at is not None
    assert db.session.scalar(sa.select(sa.func.count()).select_from(LoginAttempt)
                             .where(LoginAttempt.succeeded, LoginAttempt.email == "clinician@clinic.example")) == 1


def test_unknown_email_gets_the_same_answer_as_a_wrong_password(app, client, staff_user):
    staff_user("finance")
    wrong_password = sign_in(client, "finance@clinic.example", "not the password at all")
    unknown_email = sign_in(client, "nobody@clinic.example", "not the password at all")
    for response in (wrong_password, unknown_email):
        assert response.status_code == 401
        assert REFUSED in response.get_data(as_text=True)
    strip = re.compile(r'name="csrf_token"[^>]*|value="[^"]*"')
    assert strip.sub("", wrong_password.get_data(as_text=True)) == strip.sub("", unknown_email.get_data(as_text=True))
    assert not signed_in(client)


def test_logout_ends_the_session(app, client, login_as):
    login_as("clinician")
    assert signed_in(client)
    response = client.post("/staff/logout")
    assert response.status_code == 302
    assert path_of(response) == "/staff/login"
    assert not signed_in(client)
    assert client.get("/staff/").status_code == 302


def test_logout_is_not_possible_by_get(app, client, login_as):
    login_as("clinician")
    assert client.get("/staff/logout").status_code == 405
    assert signed_in(client)


@pytest.mark.parametrize("target", ["https://evil.example", "https://evil.example/staff/", "//evil.example/x",
                                    "/\\evil.example", "javascript:alert(1)", "staff/users"])
def test_sign_in_ignores_a_next_url_off_this_site(app, client, staff_user, target):
    staff_user("clinician")
    response = sign_in(client, "clinician@clinic.example", query_string={"next": target})
    assert response.status_code == 302
    location = urlsplit(response.headers["Location"])
    assert location.netloc in ("", "localhost")
    assert location.path == "/staff/"
    assert "evil" not in response.headers["Location"]


@pytest.mark.parametrize("target", ["/%0d%0aSet-Cookie:x=1", "/staff/%0aLocation:%20https://evil.example",
                                    "/%00", "/staff/%09password", "/staff/%e2%80%8bpassword", "/ /evil.example"])
def test_sign_in_ignores_a_next_url_with_control_characters(app, client, staff_user, target):
    """The query string is decoded before the view sees it: a CR or LF would reach the Location header (a 500
    after a good password, or a header of the attacker's). Such a target is ignored and the sign-in goes on."""
    staff_user("clinician")
    response = client.post(f"/staff/login?next={target}", data={"email": "clinician@clinic.example",
                                                                "password": STAFF_PASSWORD})
    assert response.status_code == 302
    assert path_of(response) == "/staff/"
    assert "Set-Cookie: x" not in str(response.headers) and "x=1" not in response.headers.get("Set-Cookie", "")
    assert signed_in(client)


def test_sign_in_follows_a_next_path_on_this_site(app, client, staff_user):
    staff_user("clinician")
    response = sign_in(client, "clinician@clinic.example", query_string={"next": "/staff/password"})
    assert response.status_code == 302
    assert response.headers["Location"] in ("/staff/password", "http://localhost/staff/password")


# --- Changing one's password -----------------------------------------------------------------------------------

def change_form(current=STAFF_PASSWORD, new=NEW_PASSWORD, confirm=None):
    return {"current_password": current, "new_password": new, "confirm_password": new if confirm is None else confirm}


def test_password_change_replaces_the_password_and_ends_other_sessions(app, client, staff_user):
    user = staff_user("clinician")
    other_device = app.test_client()
    assert sign_in(other_device, user.email).status_code == 302
    assert sign_in(client, user.email).status_code == 302

    response = client.post("/staff/password", data=change_form())
    assert response.status_code == 302
    assert path_of(response) == "/staff/"
    assert signed_in(client), "the session that changed the password stays signed in"
    assert not signed_in(other_device), "every other session of the user ends"

    assert sign_in(app.test_client(), user.email, STAFF_PASSWORD).status_code == 401
    assert sign_in(app.test_client(), user.email, NEW_PASSWORD).status_code == 302


@pytest.mark.parametrize("form, field", [
    (change_form(current="not my password"), "This is not your current password."),
    (change_form(new="short"), "Use at least 12 characters."),
    (change_form(new="clinician-is-my-name"), "Do not use your email address in your password."),
    (change_form(confirm="something else entirely"), "The two passwords differ."),
    (change_form(new=STAFF_PASSWORD), "Choose a password different from the current one."),
])
def test_password_change_refuses_bad_input_and_keeps_the_password(app, client, login_as, form, field):
    user = login_as("clinician")
    before = fresh(user).password_hash
    response = client.post("/staff/password", data=form)
    assert response.status_code == 422
    assert field in response.get_data(as_text=True)
    assert fresh(user).password_hash == before
    assert signed_in(client)


# --- The admin's staff page ------------------------------------------------------------------------------------

def test_admin_adds_a_user_who_gets_a_one_time_password_shown_once(app, client, login_as):
    login_as("admin")
    response = client.post("/staff/users", data={"email": "Robin@Clinic.Example", "name": "Robin",
                                                 "roles": ["clinician", "finance"]})
    assert response.status_code == 200
    one_time = one_time_password_in(response)
    user = services.find_by_email("robin@clinic.example")
    assert user is not None
    assert user.roles == ["clinician", "finance"]
    assert user.must_change_password and user.active
    assert one_time not in client.get("/staff/users").get_data(as_text=True), "shown only once"

    newcomer = app.test_client()
    response = sign_in(newcomer, "robin@clinic.example", one_time)
    assert response.status_code == 302
    assert path_of(newcomer.get("/staff/")) == "/staff/password"


@pytest.mark.parametrize("data, message", [
    ({"email": "admin@clinic.example", "name": "Twin", "roles": ["finance"]}, "exists already"),
    ({"email": "someone@clinic.example", "name": "Someone", "roles": []}, "Choose at least one role."),
    ({"email": "someone@clinic.example", "name": "Someone", "roles": ["superuser"]}, "not a valid choice"),
    ({"email": "not-an-email", "name": "Someone", "roles": ["finance"]}, "Invalid email address."),
])
def test_admin_page_refuses_a_bad_new_user(app, client, login_as, data, message):
    login_as("admin")
    response = client.post("/staff/users", data=data)
    assert response.status_code == 422
    assert message in response.get_data(as_text=True)
    assert db.session.scalar(sa.select(sa.func.count()).select_from(StaffUser)) == 1


def test_admin_re_roles_a_user_and_their_sessions_end(app, client, login_as, staff_user):
    user = staff_user("clinician")
    theirs = app.test_client()
    assert sign_in(theirs, user.email).status_code == 302
    login_as("admin")

    # With every box unticked a browser still sends the submit button.
    for refused in ({"submit": "Save roles"}, {"roles": ["superuser"], "submit": "Save roles"}):
        assert client.post(f"/staff/users/{user.id}", data=refused).status_code == 422
    assert fresh(user).roles == ["clinician"]
    assert signed_in(theirs), "a refused change leaves the user's sessions alone"

    response = client.post(f"/staff/users/{user.id}", data={"roles": ["coordinator", "finance"]})
    assert response.status_code == 302
    assert path_of(response) == f"/staff/users/{user.id}"
    assert fresh(user).roles == ["coordinator", "finance"]
    assert not signed_in(theirs), "a change of roles ends the user's sessions"
    assert sign_in(theirs, user.email).status_code == 302
    assert signed_in(theirs)


def test_admin_disables_a_user_whose_session_stops_working_and_enables_them_again(app, client, login_as,
                                                                                  staff_user):
    user = staff_user("finance")
    theirs = app.test_client()
    assert sign_in(theirs, user.email).status_code == 302
    assert signed_in(theirs)
    login_as("admin")

    response = client.post(f"/staff/users/{user.id}/active")
    assert response.status_code == 302
    assert fresh(user).active is False
    assert not signed_in(theirs), "the disabled user's open session stops working"
    refused = sign_in(theirs, user.email)
    assert refused.status_code == 401
    assert REFUSED in refused.get_data(as_text=True)

    assert client.post(f"/staff/users/{user.id}/active").status_code == 302
    assert fresh(user).active is True
    assert sign_in(theirs, user.email).status_code == 302
    assert signed_in(theirs)


def test_admin_resets_a_password_the_user_must_change(app, client, login_as, staff_user):
    user = staff_user("clinician")
    theirs = app.test_client()
    assert sign_in(theirs, user.email).status_code == 302
    login_as("admin")

    response = client.post(f"/staff/users/{user.id}/reset-password")
    assert response.status_code == 200
    one_time = one_time_password_in(response)
    assert fresh(user).must_change_password
    assert not signed_in(theirs), "a password reset ends the user's sessions"
    assert sign_in(theirs, user.email, STAFF_PASSWORD).status_code == 401
    assert sign_in(theirs, user.email, one_time).status_code == 302

    # Every staff page but the password page (and sign-out) sends them to choose a password first.
    for path in ("/staff/", "/staff/users", "/staff/audit"):
        response = theirs.get(path)
        assert response.status_code == 302, path
        assert path_of(response) == "/staff/password"
    assert theirs.post("/staff/password", data=change_form(current=one_time)).status_code == 302
    assert not fresh(user).must_change_password
    assert theirs.get("/staff/", follow_redirects=True).status_code == 200


def test_the_last_active_admin_cannot_be_disabled_or_lose_the_admin_role(app, client, login_as, staff_user):
    admin = login_as("admin")

    response = client.post(f"/staff/users/{admin.id}/active", follow_redirects=True)
    assert "Keep at least one active admin." in response.get_data(as_text=True)
    assert fresh(admin).active is True

    response = client.post(f"/staff/users/{admin.id}", data={"roles": ["coordinator"]})
    assert response.status_code == 422
    assert "Keep at least one active admin." in response.get_data(as_text=True)
    assert fresh(admin).roles == ["admin"]
    assert signed_in(client)

    # A disabled admin does not count as the other admin.
    other = staff_user("admin", email="other-admin@clinic.example")
    services.set_active(other, False)
    client.post(f"/staff/users/{admin.id}/active")
    assert fresh(admin).active is True
    assert client.post(f"/staff/users/{admin.id}", data={"roles": ["finance"]}).status_code == 422
    assert fresh(admin).roles == ["admin"]

    # With another active admin, either change is allowed (shown on the other admin, since changing one's own
    # roles ends one's own session too).
    services.set_active(fresh(other), True)
    assert client.post(f"/staff/users/{other.id}", data={"roles": ["finance"]}).status_code == 302
    assert fresh(other).roles == ["finance"]
    assert client.post(f"/staff/users/{admin.id}/active").status_code == 302
    assert fresh(admin).active is True, "the admin is the last active admin again"
    services.set_roles(fresh(other), ["admin"])
    assert client.post(f"/staff/users/{other.id}/active").status_code == 302
    assert fresh(other).active is False


def test_services_keep_the_last_active_admin(app, staff_user):
    admin = staff_user("admin")
    with pytest.raises(DomainError) as refusal:
        services.set_active(admin, False)
    assert refusal.value.message == "Keep at least one active admin."
    db.session.rollback()
    with pytest.raises(ValidationFailed) as refusal:
        services.set_roles(fresh(admin), ["clinician"])
    assert refusal.value.fields == {"roles": ["Keep at least one active admin."]}
    db.session.rollback()
    assert fresh(admin).active and fresh(admin).roles == ["admin"]


# --- Throttled sign-in -----------------------------------------------------------------------------------------

START = datetime(2030, 3, 4, 9, 0, tzinfo=UTC)


def fail_until_locked(client, email, clock) -> None:
    """Six wrong passwords for one account as fast as the throttle allows: at 0 s (three), 15 s, 45 s, 105 s."""
    for _ in range(3):
        assert sign_in(client, email, "wrong password!").status_code == 401
    for wait in (15, 30, 60):
        clock.shift(timedelta(seconds=wait - 1))
        assert sign_in(client, email).status_code == 429
        clock.shift(timedelta(seconds=1))
        assert sign_in(client, email, "wrong password!").status_code == 401


def test_failures_for_one_account_slow_down_then_lock_that_address_out_for_a_while(app, client, staff_user):
    user = staff_user("clinician")
    other = staff_user("finance")
    with time_machine.travel(START, tick=False) as clock:
        for _ in range(3):
            assert sign_in(client, user.email, "wrong password!").status_code == 401

        # Slowed down: even the right password waits.
        response = sign_in(client, user.email)
        assert response.status_code == 429
        assert "Too many failed sign-ins. Please wait 15 seconds before trying again." in response.get_data(
            as_text=True)
        assert not signed_in(client)
        clock.shift(timedelta(seconds=10))
        assert "Please wait 5 seconds" in sign_in(client, user.email).get_data(as_text=True)

        # The wait doubles with each further failure: 15 s, 30 s, 60 s.
        clock.shift(timedelta(seconds=5))
        assert sign_in(client, user.email, "wrong password!").status_code == 401
        clock.shift(timedelta(seconds=29))
        assert re.search(r"Please wait 1 seconds? ", sign_in(client, user.email).get_data(as_text=True))
        clock.shift(timedelta(seconds=1))
        assert sign_in(client, user.email, "wrong password!").status_code == 401
        clock.shift(timedelta(seconds=59))
        assert sign_in(client, user.email).status_code == 429
        clock.shift(timedelta(seconds=1))
        assert sign_in(client, user.email, "wrong password!").status_code == 401

        # Six failures lock this address out of the account for 15 minutes.
        response = sign_in(client, user.email)
        assert response.status_code == 429
        assert ("Too many failed sign-ins. For your security, sign-in is locked for 15 minutes."
                " Ask an admin if you need access sooner." in response.get_data(as_text=True))
        assert not signed_in(client)

        # Not the account: from another address it never signed in from, it is only slowed (the six failures
        # count there too: 15 s doubled three times), and then the right password works.
        elsewhere = client_from(app, "192.0.2.44")
        response = sign_in(elsewhere, user.email)
        assert response.status_code == 429
        assert "Please wait 120 seconds" in response.get_data(as_text=True)
        clock.shift(timedelta(seconds=120))
        assert sign_in(elsewhere, user.email).status_code == 302
        assert signed_in(elsewhere)

        # The lock is for this account only: another account from the same address signs in.
        assert sign_in(app.test_client(), other.email).status_code == 302

        response = sign_in(client, user.email)
        assert response.status_code == 429
        assert "locked for 13 minutes." in response.get_data(as_text=True)

        # After the lock, the right password works again, and a success starts the count afresh.
        clock.shift(timedelta(minutes=13))
        assert sign_in(client, user.email).status_code == 302
        assert signed_in(client)
        client.post("/staff/logout")
        assert sign_in(client, user.email, "wrong password!").status_code == 401
        assert sign_in(client, user.email).status_code == 302

    attempts = db.session.scalar(
        sa.select(sa.func.count()).select_from(LoginAttempt).where(LoginAttempt.email == user.email))
    assert attempts == 10, "throttled tries are refused before the password is even checked, and not counted"


def test_an_account_lock_lasts_as_long_as_its_message_says(app, client, staff_user):
    """The lock message promises 15 minutes from the sixth failure; the lock must hold that long."""
    user = staff_user("clinician")
    with time_machine.travel(START, tick=False) as clock:
        fail_until_locked(client, user.email, clock)  # the sixth failure is at START + 105 s
        locked_at = datetime.now(UTC)
        assert "locked for 15 minutes." in sign_in(client, user.email).get_data(as_text=True)
        for elapsed, still in ((timedelta(minutes=10), "5 minutes"), (timedelta(minutes=14), "1 minute"),
                               (timedelta(minutes=14, seconds=59), "1 minute")):
            clock.move_to(locked_at + elapsed)
            response = sign_in(client, user.email)
            assert response.status_code == 429, (
                f"{elapsed} into a 15-minute lock the account is open again: the lock ends as soon as the first "
                "failures leave the 15-minute counting window")
            assert f"locked for {still}." in response.get_data(as_text=True)
        clock.move_to(locked_at + timedelta(minutes=15))
        assert sign_in(client, user.email).status_code == 302


def test_failures_from_one_address_slow_down_then_lock_it_for_a_while(app, staff_user):
    """Guessing many accounts from one address: it slows down, then locks, even though each account alone is
    tried too few times to be throttled."""
    victim = staff_user("clinician")
    attacker = client_from(app, "203.0.113.9")
    elsewhere = client_from(app, "198.51.100.20")
    guesses = (f"guess{n}@clinic.example" for n in range(10_000))
    with time_machine.travel(START, tick=False) as clock:
        for _ in range(10):
            assert sign_in(attacker, next(guesses), "wrong password!").status_code == 401
        response = sign_in(attacker, victim.email)
        assert response.status_code == 429
        assert "Please wait 15 seconds" in response.get_data(as_text=True)
        assert sign_in(elsewhere, victim.email).status_code == 302, "other addresses are not slowed"

        # Keep guessing as fast as the throttle allows, for at most an hour of the clock (30 failures lock).
        locked_message = None
        deadline = START + timedelta(hours=1)
        failures = 10
        while locked_message is None and datetime.now(UTC) < deadline:
            response = sign_in(attacker, next(guesses), "wrong password!")
            text = response.get_data(as_text=True)
            if response.status_code == 401:
                failures += 1
                continue
            assert response.status_code == 429, text[:500]
            if "locked" in text:
                locked_message = re.search(r"Too many failed sign-ins\.[^<]*", text).group(0)
                break
            wait = int(re.search(r"Please wait (\d+) seconds", text).group(1))
            clock.shift(timedelta(seconds=wait))
        assert locked_message, (f"{failures} failures from one address in an hour and it never locked: "
                                "the slow-down spaces failures past the 15-minute window before the lock is reached")
        assert "sign-in is locked for 15 minutes" in locked_message
        assert sign_in(attacker, victim.email).status_code == 429
        assert sign_in(client_from(app, "198.51.100.21"),
                       victim.email).status_code == 302
