"""Sign-in throttling that nobody can turn against a user: guessing from addresses an account never signed in from
only slows that account down for those addresses, its known addresses get in with the right password, an admin
can unlock an account (audited), and the count and the record of an attempt are one atomic step, so simultaneous
guesses get no more password checks than guesses one after another, on SQLite and on PostgreSQL."""

import itertools
import threading
import time
from datetime import UTC, datetime, timedelta

import pytest
import sqlalchemy as sa
import time_machine

from retreat.core.audit import AuditEntry
from retreat.extensions import db
from retreat.staff import passwords
from retreat.staff.models import LoginAttempt, StaffSession
from tests.conftest import STAFF_PASSWORD
from tests.staff.test_accounts import client_from, fresh, sign_in, signed_in
from tests.staff.test_capacity_locking import run_together

START = datetime(2031, 1, 13, 9, 0, tzinfo=UTC)
WRONG = "wrong password!"
OFFICE = "198.51.100.7"


def fail_until_locked(client, email, clock) -> None:
    """Six wrong passwords as fast as the throttle allows: at 0 s (three), 15 s, 45 s, 105 s."""
    for _ in range(3):
        assert sign_in(client, email, WRONG).status_code == 401
    for wait in (15, 30, 60):
        clock.shift(timedelta(seconds=wait))
        assert sign_in(client, email, WRONG).status_code == 401


def text(response) -> str:
    return response.get_data(as_text=True)


# --- Nobody can lock a user out --------------------------------------------------------------------------------

def test_a_lock_out_attack_from_one_address_does_not_stop_the_user_at_a_known_address(app, staff_user):
    user = staff_user("clinician")
    office = client_from(app, OFFICE)
    attacker = client_from(app, "203.0.113.66")
    with time_machine.travel(START, tick=False) as clock:
        assert sign_in(office, user.email).status_code == 302  # the office becomes a known address
        office.post("/staff/logout")

        clock.shift(timedelta(days=3))
        fail_until_locked(attacker, user.email, clock)
        response = sign_in(attacker, user.email)
        assert response.status_code == 429 and "sign-in is locked for 15 minutes" in text(response)

        response = sign_in(office, user.email)
        assert response.status_code == 302, text(response)[:500]
        assert signed_in(office)
        assert sign_in(attacker, user.email).status_code == 429, "the attacker's address stays locked out"


def test_guesses_from_many_new_addresses_share_one_slow_down_that_never_locks(app, staff_user):
    user = staff_user("clinician")
    guessers = (client_from(app, f"10.{n // 250}.{n % 250}.1") for n in itertools.count())
    with time_machine.travel(START, tick=False) as clock:
        assert sign_in(client_from(app, OFFICE), user.email).status_code == 302
        for _ in range(3):
            assert sign_in(next(guessers), user.email, WRONG).status_code == 401
        response = sign_in(next(guessers), user.email, WRONG)
        assert response.status_code == 429, "a fourth new address waits, though it never failed itself"
        assert "Please wait 15 seconds" in text(response)
        assert sign_in(client_from(app, OFFICE), user.email).status_code == 302, "the known address does not"

        # A botnet guessing as fast as the throttle allows for six hours: the wait grows to two minutes and stays
        # there; it never becomes a lock, and the guesses stay few.
        checked = 3
        while datetime.now(UTC) < START + timedelta(hours=6):
            response = sign_in(next(guessers), user.email, WRONG)
            if response.status_code == 401:
                checked += 1
                continue
            assert response.status_code == 429 and "locked" not in text(response), text(response)[:500]
            clock.shift(timedelta(seconds=int(text(response).split("Please wait ")[1].split(" ")[0])))
        assert 170 < checked <= 190, f"{checked} guesses in six hours: not one every two minutes"

        # The real user, from a new address, waits at most two minutes and gets in.
        newcomer = client_from(app, "192.0.2.200")
        response = sign_in(newcomer, user.email)
        if response.status_code == 429:
            wait = int(text(response).split("Please wait ")[1].split(" ")[0])
            assert wait <= 120
            clock.shift(timedelta(seconds=wait))
            response = sign_in(newcomer, user.email)
        assert response.status_code == 302


def test_a_wrong_password_at_a_known_address_counts_for_that_address_only(app, staff_user):
    user = staff_user("clinician")
    home = client_from(app, "192.0.2.10")
    with time_machine.travel(START, tick=False) as clock:
        for address in (OFFICE, "192.0.2.10"):
            assert sign_in(client_from(app, address), user.email).status_code == 302
        fail_until_locked(home, user.email, clock)
        assert "locked for 15 minutes" in text(sign_in(home, user.email))
        assert sign_in(client_from(app, OFFICE), user.email).status_code == 302
        assert sign_in(client_from(app, "203.0.113.5"), user.email).status_code == 302, (
            "failures at a known address do not slow down the account's new addresses")


# --- The admin's unlock ----------------------------------------------------------------------------------------

def test_an_admin_unlocks_an_account_and_it_is_audited(app, client, login_as, staff_user):
    user = staff_user("clinician")
    office = client_from(app, OFFICE)
    with time_machine.travel(START, tick=False) as clock:
        assert sign_in(office, user.email).status_code == 302
        office.post("/staff/logout")
        fail_until_locked(office, user.email, clock)
        assert "locked for 15 minutes" in text(sign_in(office, user.email))

        coordinator = client_from(app, "192.0.2.30")
        assert sign_in(coordinator, staff_user("coordinator").email).status_code == 302
        assert coordinator.post(f"/staff/users/{user.id}/unlock").status_code == 403
        assert "locked for 15 minutes" in text(sign_in(office, user.email)), "refused: nothing cleared"

        admin = login_as("admin")
        page = client.get(f"/staff/users/{user.id}")
        assert "6 failed sign-ins in the last hour." in text(page)
        response = client.post(f"/staff/users/{user.id}/unlock", follow_redirects=True)
        assert response.status_code == 200
        assert f"Sign-in for {user.email} is unlocked (6 recent failed sign-ins cleared)." in text(response)
        assert "0 failed sign-ins in the last hour." in text(response)

        assert sign_in(office, user.email).status_code == 302, "the right password works at once"
        assert sign_in(client_from(app, "203.0.113.9"), user.email).status_code == 302

    [entry] = db.session.scalars(sa.select(AuditEntry).where(AuditEntry.action == "staff.unlock_sign_in")).all()
    assert (entry.actor_email, entry.target_type, entry.target_id, entry.details) == (
        admin.email, "staff_user", str(user.id), {"recent_failures_cleared": 6})
    assert fresh(user).throttle_cleared_at == START + timedelta(seconds=105)
    failures = db.session.scalar(sa.select(sa.func.count()).select_from(LoginAttempt)
                                 .where(LoginAttempt.email == user.email, ~LoginAttempt.succeeded))
    assert failures == 6, "the attempts stay on record; they only stop counting"


# --- The check and the record are one step ---------------------------------------------------------------------

@pytest.fixture
def counted_checks(monkeypatch):
    """Count real password checks, each slow enough that simultaneous attempts overlap, and note whether a
    database transaction was open while one ran."""
    checks: list[bool] = []
    guard = threading.Lock()
    verify = passwords.verify_password

    def counting(password_hash, password):
        with guard:
            checks.append(db.session().in_transaction())
        time.sleep(0.05)
        return verify(password_hash, password)

    monkeypatch.setattr(passwords, "verify_password", counting)
    return checks


def post_together(app, requests: dict[str, tuple[str, str, str]]) -> dict[str, int]:
    """Send sign-ins at the same moment, each from its own client (address, email, password): their statuses."""
    def attempt(address, email, password):
        return lambda: sign_in(client_from(app, address), email, password).status_code

    db.session.commit()
    db.session.close()  # the test's own session holds no connection or snapshot meanwhile
    results, errors = run_together(app, {name: attempt(*args) for name, args in requests.items()})
    assert not errors, errors
    return results


def test_forty_simultaneous_wrong_passwords_get_at_most_three_checks(app, staff_user, counted_checks):
    user = staff_user("clinician")
    email = user.email
    statuses = post_together(app, {f"guess-{n}": (f"203.0.113.{n}", email, f"guess number {n}")
                                   for n in range(1, 41)})
    assert sorted(set(statuses.values())) == [401, 429], statuses
    assert list(statuses.values()).count(401) == len(counted_checks) == 3, (
        f"{len(counted_checks)} real password checks for 40 simultaneous guesses; the policy allows 3 before waits")
    assert not any(counted_checks), "no database transaction (nor its lock) is held while argon2 runs"
    recorded = db.session.scalars(sa.select(LoginAttempt.succeeded).where(LoginAttempt.email == email)).all()
    assert recorded == [False, False, False], "every checked attempt is recorded as failed, the rest not at all"


def test_twenty_simultaneous_sign_ins_all_succeed_and_are_recorded(app, staff_user, counted_checks):
    users = [staff_user("coordinator", email=f"staff{n}@clinic.example") for n in range(20)]
    emails = [user.email for user in users]
    statuses = post_together(app, {email: (f"198.51.100.{n + 1}", email, STAFF_PASSWORD)
                                   for n, email in enumerate(emails)})
    assert statuses == dict.fromkeys(emails, 302), statuses
    assert len(counted_checks) == 20 and not any(counted_checks)
    recorded = db.session.execute(sa.select(LoginAttempt.email, LoginAttempt.succeeded)).all()
    assert sorted(recorded) == sorted((email, True) for email in emails)
    live = db.session.scalar(sa.select(sa.func.count()).select_from(StaffSession)
                             .where(StaffSession.ended_at.is_(None)))
    assert live == 20
