"""clearance: a clinician's medical clearance of a booking (cleared or needs follow-up), its note encrypted

Revision ID: a4f7b9cbe504
Revises: a6b9dbed0706
Create Date: 2026-12-07 19:30:00.000000

"""
from alembic import op
import sqlalchemy as sa



# revision identifiers, used by Alembic.
revision = 'a4f7b9cbe504'
down_revision = "a6b9dbed0706"
branch_labels = None
depends_on = None


def upgrade():
    op.create_table('clearance',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('booking_id', sa.Integer(), nullable=False),
    sa.Column('status', sa.String(length=10), nullable=False),
    sa.Column('note_encrypted', sa.LargeBinary(), nullable=True),
    sa.Column('decided_by_id', sa.Integer(), nullable=True),
    sa.Column('decided_at', sa.DateTime(timezone=True), nullable=False),
    sa.Column('created_at', sa.DateTime(timezone=True), nullable=False),
    sa.CheckConstraint("status IN ('cleared', 'follow_up')", name=op.f('ck_clearance_status')),
    sa.ForeignKeyConstraint(['booking_id'], ['booking.id'], name=op.f('fk_clearance_booking_id_booking')),
    sa.ForeignKeyConstraint(['decided_by_id'], ['staff_user.id'], name=op.f('fk_clearance_decided_by_id_staff_user')),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_clearance')),
    sa.UniqueConstraint('booking_id', name=op.f('uq_clearance_booking_id'))
    )


def downgrade():
    op.drop_table('clearance')
