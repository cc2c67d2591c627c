"""Clinicians at work at the same moment (issue "Trust", point 6): every screening path that reads and then
writes takes the write lock first (unit_of_work), so none of them meets "database is locked". Ten clinicians
opening the answers of one pre-screen at once (each view writes its audit entry) all get the page and leave ten
audit entries; answer views racing a decision, an applicant's review request, a new pre-screen and the purge all
finish, with one decision standing. On SQLite (a file, WAL) and PostgreSQL.

Each racer is a thread with its own test client; its request pushes its own app context, hence its own session
and connection. A barrier releases them together."""

import threading
from collections import Counter
from collections.abc import Callable
from datetime import timedelta

import pytest
import sqlalchemy as sa

from retreat.core.audit import AuditEntry
from retreat.core.clock import now
from retreat.extensions import db
from retreat.notify.models import OutboxEmail
from retreat.screening import services
from retreat.screening.models import Screening
from tests.conftest import STAFF_PASSWORD
from tests.screening.test_review_queue import CONTACT, make_screening, review_answers, urgent_answers, valid_answers

CLINICIANS = 10
TIMEOUT_SECONDS = 60


def signed_in_clients(app, staff_user, count: int) -> list:
    clients = []
    for number in range(count):
        user = staff_user("clinician", email=f"clinician{number}@race.example")
        client = app.test_client()
        response = client.post("/staff/login", data={"email": user.email, "password": STAFF_PASSWORD})
        assert response.status_code == 302
        clients.append(client)
    return clients


def race(attempts: list[Callable[[], int]]) -> list:
    """Run each attempt in its own thread, all released at once; what each returned (a status) or raised."""
    db.session.rollback()
    db.session.close()  # the test holds no transaction or connection while the racers run
    barrier = threading.Barrier(len(attempts))
    outcomes: list = [None] * len(attempts)

    def run(index: int, attempt: Callable[[], int]) -> None:
        try:
            barrier.wait(timeout=TIMEOUT_SECONDS)
            outcomes[index] = attempt()
        except Exception as error:  # noqa: BLE001  (reported by the test)
            outcomes[index] = error

    threads = [threading.Thread(target=run, args=item, daemon=True) for item in enumerate(attempts)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(TIMEOUT_SECONDS)
    assert not any(thread.is_alive() for thread in threads), "a racer is stuck: a lock was never let go"
    return outcomes


def get(client, url: str) -> Callable[[], int]:
    return lambda: client.get(url).status_code


def post(client, url: str, data: dict) -> Callable[[], int]:
    return lambda: client.post(url, data=data).status_code


def audit_count(action: str) -> int:
    db.session.expire_all()
    return db.session.scalar(sa.select(sa.func.count()).select_from(AuditEntry).where(AuditEntry.action == action))


@pytest.mark.parametrize("round_number", range(3))
def test_ten_clinicians_opening_the_answers_at_once_all_get_the_page_and_are_all_audited(app, staff_user,
                                                                                         round_number):
    screening = make_screening(urgent_answers(), contact=CONTACT)
    url = f"/staff/screenings/{screening.id}"
    clients = signed_in_clients(app, staff_user, CLINICIANS)

    outcomes = race([get(client, url) for client in clients])

    assert Counter(outcomes) == {200: CLINICIANS}, outcomes
    assert audit_count("screening.read_answers") == CLINICIANS


def test_answer_views_racing_a_decision_a_review_request_a_new_screen_and_the_purge_all_finish(app, staff_user):
    pending = make_screening(review_answers(), contact=CONTACT, pending=True)
    submitted = services.submit(review_answers())  # the applicant asks for a review while clinicians work
    old = make_screening(valid_answers(), at=now() - timedelta(days=120))
    ids = {"pending": pending.id, "asking": submitted.screening.id, "old": old.id}
    token = submitted.token
    clients = signed_in_clients(app, staff_user, 8)
    url = f"/staff/screenings/{ids['pending']}"
    applicant = app.test_client()
    deciding, *viewing = clients

    def purge() -> int:
        with app.app_context():
            try:
                return 200 if services.purge_old_answers() == 1 else 0
            finally:
                db.session.remove()

    attempts = [get(client, url) for client in viewing]
    attempts += [
        post(deciding, url, {"decision": "declined", "note": "Reached by phone; not suitable for now."}),
        lambda: applicant.post(f"/screening/result/{token}/review",
                               data={**CONTACT}).status_code,
        lambda: applicant.post("/api/v1/screenings", json={"answers": valid_answers()}).status_code,
        purge,
    ]
    outcomes = race(attempts)

    assert outcomes[:len(viewing)] == [200] * len(viewing), outcomes
    assert outcomes[len(viewing):] == [302, 303, 201, 200], outcomes
    assert audit_count("screening.read_answers") == len(viewing)
    assert audit_count("screening.decide") == 1
    db.session.expire_all()
    assert db.session.get(Screening, ids["pending"]).review_status == "declined"
    assert db.session.get(Screening, ids["asking"]).review_status == "pending"
    assert db.session.get(Screening, ids["old"]).answers_encrypted is None


def test_clinicians_deciding_one_pre_screen_at_once_record_one_decision_and_the_others_see_it(app, staff_user):
    screening = make_screening(review_answers(), contact=CONTACT, pending=True)
    screening_id = screening.id
    url = f"/staff/screenings/{screening_id}"
    clients = signed_in_clients(app, staff_user, 5)
    decisions = ["approved", "declined", "approved", "declined", "approved"]  # final decisions: one stands

    outcomes = race([post(client, url, {"decision": decision, "note": "Reached by phone."})
                     for client, decision in zip(clients, decisions, strict=True)])

    assert Counter(outcomes) == {302: 1, 409: 4}, outcomes
    assert audit_count("screening.decide") == 1
    winner = decisions[outcomes.index(302)]
    assert db.session.get(Screening, screening_id).review_status == winner
    emails = db.session.scalars(sa.select(OutboxEmail).where(OutboxEmail.kind.startswith("screening_"))).all()
    assert [email.kind for email in emails] == [f"screening_{winner}"], "one email, of the decision that stands"
