"""discount codes: the codes, the programs each is limited to, and the bookings that used them

Revision ID: 9a1c3e5b7d20
Revises: 8c2e5f3a4d1b
Create Date: 2026-12-07 16:00:00.000000

"""
from alembic import op
import sqlalchemy as sa


# revision identifiers, used by Alembic.
revision = '9a1c3e5b7d20'
down_revision = '8c2e5f3a4d1b'
branch_labels = None
depends_on = None


def upgrade():
    op.create_table('discount_code',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('code', sa.String(length=40), nullable=False),
    sa.Column('percent_off', sa.Integer(), nullable=True),
    sa.Column('amount_off_cents', sa.Integer(), nullable=True),
    sa.Column('valid_from', sa.Date(), nullable=True),
    sa.Column('valid_until', sa.Date(), nullable=True),
    sa.Column('max_uses', sa.Integer(), nullable=True),
    sa.Column('uses', sa.Integer(), server_default='0', nullable=False),
    sa.Column('active', sa.Boolean(), nullable=False),
    sa.Column('created_at', sa.DateTime(timezone=True), nullable=False),
    sa.Column('updated_at', sa.DateTime(timezone=True), nullable=False),
    sa.CheckConstraint('(percent_off IS NULL) <> (amount_off_cents IS NULL)', name=op.f('ck_discount_code_one_kind')),
    sa.CheckConstraint('percent_off IS NULL OR (percent_off >= 1 AND percent_off <= 100)',
                       name=op.f('ck_discount_code_percent')),
    sa.CheckConstraint('amount_off_cents IS NULL OR amount_off_cents > 0', name=op.f('ck_discount_code_amount')),
    sa.CheckConstraint('max_uses IS NULL OR max_uses > 0', name=op.f('ck_discount_code_max_uses')),
    sa.CheckConstraint('uses >= 0', name=op.f('ck_discount_code_uses')),
    sa.CheckConstraint('valid_from IS NULL OR valid_until IS NULL OR valid_from <= valid_until',
                       name=op.f('ck_discount_code_dates_in_order')),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_discount_code')),
    sa.UniqueConstraint('code', name=op.f('uq_discount_code_code'))
    )
    op.create_table('discount_code_program',
    sa.Column('discount_code_id', sa.Integer(), nullable=False),
    sa.Column('program_id', sa.Integer(), nullable=False),
    sa.ForeignKeyConstraint(['discount_code_id'], ['discount_code.id'],
                            name=op.f('fk_discount_code_program_discount_code_id_discount_code')),
    sa.ForeignKeyConstraint(['program_id'], ['program.id'], name=op.f('fk_discount_code_program_program_id_program')),
    sa.PrimaryKeyConstraint('discount_code_id', 'program_id', name=op.f('pk_discount_code_program'))
    )
    op.create_table('discount_use',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('discount_code_id', sa.Integer(), nullable=False),
    sa.Column('booking_id', sa.Integer(), nullable=False),
    sa.Column('booking_reference', sa.String(length=20), nullable=False),
    sa.Column('discount_cents', sa.Integer(), nullable=False),
    sa.Column('used_at', sa.DateTime(timezone=True), nullable=False),
    sa.Column('returned_at', sa.DateTime(timezone=True), nullable=True),
    sa.ForeignKeyConstraint(['booking_id'], ['booking.id'], name=op.f('fk_discount_use_booking_id_booking')),
    sa.ForeignKeyConstraint(['discount_code_id'], ['discount_code.id'],
                            name=op.f('fk_discount_use_discount_code_id_discount_code')),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_discount_use')),
    sa.UniqueConstraint('booking_id', name=op.f('uq_discount_use_booking_id'))
    )
    with op.batch_alter_table('discount_use', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_discount_use_discount_code_id'), ['discount_code_id'], unique=False)


def downgrade():
    with op.batch_alter_table('discount_use', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_discount_use_discount_code_id'))
    op.drop_table('discount_use')
    op.drop_table('discount_code_program')
    op.drop_table('discount_code')
