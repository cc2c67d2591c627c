"""Server-side staff sessions: a copied cookie is worthless once its session ends (sign-out, a password change,
disabling, a role change, a password reset), sessions end after 30 idle minutes and 12 hours whatever happens,
sign-in always starts a new session, and several app hosts sharing the database agree on all of it."""

from datetime import UTC, datetime, timedelta

import pytest
import sqlalchemy as sa
import time_machine

from retreat import create_app
from retreat.core import crypto
from retreat.extensions import db
from retreat.staff.models import StaffSession
from tests.conftest import STAFF_PASSWORD, forget_signed_in_user_per_request
from tests.staff.test_accounts import NEW_PASSWORD, change_form, client_from, fresh, sign_in, signed_in

START = datetime(2030, 5, 6, 8, 0, tzinfo=UTC)


def cookie_of(client) -> str | None:
    cookie = client.get_cookie("session")
    return cookie.value if cookie else None


def client_with_cookie(app, value: str):
    """Another browser holding a copy of a session cookie."""
    other = app.test_client()
    other.set_cookie("session", value)
    return other


def rows(user_id: int) -> list[StaffSession]:
    db.session.rollback()
    return list(db.session.scalars(sa.select(StaffSession).where(StaffSession.user_id == user_id)
                                   .order_by(StaffSession.id)))


def signed_in_client(app, user, address="198.51.100.1"):
    client = client_from(app, address)
    assert sign_in(client, user.email).status_code == 302
    return client


# --- Sign-out ----------------------------------------------------------------------------------------------------

def test_a_copied_cookie_is_refused_after_sign_out(app, client, login_as):
    user = login_as("finance")
    copy = client_with_cookie(app, cookie_of(client))
    assert copy.get("/staff/finance").status_code == 200, "the copy works while the session is live"

    assert client.post("/staff/logout").status_code == 302
    response = copy.get("/staff/finance")
    assert response.status_code == 302
    assert "/staff/login" in response.headers["Location"]
    assert not signed_in(copy) and not signed_in(client)
    [row] = rows(user.id)
    assert row.ended_at is not None and row.end_reason == "signed_out"


# --- A new session at every sign-in ----------------------------------------------------------------------------

def test_sign_in_starts_a_new_session_and_drops_what_the_browser_carried(app, client, staff_user):
    user = staff_user("clinician")
    with client.session_transaction() as planted:  # a cookie someone else made and slipped to this browser
        planted["_user_id"] = "a-made-up-session-token"
        planted["planted"] = "by someone else"
    before = cookie_of(client)
    assert not signed_in(client), "a made-up session token signs nobody in"

    assert sign_in(client, user.email).status_code == 302
    after = cookie_of(client)
    assert after and after != before
    with client.session_transaction() as session:
        assert "planted" not in session
        token = session["_user_id"]
    assert signed_in(client)
    assert not signed_in(client_with_cookie(app, before)), "the cookie from before sign-in is worth nothing"

    # Only the token's hash is stored; a second sign-in is a second session with a token of its own.
    [row] = rows(user.id)
    assert row.token_hash == crypto.secret_digest(token) and token not in row.token_hash
    second = signed_in_client(app, user)
    with second.session_transaction() as session:
        assert session["_user_id"] != token
    assert len(rows(user.id)) == 2


def test_the_session_cookie_has_no_expiry_date(app, client, staff_user):
    user = staff_user("clinician")
    response = sign_in(client, user.email)
    set_cookie = response.headers["Set-Cookie"].lower()
    assert set_cookie.startswith("session=")
    assert "expires=" not in set_cookie and "max-age=" not in set_cookie


# --- What ends every session of a user -------------------------------------------------------------------------

def test_a_password_change_ends_the_other_sessions_and_keeps_this_one(app, staff_user):
    user = staff_user("clinician")
    laptop, phone = signed_in_client(app, user, "198.51.100.1"), signed_in_client(app, user, "198.51.100.2")
    copy_of_phone = client_with_cookie(app, cookie_of(phone))

    assert laptop.post("/staff/password", data=change_form()).status_code == 302
    assert signed_in(laptop)
    assert not signed_in(phone) and not signed_in(copy_of_phone)
    assert [row.end_reason for row in rows(user.id)] == [None, "password_changed"]
    assert sign_in(phone, user.email, NEW_PASSWORD).status_code == 302


@pytest.mark.parametrize("action, data, reason", [
    ("active", {}, "disabled"),
    ("", {"roles": ["finance"]}, "roles_changed"),
    ("reset-password", {}, "password_reset"),
])
def test_an_admins_change_ends_every_session_of_the_user(app, client, login_as, staff_user, action, data, reason):
    user = staff_user("clinician")
    sessions = [signed_in_client(app, user, f"198.51.100.{n}") for n in (1, 2)]
    copies = [client_with_cookie(app, cookie_of(each)) for each in sessions]
    login_as("admin")

    url = f"/staff/users/{user.id}" + (f"/{action}" if action else "")
    assert client.post(url, data=data).status_code in (200, 302)
    for each in sessions + copies:
        assert not signed_in(each)
    assert [row.end_reason for row in rows(user.id)] == [reason, reason]
    assert signed_in(client), "the admin's own session goes on"


def test_a_refused_change_ends_no_session(app, client, login_as):
    admin = login_as("admin")
    assert client.post(f"/staff/users/{admin.id}/active").status_code == 302  # the last active admin
    assert client.post(f"/staff/users/{admin.id}", data={"roles": ["finance"]}).status_code == 422
    assert fresh(admin).active and signed_in(client)
    assert [row.end_reason for row in rows(admin.id)] == [None]


# --- Idle and absolute limits ----------------------------------------------------------------------------------

def test_a_session_ends_after_30_idle_minutes(app, staff_user):
    user = staff_user("clinician")
    with time_machine.travel(START, tick=False) as clock:
        client = signed_in_client(app, user)
        for _ in range(3):  # each request within 30 minutes of the last keeps it going
            clock.shift(timedelta(minutes=29, seconds=59))
            assert signed_in(client)
        clock.shift(timedelta(minutes=30))
        assert not signed_in(client)
    [row] = rows(user.id)
    assert row.end_reason == "idle"
    assert row.ended_at == START + timedelta(minutes=29 * 3 + 30, seconds=59 * 3)


def test_the_idle_limit_comes_from_the_configuration(app, staff_user):
    app.config["STAFF_SESSION_IDLE_MINUTES"] = 5
    user = staff_user("clinician")
    with time_machine.travel(START, tick=False) as clock:
        client = signed_in_client(app, user)
        clock.shift(timedelta(minutes=4, seconds=59))
        assert signed_in(client)
        clock.shift(timedelta(minutes=5))
        assert not signed_in(client)


def test_a_session_ends_12_hours_after_sign_in_however_busy(app, staff_user):
    user = staff_user("clinician")
    with time_machine.travel(START, tick=False) as clock:
        client = signed_in_client(app, user)
        while datetime.now(UTC) < START + timedelta(hours=11, minutes=40):
            clock.shift(timedelta(minutes=20))
            assert signed_in(client)
        clock.move_to(START + timedelta(hours=12) - timedelta(seconds=1))
        assert signed_in(client)
        clock.move_to(START + timedelta(hours=12))
        assert not signed_in(client)
        assert signed_in(signed_in_client(app, user)), "signing in again starts a fresh 12 hours"
    assert [row.end_reason for row in rows(user.id)] == ["expired", None]


def test_activity_is_written_at_most_once_a_minute(app, staff_user):
    user = staff_user("clinician")
    writes = []

    def count_writes(conn, cursor, statement, parameters, context, executemany):
        if statement.lstrip().upper().startswith("UPDATE STAFF_SESSION"):
            writes.append(statement)

    with time_machine.travel(START, tick=False) as clock:
        client = signed_in_client(app, user)
        sa.event.listen(db.engine, "before_cursor_execute", count_writes)
        try:
            for _ in range(10):
                clock.shift(timedelta(seconds=5))
                assert signed_in(client)
            assert writes == [], "requests within a minute of sign-in write nothing"
            clock.shift(timedelta(seconds=10))  # a minute after sign-in
            assert signed_in(client)
            assert signed_in(client)
        finally:
            sa.event.remove(db.engine, "before_cursor_execute", count_writes)
    assert len(writes) == 1
    [row] = rows(user.id)
    assert row.last_seen_at == START + timedelta(minutes=1)


# --- Several app hosts ---------------------------------------------------------------------------------------------

def test_two_app_hosts_sharing_the_database_agree_on_sessions(app, database_url, staff_user):
    """Nothing is kept in a process: a session started on one host works on another and ends on both."""
    user = staff_user("clinician")
    other_host = create_app("testing", SQLALCHEMY_DATABASE_URI=database_url)
    forget_signed_in_user_per_request(other_host)
    try:
        here = signed_in_client(app, user)
        there = other_host.test_client()
        there.set_cookie("session", cookie_of(here))
        assert there.get("/staff/password").status_code == 200
        assert there.post("/staff/logout").status_code == 302
        db.session.rollback()  # this test's app context outlives requests: end its read snapshot, as a request would
        assert not signed_in(here)
        assert sign_in(there, user.email, STAFF_PASSWORD).status_code == 302
        assert there.get("/staff/password").status_code == 200
    finally:
        with other_host.app_context():
            db.session.remove()
            db.engine.dispose()
