"""`flask notify purge`: an email's body holds live manage and approval links, so once it has been sent for more
than 30 days only its subject, recipient, kind and times are kept (issue "Trust", point 4). Unsent emails keep
their body, so a retry can still send them."""

from datetime import UTC, datetime, timedelta

import pytest
import sqlalchemy as sa
import time_machine

from retreat.core.audit import AuditEntry
from retreat.extensions import db
from retreat.notify import services as notify
from retreat.notify.models import OutboxEmail

T0 = datetime(2031, 5, 1, 9, 0, tzinfo=UTC)
DAY = timedelta(days=1)


def email(kind: str, *, queued_days_ago: int, sent_days_ago: int | None) -> int:
    """An email queued, and sent if `sent_days_ago`, that many days before T0."""
    with time_machine.travel(T0 - queued_days_ago * DAY, tick=False):
        queued = notify.enqueue(kind, f"{kind}@example.org", f"Subject of {kind}",
                                f"Manage your booking: https://clinic.example/bookings/manage/secret-{kind}")
        db.session.flush()
        if sent_days_ago is not None:
            queued.sent_at = T0 - sent_days_ago * DAY
            queued.attempts = 1
        db.session.commit()
        return queued.id


# (name, queued days ago, sent days ago (None: unsent), body emptied?)
CASES = [
    ("sent 31 days ago", 31, 31, True),
    ("sent 400 days ago", 400, 400, True),
    ("queued 40 days ago, sent 31 days ago", 40, 31, True),
    ("sent exactly 30 days ago", 30, 30, False),
    ("sent 29 days ago", 29, 29, False),
    ("queued 45 days ago, sent 10 days ago", 45, 10, False),
    ("unsent for 90 days (failing)", 90, None, False),
    ("unsent, queued today", 0, None, False),
]


@pytest.fixture
def emails(app):
    return {name: email(name.replace(" ", "_")[:40], queued_days_ago=queued, sent_days_ago=sent)
            for name, queued, sent, _ in CASES}


def snapshot(email_id: int) -> tuple:
    row = db.session.get(OutboxEmail, email_id)
    return row.kind, row.to_address, row.subject, row.created_at, row.sent_at, row.attempts


def test_the_purge_empties_the_bodies_of_emails_sent_over_30_days_ago_and_keeps_the_rest(app, emails):
    before = {name: snapshot(email_id) for name, email_id in emails.items()}
    with time_machine.travel(T0, tick=False):
        assert notify.purge_sent_bodies() == sum(emptied for *_, emptied in CASES)
        assert notify.purge_sent_bodies() == 0, "nothing left to empty"
    db.session.expire_all()
    for name, _, _, emptied in CASES:
        row = db.session.get(OutboxEmail, emails[name])
        assert snapshot(row.id) == before[name], f"{name}: subject, recipient, kind and times stay"
        if emptied:
            assert row.body is None, name
        else:
            assert "bookings/manage/secret-" in row.body, name
    raw = db.session.execute(sa.text("SELECT body FROM outbox_email")).scalars().all()
    assert sum("secret-" in (body or "") for body in raw) == sum(not emptied for *_, emptied in CASES)
    [entry] = db.session.scalars(sa.select(AuditEntry).where(AuditEntry.action == "outbox.purge_bodies")).all()
    assert entry.details["count"] == 3


def test_an_unsent_email_whose_body_was_kept_is_still_sent(app, emails, monkeypatch):
    delivered = []
    monkeypatch.setattr(notify, "_deliver", lambda email: delivered.append(email.body))
    with time_machine.travel(T0, tick=False):
        notify.purge_sent_bodies()
        assert notify.send_pending() == 2
    assert all("bookings/manage/secret-" in body for body in delivered)


def test_flask_notify_purge_prints_the_count(app, emails):
    runner = app.test_cli_runner()
    with time_machine.travel(T0, tick=False):
        result = runner.invoke(args=["notify", "purge"])
        assert result.exit_code == 0, result.output
        assert "Emptied the bodies of 3 email(s) sent more than 30 days ago." in result.output
        result = runner.invoke(args=["notify", "purge", "--older-than-days", "20"])
        assert result.exit_code == 0, result.output
        assert "Emptied the bodies of 2 email(s) sent more than 20 days ago." in result.output
    assert runner.invoke(args=["notify", "purge", "--older-than-days", "0"]).exit_code == 2
