"""fee_request: an applicant's request for a reduced fee, and staff's decision

Revision ID: 9b2d4f6a8e31
Revises: 9c3e5a7b9f42
Create Date: 2026-12-07 16:10:00.000000

"""
from alembic import op
import sqlalchemy as sa


# revision identifiers, used by Alembic.
revision = '9b2d4f6a8e31'
down_revision = '9c3e5a7b9f42'
branch_labels = None
depends_on = None


def upgrade():
    op.create_table('fee_request',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('booking_id', sa.Integer(), nullable=False),
    sa.Column('status', sa.String(length=10), nullable=False),
    sa.Column('reason', sa.String(length=500), nullable=False),
    sa.Column('requested_from_cents', sa.Integer(), nullable=False),
    sa.Column('granted_total_cents', sa.Integer(), nullable=True),
    sa.Column('decided_by_id', sa.Integer(), nullable=True),
    sa.Column('decision_reason', sa.String(length=500), nullable=True),
    sa.Column('requested_at', sa.DateTime(timezone=True), nullable=False),
    sa.Column('decided_at', sa.DateTime(timezone=True), nullable=True),
    sa.CheckConstraint("status IN ('requested', 'granted', 'declined')", name=op.f('ck_fee_request_status')),
    sa.CheckConstraint('granted_total_cents IS NULL OR granted_total_cents >= 0',
                       name=op.f('ck_fee_request_granted_total')),
    sa.ForeignKeyConstraint(['booking_id'], ['booking.id'], name=op.f('fk_fee_request_booking_id_booking')),
    sa.ForeignKeyConstraint(['decided_by_id'], ['staff_user.id'],
                            name=op.f('fk_fee_request_decided_by_id_staff_user')),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_fee_request')),
    sa.UniqueConstraint('booking_id', name=op.f('uq_fee_request_booking_id'))
    )
    op.create_index('ix_fee_request_status', 'fee_request', ['status'], unique=False)


def downgrade():
    op.drop_index('ix_fee_request_status', table_name='fee_request')
    op.drop_table('fee_request')
