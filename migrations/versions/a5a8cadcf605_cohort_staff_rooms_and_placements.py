"""staffing and rooms: staff assigned to cohorts with a cohort role, the venue's rooms, and each booking's room

Revision ID: a5a8cadcf605
Revises: 9d4f6b8c0a53
Create Date: 2026-12-07 19:15:00.000000

"""
from alembic import op
import sqlalchemy as sa


# revision identifiers, used by Alembic.
revision = 'a5a8cadcf605'
down_revision = '9d4f6b8c0a53'
branch_labels = None
depends_on = None


def upgrade():
    op.create_table('cohort_staff',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('cohort_id', sa.Integer(), nullable=False),
    sa.Column('staff_user_id', sa.Integer(), nullable=False),
    sa.Column('role', sa.String(length=12), nullable=False),
    sa.Column('assigned_at', sa.DateTime(timezone=True), nullable=False),
    sa.CheckConstraint("role IN ('clinician', 'therapist')", name=op.f('ck_cohort_staff_role')),
    sa.ForeignKeyConstraint(['cohort_id'], ['cohort.id'], name=op.f('fk_cohort_staff_cohort_id_cohort')),
    sa.ForeignKeyConstraint(['staff_user_id'], ['staff_user.id'],
                            name=op.f('fk_cohort_staff_staff_user_id_staff_user')),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_cohort_staff')),
    sa.UniqueConstraint('cohort_id', 'staff_user_id', name='uq_cohort_staff_cohort_user')
    )
    with op.batch_alter_table('cohort_staff', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_cohort_staff_cohort_id'), ['cohort_id'], unique=False)
        batch_op.create_index(batch_op.f('ix_cohort_staff_staff_user_id'), ['staff_user_id'], unique=False)
    op.create_table('room',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('name', sa.String(length=60), nullable=False),
    sa.Column('beds', sa.Integer(), nullable=False),
    sa.Column('active', sa.Boolean(), nullable=False),
    sa.Column('created_at', sa.DateTime(timezone=True), nullable=False),
    sa.CheckConstraint('beds >= 1 AND beds <= 20', name=op.f('ck_room_beds')),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_room')),
    sa.UniqueConstraint('name', name=op.f('uq_room_name'))
    )
    op.create_table('room_placement',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('booking_id', sa.Integer(), nullable=False),
    sa.Column('room_id', sa.Integer(), nullable=False),
    sa.Column('placed_at', sa.DateTime(timezone=True), nullable=False),
    sa.ForeignKeyConstraint(['booking_id'], ['booking.id'], name=op.f('fk_room_placement_booking_id_booking')),
    sa.ForeignKeyConstraint(['room_id'], ['room.id'], name=op.f('fk_room_placement_room_id_room')),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_room_placement')),
    sa.UniqueConstraint('booking_id', name=op.f('uq_room_placement_booking_id'))
    )
    with op.batch_alter_table('room_placement', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_room_placement_room_id'), ['room_id'], unique=False)


def downgrade():
    with op.batch_alter_table('room_placement', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_room_placement_room_id'))
    op.drop_table('room_placement')
    op.drop_table('room')
    with op.batch_alter_table('cohort_staff', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_cohort_staff_staff_user_id'))
        batch_op.drop_index(batch_op.f('ix_cohort_staff_cohort_id'))
    op.drop_table('cohort_staff')
