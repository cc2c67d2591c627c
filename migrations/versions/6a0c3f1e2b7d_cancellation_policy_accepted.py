"""cancellation policy accepted: the policy version and when; no balance due date when the whole price is paid

Revision ID: 6a0c3f1e2b7d
Revises: 5e1b7c2d9a40
Create Date: 2026-12-07 13:05:00.000000

"""
from alembic import op
import sqlalchemy as sa


# revision identifiers, used by Alembic.
revision = '6a0c3f1e2b7d'
down_revision = '5e1b7c2d9a40'
branch_labels = None
depends_on = None


def upgrade():
    with op.batch_alter_table('booking', schema=None) as batch_op:
        batch_op.add_column(sa.Column('policy_version', sa.String(length=40), nullable=True))
        batch_op.add_column(sa.Column('policy_accepted_at', sa.DateTime(timezone=True), nullable=True))
        batch_op.alter_column('balance_due_date', existing_type=sa.Date(), nullable=True)


def downgrade():
    booking = sa.table('booking', sa.column('balance_due_date', sa.Date), sa.column('created_at', sa.DateTime))
    op.execute(booking.update().where(booking.c.balance_due_date.is_(None))
               .values(balance_due_date=sa.func.date(booking.c.created_at)))
    with op.batch_alter_table('booking', schema=None) as batch_op:
        batch_op.alter_column('balance_due_date', existing_type=sa.Date(), nullable=False)
        batch_op.drop_column('policy_accepted_at')
        batch_op.drop_column('policy_version')
