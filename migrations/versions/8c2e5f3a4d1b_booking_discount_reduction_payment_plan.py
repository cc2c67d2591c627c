"""booking price off the list (discount with its code, reduction granted by staff) and the payment plan

Revision ID: 8c2e5f3a4d1b
Revises: 7b1d4e2f3c8a
Create Date: 2026-12-07 16:00:00.000000

"""
from alembic import op
import sqlalchemy as sa


# revision identifiers, used by Alembic.
revision = '8c2e5f3a4d1b'
down_revision = '7b1d4e2f3c8a'
branch_labels = None
depends_on = None


def upgrade():
    with op.batch_alter_table('booking', schema=None) as batch_op:
        batch_op.add_column(sa.Column('discount_cents', sa.Integer(), server_default='0', nullable=False))
        batch_op.add_column(sa.Column('discount_code', sa.String(length=40), nullable=True))
        batch_op.add_column(sa.Column('reduction_cents', sa.Integer(), server_default='0', nullable=False))
        batch_op.add_column(sa.Column('payment_plan', sa.String(length=12), server_default='deposit',
                                      nullable=False))
        batch_op.create_check_constraint(op.f('ck_booking_price_off'), 'discount_cents >= 0 AND reduction_cents >= 0')
        batch_op.create_check_constraint(op.f('ck_booking_payment_plan'), "payment_plan IN ('deposit', 'full', 'installments')")


def downgrade():
    with op.batch_alter_table('booking', schema=None) as batch_op:
        batch_op.drop_constraint(op.f('ck_booking_payment_plan'), type_='check')
        batch_op.drop_constraint(op.f('ck_booking_price_off'), type_='check')
        batch_op.drop_column('payment_plan')
        batch_op.drop_column('reduction_cents')
        batch_op.drop_column('discount_code')
        batch_op.drop_column('discount_cents')
