"""Staff account paths that read and then write, raced on SQLite and PostgreSQL: each takes its lock before it
reads, so none fails with "database is locked" and none acts on a read another has made stale."""

import time
from datetime import UTC, datetime, timedelta

import sqlalchemy as sa
import time_machine

from retreat.core.errors import DomainError
from retreat.extensions import db
from retreat.staff import services
from retreat.staff.models import StaffSession, StaffUser
from tests.staff.test_accounts import client_from, sign_in
from tests.staff.test_capacity_locking import run_together

START = datetime(2031, 2, 3, 10, 0, tzinfo=UTC)


def test_twenty_staff_pages_at_once_each_note_their_session_without_a_locked_database(app, staff_user):
    """Past the minute, each request writes its session's last_seen_at: twenty at once all succeed."""
    with time_machine.travel(START, tick=False) as clock:
        clients = []
        for n in range(20):
            user = staff_user("coordinator", email=f"staff{n}@clinic.example")
            client = client_from(app, f"198.51.100.{n + 1}")
            assert sign_in(client, user.email).status_code == 302
            clients.append(client)
        clock.shift(timedelta(minutes=2))
        db.session.commit()
        db.session.close()
        results, errors = run_together(app, {n: (lambda c=c: c.get("/staff/password").status_code)
                                             for n, c in enumerate(clients)})
    assert not errors, errors
    assert list(results.values()) == [200] * 20, results
    seen = db.session.scalars(sa.select(StaffSession.last_seen_at)).all()
    assert seen == [START + timedelta(minutes=2)] * 20


def test_two_admins_disabling_each_other_at_once_leave_one_active_admin(app, staff_user, monkeypatch):
    first_id = staff_user("admin", email="first@clinic.example").id
    second_id = staff_user("admin", email="second@clinic.example").id
    count = services._other_active_admins

    def slowly(user, users):  # every chance for the other admin to act between the count and the write
        result = count(user, users)
        time.sleep(0.2)
        return result

    monkeypatch.setattr(services, "_other_active_admins", slowly)
    db.session.commit()
    db.session.close()
    results, errors = run_together(app, {
        "first disables second": lambda: services.set_active(services.get_user(second_id), False),
        "second disables first": lambda: services.set_active(services.get_user(first_id), False),
    })
    assert len(results) == 1 and len(errors) == 1, (results, errors)
    assert isinstance(errors[0], DomainError) and errors[0].message == "Keep at least one active admin."
    active = db.session.scalars(sa.select(StaffUser.email).where(StaffUser.active)).all()
    assert len(active) == 1
