"""The migration that encrypts a screening's findings: existing rows' reasons (codes and wording) and PHQ-9 total
and band move into `findings_encrypted` under the configured key, the readable columns go, and a downgrade
decrypts them back. On SQLite and PostgreSQL, each on a fresh database."""

from datetime import UTC, datetime

import flask_migrate
import pytest
import sqlalchemy as sa
from alembic.script import ScriptDirectory
from flask import current_app

from retreat import create_app
from retreat.core import crypto
from retreat.extensions import db
from tests.support import postgres

REVISION = "274ddac87add"
WHEN = datetime(2030, 6, 1, 12, 0, tzinfo=UTC)
REASONS = [{"code": "interacting_medication", "message": "Some of your medicines can change how ketamine works.",
            "outcome": "review"}]
ROWS = [
    {"id": 1, "outcome": "review", "reasons": REASONS, "phq9_total": 16, "phq9_severity": "moderately_severe"},
    {"id": 2, "outcome": "eligible", "reasons": [], "phq9_total": 12, "phq9_severity": "moderate"},
    {"id": 3, "outcome": "crisis", "reasons": [{"code": "cssrs_intent_or_plan", "message": "Please reach out now.",
                                                "outcome": "crisis"}], "phq9_total": None, "phq9_severity": None},
]

old_screening = sa.table(
    "screening", sa.column("id", sa.Integer()), sa.column("token_hash", sa.String()),
    sa.column("created_at", sa.DateTime(timezone=True)), sa.column("expires_at", sa.DateTime(timezone=True)),
    sa.column("rules_version", sa.Integer()), sa.column("outcome", sa.String()), sa.column("reasons", sa.JSON()),
    sa.column("urgent", sa.Boolean()), sa.column("phq9_total", sa.Integer()),
    sa.column("phq9_severity", sa.String()),
)
outbox = sa.table("outbox_email", sa.column("id", sa.Integer()), sa.column("kind", sa.String()),
                  sa.column("to_address", sa.String()), sa.column("subject", sa.String()),
                  sa.column("body", sa.Text()), sa.column("created_at", sa.DateTime(timezone=True)),
                  sa.column("attempts", sa.Integer()))


@pytest.fixture(params=["sqlite", "postgresql"])
def fresh_app(request, tmp_path):
    if request.param == "sqlite":
        url = f"sqlite:///{tmp_path / 'findings.sqlite3'}"
    else:
        url = postgres.create_database(request.getfixturevalue("postgres_server"), "retreat_findings_migration")
    app = create_app("testing", SQLALCHEMY_DATABASE_URI=url)
    with app.app_context():
        yield app
        db.session.remove()
        db.engine.dispose()


def previous_revision() -> str:
    script = ScriptDirectory.from_config(current_app.extensions["migrate"].migrate.get_config())
    return script.get_revision(REVISION).down_revision


def columns() -> set[str]:
    return {column["name"] for column in sa.inspect(db.engine).get_columns("screening")}


def test_existing_findings_are_encrypted_and_a_downgrade_decrypts_them(fresh_app):
    before = previous_revision()
    flask_migrate.upgrade(revision=before)
    with db.engine.begin() as connection:
        for row in ROWS:
            connection.execute(sa.insert(old_screening).values(
                token_hash=f"{row['id']:064d}", created_at=WHEN, expires_at=WHEN, rules_version=1,
                urgent=row["outcome"] == "crisis", **row))
        connection.execute(sa.insert(outbox).values(id=1, kind="test", to_address="a@example.org", subject="S",
                                                    body="B", created_at=WHEN, attempts=0))

    flask_migrate.upgrade(revision=REVISION)
    assert {"reasons", "phq9_total", "phq9_severity"}.isdisjoint(columns())
    with db.engine.connect() as connection:
        stored = dict(connection.execute(sa.text("SELECT id, findings_encrypted FROM screening")).all())
    for row in ROWS:
        raw = bytes(stored[row["id"]])
        assert raw.startswith(b"gAAAAA")
        for reason in row["reasons"]:
            assert reason["code"].encode() not in raw and reason["message"].encode() not in raw
        assert crypto.decrypt_json(raw) == {"reasons": row["reasons"], "phq9_total": row["phq9_total"],
                                            "phq9_severity": row["phq9_severity"]}

    with db.engine.begin() as connection:  # one purged after the upgrade, and one email body emptied
        connection.execute(sa.text("UPDATE screening SET findings_encrypted = NULL WHERE id = 3"))
        connection.execute(sa.text("UPDATE outbox_email SET body = NULL"))
    flask_migrate.downgrade(revision=before)
    assert {"reasons", "phq9_total", "phq9_severity"} <= columns() and "findings_encrypted" not in columns()
    with db.engine.connect() as connection:
        back = {row.id: row for row in connection.execute(sa.select(
            old_screening.c.id, old_screening.c.reasons, old_screening.c.phq9_total,
            old_screening.c.phq9_severity))}
        assert connection.execute(sa.text("SELECT body FROM outbox_email")).scalar_one() == ""
    for row in ROWS[:2]:
        assert (back[row["id"]].reasons, back[row["id"]].phq9_total, back[row["id"]].phq9_severity) == (
            row["reasons"], row["phq9_total"], row["phq9_severity"])
    assert (back[3].reasons, back[3].phq9_total, back[3].phq9_severity) == ([], None, None)
