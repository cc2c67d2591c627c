"""The unit of work: one commit at the entry point, after-commit steps only for what committed; and a database
that stays busy answers 503 with Retry-After, never 500."""

import pytest
import sqlalchemy as sa

from retreat.core import transactions
from retreat.core.audit import AuditEntry, record
from retreat.core.transactions import NoUnitOfWork, after_commit, in_unit_of_work, unit_of_work
from retreat.extensions import db
from retreat.screening.models import Screening
from tests.screening.test_review_queue import valid_answers


def _entries() -> int:
    return db.session.scalar(sa.select(sa.func.count()).select_from(AuditEntry))


def test_a_unit_commits_once_and_then_runs_its_after_commit_steps_in_order(app):
    ran = []
    with unit_of_work():
        assert in_unit_of_work()
        record("test.one", "thing", 1, actor="test")
        after_commit(lambda: ran.append(("first", _entries())))
        with unit_of_work():  # a service's own unit joins the caller's
            record("test.two", "thing", 2, actor="test")
            after_commit(lambda: ran.append(("second", _entries())))
        assert ran == []  # nothing runs before the outermost unit commits
    assert not in_unit_of_work()
    assert ran == [("first", 2), ("second", 2)]


def test_a_unit_that_raises_rolls_everything_back_and_runs_nothing_after(app):
    ran = []
    with pytest.raises(ValueError), unit_of_work():
        record("test.one", "thing", 1, actor="test")
        after_commit(lambda: ran.append("sent"))
        with unit_of_work():
            record("test.two", "thing", 2, actor="test")
        raise ValueError("refused")
    assert _entries() == 0
    assert ran == []
    with unit_of_work():  # the next unit starts clean: no step of the failed one is left to run
        after_commit(lambda: ran.append("next"))
    assert ran == ["next"]


def test_a_failing_after_commit_step_is_logged_and_the_others_still_run(app, caplog):
    ran = []

    def broken():
        raise RuntimeError("mail server down")

    with unit_of_work():
        record("test.one", "thing", 1, actor="test")
        after_commit(broken)
        after_commit(lambda: ran.append("cache cleared"))
    assert ran == ["cache cleared"]
    assert _entries() == 1
    assert "after-commit step failed" in caplog.text


def test_after_commit_outside_a_unit_of_work_is_refused(app):
    with pytest.raises(NoUnitOfWork):
        after_commit(lambda: None)


def test_a_database_that_stays_locked_answers_503_with_retry_after(app, client, monkeypatch):
    """Another connection holds the lock longer than the app waits for it (SQLite: the database's write lock;
    PostgreSQL: the tables' locks, past lock_timeout): the requests that need to write answer 503 with
    Retry-After, as JSON under /api/ and as a page elsewhere, and nothing of them is saved."""
    monkeypatch.setattr(transactions, "LOCK_WAIT_MS", 200)
    db.session.remove()
    db.engine.dispose()  # new connections take the short wait
    other = db.engine.raw_connection()
    cursor = other.cursor()
    if db.engine.dialect.name == "sqlite":
        cursor.execute("BEGIN IMMEDIATE")
    else:
        cursor.execute("LOCK TABLE screening, login_attempt IN ACCESS EXCLUSIVE MODE")
    try:
        response = client.post("/api/v1/screenings", json={"answers": valid_answers()})
        page = client.post("/staff/login", data={"email": "a@example.org", "password": "x" * 12})
    finally:
        if db.engine.dialect.name == "sqlite":
            cursor.execute("ROLLBACK")
        else:
            other.rollback()
        other.close()
    assert (response.status_code, response.headers["Retry-After"]) == (503, "2")
    assert response.json["error"]["code"] == "database_busy"
    assert (page.status_code, page.headers["Retry-After"]) == (503, "2")
    assert "nothing was saved" in page.get_data(as_text=True)
    assert db.session.scalar(sa.select(sa.func.count()).select_from(Screening)) == 0
