"""receipts and superbills: a booking's superbill facts (date of birth, diagnosis, both encrypted) and an
attachment named on an outbox email

Revision ID: 9d4f6b8c0a53
Revises: 9b2d4f6a8e31
Create Date: 2026-12-07 16:10:00.000000

"""
from alembic import op
import sqlalchemy as sa



# revision identifiers, used by Alembic.
revision = '9d4f6b8c0a53'
down_revision = '9b2d4f6a8e31'
branch_labels = None
depends_on = None


def upgrade():
    op.create_table('superbill_detail',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('booking_id', sa.Integer(), nullable=False),
    sa.Column('birth_date_encrypted', sa.LargeBinary(), nullable=True),
    sa.Column('birth_date_given_at', sa.DateTime(timezone=True), nullable=True),
    sa.Column('diagnosis_encrypted', sa.LargeBinary(), nullable=True),
    sa.Column('diagnosed_by_id', sa.Integer(), nullable=True),
    sa.Column('diagnosed_at', sa.DateTime(timezone=True), nullable=True),
    sa.Column('created_at', sa.DateTime(timezone=True), nullable=False),
    sa.ForeignKeyConstraint(['booking_id'], ['booking.id'], name=op.f('fk_superbill_detail_booking_id_booking')),
    sa.ForeignKeyConstraint(['diagnosed_by_id'], ['staff_user.id'],
                            name=op.f('fk_superbill_detail_diagnosed_by_id_staff_user')),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_superbill_detail')),
    sa.UniqueConstraint('booking_id', name=op.f('uq_superbill_detail_booking_id'))
    )
    with op.batch_alter_table('outbox_email', schema=None) as batch_op:
        batch_op.add_column(sa.Column('attachment', sa.String(length=80), nullable=True))


def downgrade():
    with op.batch_alter_table('outbox_email', schema=None) as batch_op:
        batch_op.drop_column('attachment')
    op.drop_table('superbill_detail')
