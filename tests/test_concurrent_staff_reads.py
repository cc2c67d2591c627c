"""Staff pages that read and then write an audit entry, used side by side (issue "Trust", point 6): on SQLite a read
transaction that upgrades to a write while another writer is busy fails at once with "database is locked", which
gave 500s; these paths take the write lock first. Each race runs on both databases: every request answers 200,
and every export is in the audit log."""

import threading

import pytest
import sqlalchemy as sa

from retreat.booking import services
from retreat.core.audit import AuditEntry
from retreat.extensions import db
from tests.booking.support import APPLICANT, eligible_token, make_cohort
from tests.conftest import STAFF_PASSWORD

RACERS = 10


def signed_in_clients(app, user, count: int) -> list:
    clients = []
    for _ in range(count):
        client = app.test_client()
        response = client.post("/staff/login", data={"email": user.email, "password": STAFF_PASSWORD})
        assert response.status_code == 302, response.get_data(as_text=True)
        clients.append(client)
    return clients


def all_at_once(clients: list, path: str) -> list[int]:
    """Each client GETs `path` in its own thread, all released together; their status codes."""
    db.session.rollback()  # the test's own session holds no transaction while they run
    barrier = threading.Barrier(len(clients))
    statuses: list = [None] * len(clients)

    def run(index: int, client) -> None:
        barrier.wait(timeout=30)
        response = client.get(path)
        response.get_data()  # a streamed export runs to its end
        statuses[index] = response.status_code

    threads = [threading.Thread(target=run, args=item, daemon=True) for item in enumerate(clients)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=60)
    assert not any(thread.is_alive() for thread in threads), "a request hung"
    return statuses


def audited(action: str) -> int:
    return db.session.scalar(sa.select(sa.func.count()).select_from(AuditEntry).where(AuditEntry.action == action))


@pytest.fixture
def a_paid_booking(app):
    booking = services.create_booking(policy_accepted=True, cohort_id=make_cohort().id,
                                      screening_token=eligible_token(),
                                      lodging="shared", applicant=dict(APPLICANT)).booking
    services.payment_received(booking.reference, kind="deposit", amount_cents=booking.deposit_cents,
                              provider="demo", provider_reference="demo_concurrent_reads")
    return booking


def test_finance_exports_side_by_side(app, staff_user, a_paid_booking):
    clients = signed_in_clients(app, staff_user("finance"), RACERS)
    statuses = all_at_once(clients, "/staff/finance/export/csv")
    assert statuses == [200] * RACERS
    assert audited("finance.export") == RACERS


def test_roster_exports_side_by_side(app, staff_user, a_paid_booking):
    clients = signed_in_clients(app, staff_user("coordinator"), RACERS)
    statuses = all_at_once(clients, f"/staff/cohorts/{a_paid_booking.cohort_id}/roster.csv")
    assert statuses == [200] * RACERS
    assert audited("cohort.roster_export") == RACERS


def test_finance_api_calls_with_one_token_side_by_side(app, staff_user, a_paid_booking):
    """Each call notes when its token was last used and audits the export: ten at once all answer."""
    from retreat.staff import api_tokens
    _, token = api_tokens.create_token(staff_user("finance"), "Nightly accounting sync")
    clients = []
    for _ in range(RACERS):
        client = app.test_client()
        client.environ_base["HTTP_AUTHORIZATION"] = f"Bearer {token}"
        clients.append(client)
    paid_on = a_paid_booking.created_at.date().isoformat()
    statuses = all_at_once(clients, f"/api/v1/finance/payments?format=csv&from={paid_on}&to={paid_on}")
    assert statuses == [200] * RACERS
    assert audited("finance.export") == RACERS
