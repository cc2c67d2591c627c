"""The audit log: an entry (who, their roles, what, on what, when, from where) for every staff action; an admin page
that filters it; and no way to change or delete an entry, in the ORM or (on PostgreSQL) in SQL."""

import re
from datetime import UTC, datetime, timedelta
from html.parser import HTMLParser
from pathlib import Path
from types import SimpleNamespace

import flask_migrate
import pytest
import sqlalchemy as sa
import time_machine

from retreat import create_app
from retreat.core import audit
from retreat.core.audit import AppendOnlyError, AuditEntry
from retreat.extensions import db
from retreat.staff import services
from retreat.staff.models import LoginAttempt
from tests.conftest import STAFF_PASSWORD
from tests.support import postgres

WHEN = datetime(2030, 5, 6, 10, 30, tzinfo=UTC)
ADMIN_ADDRESS = "198.51.100.23"
USER_ADDRESS = "203.0.113.77"
NEW_PASSWORD = "my very own passphrase 7"
RETREAT_PACKAGE = Path(__file__).resolve().parents[2] / "retreat"


def client_from(app, address):
    client = app.test_client()
    client.environ_base["REMOTE_ADDR"] = address
    return client


def entries():
    db.session.expire_all()
    return list(db.session.scalars(sa.select(AuditEntry).order_by(AuditEntry.id)))


def summary(entry):
    return (entry.actor_email, entry.actor_roles, entry.action, entry.target_type, entry.target_id,
            entry.ip_address)


def one_time_password_in(response) -> str:
    match = re.search(r'<span class="one-time">([^<]+)</span>', response.get_data(as_text=True))
    assert match, "the page shows the one-time password"
    return match.group(1)


# --- An entry for every staff action ---------------------------------------------------------------------------

def test_every_staff_action_is_recorded_with_who_what_target_when_and_where(app, staff_user):
    with time_machine.travel(WHEN, tick=False):
        admin = staff_user("admin", email="boss@clinic.example")
        admin_client = client_from(app, ADMIN_ADDRESS)
        assert admin_client.post("/staff/login", data={"email": admin.email, "password": STAFF_PASSWORD}
                                 ).status_code == 302

        response = admin_client.post("/staff/users", data={"email": "robin@clinic.example", "name": "Robin",
                                                           "roles": ["clinician"]})
        assert response.status_code == 200
        robin = services.find_by_email("robin@clinic.example")
        robin_id = robin.id
        assert admin_client.post(f"/staff/users/{robin_id}", data={"roles": ["clinician", "finance"]}
                                 ).status_code == 302
        assert admin_client.post(f"/staff/users/{robin_id}/active").status_code == 302
        assert admin_client.post(f"/staff/users/{robin_id}/active").status_code == 302
        one_time = one_time_password_in(admin_client.post(f"/staff/users/{robin_id}/reset-password"))

        robin_client = client_from(app, USER_ADDRESS)
        assert robin_client.post("/staff/login", data={"email": "robin@clinic.example", "password": one_time}
                                 ).status_code == 302
        assert robin_client.post("/staff/password", data={
            "current_password": one_time, "new_password": NEW_PASSWORD, "confirm_password": NEW_PASSWORD,
        }).status_code == 302

    admin_id, robin_id = str(admin.id), str(robin_id)
    boss, robin_email = "boss@clinic.example", "robin@clinic.example"
    assert [summary(entry) for entry in entries()] == [
        ("system (command line)", "", "staff.create", "staff_user", admin_id, None),
        (boss, "admin", "staff.sign_in", "staff_user", admin_id, ADMIN_ADDRESS),
        (boss, "admin", "staff.create", "staff_user", robin_id, ADMIN_ADDRESS),
        (boss, "admin", "staff.set_roles", "staff_user", robin_id, ADMIN_ADDRESS),
        (boss, "admin", "staff.disable", "staff_user", robin_id, ADMIN_ADDRESS),
        (boss, "admin", "staff.enable", "staff_user", robin_id, ADMIN_ADDRESS),
        (boss, "admin", "staff.reset_password", "staff_user", robin_id, ADMIN_ADDRESS),
        (robin_email, "clinician,finance", "staff.sign_in", "staff_user", robin_id, USER_ADDRESS),
        (robin_email, "clinician,finance", "staff.change_password", "staff_user", robin_id, USER_ADDRESS),
    ]
    log = entries()
    assert all(entry.at == WHEN for entry in log)
    assert all(entry.actor_id == admin.id for entry in log[1:7])
    assert log[2].details == {"email": robin_email, "roles": ["clinician"]}
    assert log[3].details == {"from": ["clinician"], "to": ["clinician", "finance"]}
    for entry in log:
        assert one_time not in str(entry.details) and NEW_PASSWORD not in str(entry.details)


def test_a_refused_change_writes_no_entry(app, client, login_as, staff_user):
    admin = login_as("admin")
    before = len(entries())
    client.post(f"/staff/users/{admin.id}/active")  # the last active admin: refused
    client.post(f"/staff/users/{admin.id}", data={"roles": ["finance"]})  # likewise
    client.post("/staff/users", data={"email": "admin@clinic.example", "name": "Twin", "roles": ["finance"]})
    assert len(entries()) == before
    assert services.find_by_email("admin@clinic.example").active


def test_failed_sign_ins_write_no_entry_but_are_kept_for_the_throttle(app, client, staff_user):
    user = staff_user("finance")
    before = len(entries())
    assert client.post("/staff/login", data={"email": user.email, "password": "not the right one"}
                       ).status_code == 401
    assert len(entries()) == before
    attempts = db.session.execute(sa.select(LoginAttempt.email, LoginAttempt.ip_address, LoginAttempt.succeeded)).all()
    assert [tuple(attempt) for attempt in attempts] == [(user.email, "127.0.0.1", False)]


# --- The admin's audit page ------------------------------------------------------------------------------------

class _Rows(HTMLParser):
    """The text of each cell of each row in the page's <tbody>."""

    def __init__(self):
        super().__init__(convert_charrefs=True)
        self.rows, self._in_body, self._cell = [], False, None

    def handle_starttag(self, tag, attrs):
        if tag == "tbody":
            self._in_body = True
        elif self._in_body and tag == "tr":
            self.rows.append([])
        elif self._in_body and tag == "td":
            self._cell = []

    def handle_endtag(self, tag):
        if tag == "tbody":
            self._in_body = False
        elif tag == "td" and self._cell is not None:
            self.rows[-1].append(" ".join("".join(self._cell).split()))
            self._cell = None

    def handle_data(self, data):
        if self._cell is not None:
            self._cell.append(data)


def audit_rows(client, **filters):
    response = client.get("/staff/audit", query_string=filters)
    assert response.status_code == 200, response.get_data(as_text=True)[:1000]
    parser = _Rows()
    parser.feed(response.get_data(as_text=True))
    return [row for row in parser.rows if len(row) == 6]


ALICE = SimpleNamespace(id=101, email="alice@clinic.example", roles=["admin"])
BOB = SimpleNamespace(id=102, email="bob@clinic.example", roles=["coordinator"])


@pytest.fixture
def audit_history(app, client, staff_user):
    """Four entries spread over January 2030, then the admin who reads them signs in on 1 March 2030."""
    history = [
        (datetime(2030, 1, 10, 12, tzinfo=UTC), ALICE, "staff.create", "staff_user", 7),
        (datetime(2030, 1, 20, 12, tzinfo=UTC), BOB, "cohort.capacity", "cohort", 12),
        (datetime(2030, 1, 25, 23, 59, tzinfo=UTC), BOB, "cohort.close", "cohort", 13),
        (datetime(2030, 2, 1, 0, 0, tzinfo=UTC), ALICE, "staff.disable", "staff_user", 8),
    ]
    for moment, actor, action, kind, ident in history:
        with time_machine.travel(moment, tick=False):
            audit.record(action, kind, ident, {"note": "made by the test"}, actor=actor)
            db.session.commit()
    # The clock stays on 1 March 2030 for the test: a session cookie signed "in the future" would not be accepted.
    with time_machine.travel(datetime(2030, 3, 1, 9, tzinfo=UTC), tick=False):
        admin = staff_user("admin", email="reader@clinic.example")
        client.environ_base["REMOTE_ADDR"] = ADMIN_ADDRESS
        assert client.post("/staff/login", data={"email": admin.email, "password": STAFF_PASSWORD}
                           ).status_code == 302
        yield admin


def actions(rows):
    return [row[2] for row in rows]


def test_the_audit_page_lists_entries_newest_first_with_every_column(app, client, audit_history):
    rows = audit_rows(client)
    assert actions(rows) == ["staff.sign_in", "staff.create", "staff.disable", "cohort.close", "cohort.capacity",
                             "staff.create"]
    # In the clinic's zone (New York, EST in winter: UTC-5).
    assert rows[0] == ["Fri 1 Mar 2030, 4:00:00 AM EST", "reader@clinic.example (admin)", "staff.sign_in",
                       f"staff_user:{audit_history.id}", "", ADMIN_ADDRESS]
    assert rows[4] == ["Sun 20 Jan 2030, 7:00:00 AM EST", "bob@clinic.example (coordinator)", "cohort.capacity",
                       "cohort:12", "note: made by the test", "—"]


@pytest.mark.parametrize("filters, expected", [
    ({"actor": "bob"}, ["cohort.close", "cohort.capacity"]),
    ({"actor": "ALICE@clinic"}, ["staff.disable", "staff.create"]),
    ({"actor": "%"}, []),  # no wildcard: a literal percent sign matches no email
    ({"action": "staff."}, ["staff.sign_in", "staff.create", "staff.disable", "staff.create"]),
    ({"action": "cohort.capacity"}, ["cohort.capacity"]),
    ({"action": "capacity"}, []),  # "starts with"
    ({"target": "cohort"}, ["cohort.close", "cohort.capacity"]),
    ({"target": "cohort:12"}, ["cohort.capacity"]),
    ({"target": "staff_user:8"}, ["staff.disable"]),
    ({"since": "2030-01-25"}, ["staff.sign_in", "staff.create", "staff.disable", "cohort.close"]),
    ({"until": "2030-01-25"}, ["cohort.close", "cohort.capacity", "staff.create"]),
    # Days of the clinic's calendar: 00:00 UTC on 1 February is 7 PM on 31 January in New York.
    ({"since": "2030-01-20", "until": "2030-01-31"}, ["staff.disable", "cohort.close", "cohort.capacity"]),
    ({"since": "2030-02-01"}, ["staff.sign_in", "staff.create"]),
    ({"actor": "bob", "since": "2030-01-21"}, ["cohort.close"]),
    ({"actor": "alice", "action": "staff.create", "target": "staff_user:7", "since": "2030-01-10",
      "until": "2030-01-10"}, ["staff.create"]),
])
def test_the_audit_page_filters_by_actor_action_target_and_dates(app, client, audit_history, filters, expected):
    rows = audit_rows(client, **filters)
    assert actions(rows) == expected
    if filters.get("actor") in ("bob", "ALICE@clinic"):
        assert all(filters["actor"].lower() in row[1] for row in rows)


def test_the_audit_page_refuses_a_date_that_is_not_one(app, client, audit_history):
    response = client.get("/staff/audit", query_string={"since": "last tuesday"})
    assert response.status_code == 422


def test_only_admins_read_the_audit_log(app, client, login_as):
    login_as("coordinator", "clinician", "finance")
    assert client.get("/staff/audit").status_code == 403


# --- Append-only -----------------------------------------------------------------------------------------------

def an_entry() -> AuditEntry:
    entry = audit.record("staff.create", "staff_user", 1, {"email": "x@clinic.example"},
                         actor=SimpleNamespace(id=1, email="alice@clinic.example", roles=["admin"]))
    db.session.commit()
    return entry


def test_the_orm_refuses_to_change_an_entry(app):
    entry = an_entry()
    entry.action = "staff.nothing_happened"
    with pytest.raises(AppendOnlyError):
        db.session.commit()
    db.session.rollback()
    assert [e.action for e in entries()] == ["staff.create"]


def test_the_orm_refuses_to_delete_an_entry(app):
    entry = an_entry()
    db.session.delete(entry)
    with pytest.raises(AppendOnlyError):
        db.session.commit()
    db.session.rollback()
    assert len(entries()) == 1


def test_no_code_in_the_app_updates_or_deletes_audit_entries():
    writes = re.compile(r"(?:update|delete)\(\s*AuditEntry\b|(?:UPDATE|DELETE\s+FROM|TRUNCATE)\s+\"?audit_entry\b",
                        re.IGNORECASE)
    offenders = [f"{path.relative_to(RETREAT_PACKAGE.parent)}: {match.group(0)}"
                 for path in RETREAT_PACKAGE.rglob("*.py") for match in writes.finditer(path.read_text())]
    assert not offenders
    assert len(list(RETREAT_PACKAGE.rglob("*.py"))) > 20, "the scan reads the app's source"


@pytest.fixture(scope="module")
def migrated_postgresql(postgres_server):
    """A PostgreSQL database of its own, built by the migrations (which add the trigger)."""
    url = postgres.create_database(postgres_server, "retreat_audit_trigger")
    app = create_app("testing", SQLALCHEMY_DATABASE_URI=url)
    with app.app_context():
        flask_migrate.upgrade()
        db.engine.dispose()
    return url


@pytest.fixture
def postgresql_app(migrated_postgresql):
    app = create_app("testing", SQLALCHEMY_DATABASE_URI=migrated_postgresql)
    with app.app_context():
        yield app
        db.session.rollback()
        db.session.remove()
        db.engine.dispose()


@pytest.mark.parametrize("statement", [
    "UPDATE audit_entry SET action = 'staff.nothing_happened'",
    "UPDATE audit_entry SET at = at - interval '1 day' WHERE id = :id",
    "DELETE FROM audit_entry",
    "DELETE FROM audit_entry WHERE id = :id",
])
def test_postgresql_refuses_sql_that_changes_or_deletes_entries(postgresql_app, statement):
    entry = an_entry()
    entry_id, entry_at = entry.id, entry.at
    with pytest.raises(sa.exc.DBAPIError, match="append-only"):
        db.session.execute(sa.text(statement), {"id": entry_id})
    db.session.rollback()
    kept = db.session.get(AuditEntry, entry_id)
    assert (kept.action, kept.at) == ("staff.create", entry_at)


def test_postgresql_refuses_bulk_statements_that_skip_the_orms_check(postgresql_app):
    entry = an_entry()
    entry_id, entry_at = entry.id, entry.at
    with pytest.raises(sa.exc.DBAPIError, match="append-only"):
        db.session.execute(sa.delete(AuditEntry).where(AuditEntry.id == entry_id))
    db.session.rollback()
    with pytest.raises(sa.exc.DBAPIError, match="append-only"):
        db.session.execute(sa.update(AuditEntry).where(AuditEntry.id == entry_id)
                           .values(at=entry_at - timedelta(days=1)))
    db.session.rollback()
    kept = db.session.get(AuditEntry, entry_id)
    assert (kept.action, kept.at) == ("staff.create", entry_at)


@pytest.mark.parametrize(("details", "shown"), [
    ({"amount_cents": 123450}, [("amount", "$1,234.50")]),
    ({"refund_cents": -99400, "policy_refund_cents": 0}, [("refund", "-$994.00"), ("policy_refund", "$0.00")]),
    ({"total_cents": 5}, [("total", "$0.05")]),
    ({"amount_cents": None, "cents": 12, "to": "held"}, [("amount_cents", "—"), ("cents", "12"), ("to", "held")]),
    ({"flag_cents": True}, [("flag_cents", "True")]),
    ({}, []),
])
def test_audit_details_show_amounts_in_cents_as_dollars(details, shown):
    from retreat.staff.views.audit_log import readable_details
    assert readable_details(details) == shown


def test_the_audit_page_shows_money_in_dollars(app, client, audit_history):
    audit.record("booking.cancelled", "booking", "RT-MONEY1", {"refund_cents": 397_600, "to": "cancelled"},
                 actor=BOB)
    db.session.commit()
    [row] = [row for row in audit_rows(client, target="booking:RT-MONEY1")]
    assert row[4] == "refund: $3,976.00; to: cancelled"
    assert "397600" not in client.get("/staff/audit").get_data(as_text=True)
