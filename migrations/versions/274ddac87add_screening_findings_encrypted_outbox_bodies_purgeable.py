"""screening findings encrypted; outbox bodies purgeable

A screening's reasons (rule codes and wording) and PHQ-9 total and band are health data: they move from readable
columns into one encrypted column, `findings_encrypted` ({"reasons", "phq9_total", "phq9_severity"}, encrypted with
retreat.core.crypto under the newest of SCREENING_ENCRYPTION_KEYS), and are purged with the answers. A sent email's
body may be emptied after 30 days (`flask notify purge`), so `outbox_email.body` becomes nullable.

Migrations run inside the app's context, so the configured keys are at hand. Downgrade decrypts back; a purged
screening's reasons come back as an empty list (the old column allowed no NULL) and an emptied body as ''.

Revision ID: 274ddac87add
Revises: 19ba574fa55b
Create Date: 2026-12-07 09:44:31.587020

"""
from alembic import op
import sqlalchemy as sa

from retreat.core import crypto


# revision identifiers, used by Alembic.
revision = '274ddac87add'
down_revision = '19ba574fa55b'
branch_labels = None
depends_on = None

BATCH = 500

screening = sa.table(
    'screening',
    sa.column('id', sa.Integer()),
    sa.column('reasons', sa.JSON()),
    sa.column('phq9_total', sa.Integer()),
    sa.column('phq9_severity', sa.String(20)),
    sa.column('findings_encrypted', sa.LargeBinary()),
)
outbox_email = sa.table('outbox_email', sa.column('body', sa.Text()))


def _batches(connection, *columns):
    """The screening rows, BATCH at a time, in id order."""
    last_id = 0
    while True:
        rows = connection.execute(
            sa.select(screening.c.id, *columns).where(screening.c.id > last_id)
            .order_by(screening.c.id).limit(BATCH)).all()
        if not rows:
            return
        yield rows
        last_id = rows[-1].id


def upgrade():
    with op.batch_alter_table('outbox_email', schema=None) as batch_op:
        batch_op.alter_column('body', existing_type=sa.Text(), nullable=True)

    with op.batch_alter_table('screening', schema=None) as batch_op:
        batch_op.add_column(sa.Column('findings_encrypted', sa.LargeBinary(), nullable=True))

    connection = op.get_bind()
    for rows in _batches(connection, screening.c.reasons, screening.c.phq9_total, screening.c.phq9_severity):
        for row in rows:
            findings = {"reasons": list(row.reasons or ()), "phq9_total": row.phq9_total,
                        "phq9_severity": row.phq9_severity}
            connection.execute(sa.update(screening).where(screening.c.id == row.id)
                               .values(findings_encrypted=crypto.encrypt_json(findings)))

    with op.batch_alter_table('screening', schema=None) as batch_op:
        batch_op.drop_column('reasons')
        batch_op.drop_column('phq9_severity')
        batch_op.drop_column('phq9_total')


def downgrade():
    with op.batch_alter_table('screening', schema=None) as batch_op:
        batch_op.add_column(sa.Column('phq9_total', sa.Integer(), nullable=True))
        batch_op.add_column(sa.Column('phq9_severity', sa.String(length=20), nullable=True))
        batch_op.add_column(sa.Column('reasons', sa.JSON(), nullable=True))

    connection = op.get_bind()
    for rows in _batches(connection, screening.c.findings_encrypted):
        for row in rows:
            value = crypto.decrypt_json(bytes(row.findings_encrypted)) if row.findings_encrypted is not None else {}
            connection.execute(sa.update(screening).where(screening.c.id == row.id).values(
                reasons=value.get("reasons") or [], phq9_total=value.get("phq9_total"),
                phq9_severity=value.get("phq9_severity")))

    with op.batch_alter_table('screening', schema=None) as batch_op:
        batch_op.alter_column('reasons', existing_type=sa.JSON(), nullable=False)
        batch_op.drop_column('findings_encrypted')

    connection.execute(sa.update(outbox_email).where(outbox_email.c.body.is_(None)).values(body=''))
    with op.batch_alter_table('outbox_email', schema=None) as batch_op:
        batch_op.alter_column('body', existing_type=sa.Text(), nullable=False)
