"""the applicant's data: requests to erase it, and the erasures done (retreat/arrival/personal_data.py)

Revision ID: a6b9dbed0706
Revises: a8d1fd0f2908
Create Date: 2026-12-07 19:10:00.000000

"""
from alembic import op
import sqlalchemy as sa


# revision identifiers, used by Alembic.
revision = 'a6b9dbed0706'
down_revision = "a8d1fd0f2908"
branch_labels = None
depends_on = None


def upgrade():
    op.create_table('data_erasure',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('booking_id', sa.Integer(), nullable=False),
    sa.Column('requested_at', sa.DateTime(timezone=True), nullable=False),
    sa.Column('erased_at', sa.DateTime(timezone=True), nullable=True),
    sa.Column('erased_by_id', sa.Integer(), nullable=True),
    sa.Column('manage_token_hash', sa.String(length=64), nullable=True),
    sa.ForeignKeyConstraint(['booking_id'], ['booking.id'], name=op.f('fk_data_erasure_booking_id_booking')),
    sa.ForeignKeyConstraint(['erased_by_id'], ['staff_user.id'], name=op.f('fk_data_erasure_erased_by_id_staff_user')),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_data_erasure')),
    sa.UniqueConstraint('booking_id', name=op.f('uq_data_erasure_booking_id')),
    sa.UniqueConstraint('manage_token_hash', name=op.f('uq_data_erasure_manage_token_hash'))
    )
    with op.batch_alter_table('data_erasure', schema=None) as batch_op:
        batch_op.create_index('ix_data_erasure_erased_at', ['erased_at'], unique=False)


def downgrade():
    with op.batch_alter_table('data_erasure', schema=None) as batch_op:
        batch_op.drop_index('ix_data_erasure_erased_at')
    op.drop_table('data_erasure')
