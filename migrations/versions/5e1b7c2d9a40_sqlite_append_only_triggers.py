"""SQLite: the audit log and the payment ledger refuse UPDATE and DELETE, as PostgreSQL's triggers do

On SQLite, a migration that alters either table in batch mode rebuilds it and loses these triggers: such a
migration must make them again (tests/test_append_only.py fails otherwise).

Revision ID: 5e1b7c2d9a40
Revises: 2076d824e86b
Create Date: 2026-12-07 10:20:00

"""
from alembic import op


# revision identifiers, used by Alembic.
revision = '5e1b7c2d9a40'
down_revision = '2076d824e86b'
branch_labels = None
depends_on = None

APPEND_ONLY_TABLES = ("audit_entry", "payment")


def upgrade():
    if op.get_bind().dialect.name != "sqlite":
        return  # PostgreSQL has had its triggers since the tables were made
    for table in APPEND_ONLY_TABLES:
        for event in ("UPDATE", "DELETE"):
            op.execute(f"""
                CREATE TRIGGER {table}_append_only_{event.lower()} BEFORE {event} ON {table}
                BEGIN
                    SELECT RAISE(ABORT, '{table} is append-only');
                END
            """)


def downgrade():
    if op.get_bind().dialect.name != "sqlite":
        return
    for table in APPEND_ONLY_TABLES:
        for event in ("update", "delete"):
            op.execute(f"DROP TRIGGER IF EXISTS {table}_append_only_{event}")
