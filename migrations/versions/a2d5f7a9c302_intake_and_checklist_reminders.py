"""intake and checklist reminders: the applicant's intake before arrival (medications and allergies encrypted) and
the reminders of what is left, one per booking and threshold

Revision ID: a2d5f7a9c302
Revises: a5a8cadcf605
Create Date: 2026-12-07 19:30:00.000000

"""
from alembic import op
import sqlalchemy as sa



# revision identifiers, used by Alembic.
revision = 'a2d5f7a9c302'
down_revision = "a5a8cadcf605"
branch_labels = None
depends_on = None


def upgrade():
    op.create_table('intake',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('booking_id', sa.Integer(), nullable=False),
    sa.Column('emergency_name', sa.String(length=100), nullable=True),
    sa.Column('emergency_phone', sa.String(length=40), nullable=True),
    sa.Column('emergency_relationship', sa.String(length=60), nullable=True),
    sa.Column('dietary_needs', sa.String(length=2000), nullable=True),
    sa.Column('accessibility_needs', sa.String(length=2000), nullable=True),
    sa.Column('medications_encrypted', sa.LargeBinary(), nullable=True),
    sa.Column('allergies_encrypted', sa.LargeBinary(), nullable=True),
    sa.Column('ride_home', sa.String(length=10), nullable=True),
    sa.Column('ride_home_name', sa.String(length=100), nullable=True),
    sa.Column('ride_home_phone', sa.String(length=40), nullable=True),
    sa.Column('arrival_time', sa.Time(), nullable=True),
    sa.Column('roommate', sa.String(length=10), nullable=True),
    sa.Column('roommate_preference', sa.String(length=200), nullable=True),
    sa.Column('created_at', sa.DateTime(timezone=True), nullable=False),
    sa.Column('updated_at', sa.DateTime(timezone=True), nullable=False),
    sa.CheckConstraint("ride_home IN ('person', 'clinic')", name=op.f('ck_intake_ride_home')),
    sa.CheckConstraint("roommate IN ('preference', 'none')", name=op.f('ck_intake_roommate')),
    sa.ForeignKeyConstraint(['booking_id'], ['booking.id'], name=op.f('fk_intake_booking_id_booking')),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_intake')),
    sa.UniqueConstraint('booking_id', name=op.f('uq_intake_booking_id'))
    )
    op.create_table('checklist_reminder',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('booking_id', sa.Integer(), nullable=False),
    sa.Column('days_before', sa.Integer(), nullable=False),
    sa.Column('steps', sa.JSON(), nullable=False),
    sa.Column('sent_at', sa.DateTime(timezone=True), nullable=False),
    sa.CheckConstraint('days_before IN (21, 7, 2)', name=op.f('ck_checklist_reminder_days_before')),
    sa.ForeignKeyConstraint(['booking_id'], ['booking.id'], name=op.f('fk_checklist_reminder_booking_id_booking')),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_checklist_reminder')),
    sa.UniqueConstraint('booking_id', 'days_before', name='uq_checklist_reminder_booking_days')
    )
    with op.batch_alter_table('checklist_reminder', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_checklist_reminder_booking_id'), ['booking_id'], unique=False)


def downgrade():
    with op.batch_alter_table('checklist_reminder', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_checklist_reminder_booking_id'))
    op.drop_table('checklist_reminder')
    op.drop_table('intake')
