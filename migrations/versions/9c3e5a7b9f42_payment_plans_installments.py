"""payment plans: the schedule of a booking's installments, and the ledger's kind `installment`

On SQLite the payment table is rebuilt in batch mode, which loses its append-only triggers: they are made again
(see 5e1b7c2d9a40).

Revision ID: 9c3e5a7b9f42
Revises: 9a1c3e5b7d20
Create Date: 2026-12-07 16:30:00.000000

"""
from alembic import op
import sqlalchemy as sa


# revision identifiers, used by Alembic.
revision = '9c3e5a7b9f42'
down_revision = '9a1c3e5b7d20'
branch_labels = None
depends_on = None


def _sqlite() -> bool:
    return op.get_bind().dialect.name == "sqlite"


def _payment_triggers(create: bool):
    if not _sqlite():
        return  # PostgreSQL keeps its triggers through ALTER TABLE
    for event in ("UPDATE", "DELETE"):
        op.execute(f"DROP TRIGGER IF EXISTS payment_append_only_{event.lower()}")
        if create:
            op.execute(f"""
                CREATE TRIGGER payment_append_only_{event.lower()} BEFORE {event} ON payment
                BEGIN
                    SELECT RAISE(ABORT, 'payment is append-only');
                END
            """)


def _kinds(payment_kinds: str, requested_kinds: str, length: int):
    _payment_triggers(create=False)
    with op.batch_alter_table('payment', schema=None) as batch_op:
        batch_op.drop_constraint(op.f('ck_payment_kind'), type_='check')
        batch_op.alter_column('kind', existing_type=sa.String(length=12 if length == 10 else 10),
                              type_=sa.String(length=length), existing_nullable=False)
        batch_op.create_check_constraint(op.f('ck_payment_kind'), f"kind IN ({payment_kinds})")
    _payment_triggers(create=True)
    with op.batch_alter_table('requested_payment', schema=None) as batch_op:
        batch_op.drop_constraint(op.f('ck_requested_payment_kind'), type_='check')
        batch_op.alter_column('kind', existing_type=sa.String(length=12 if length == 10 else 10),
                              type_=sa.String(length=length), existing_nullable=False)
        batch_op.create_check_constraint(op.f('ck_requested_payment_kind'), f"kind IN ({requested_kinds})")


def upgrade():
    op.create_table('payment_schedule_item',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('booking_id', sa.Integer(), nullable=False),
    sa.Column('position', sa.Integer(), nullable=False),
    sa.Column('kind', sa.String(length=12), nullable=False),
    sa.Column('due_date', sa.Date(), nullable=False),
    sa.Column('amount_cents', sa.Integer(), nullable=False),
    sa.Column('status', sa.String(length=10), nullable=False),
    sa.Column('attempts', sa.Integer(), nullable=False),
    sa.Column('last_attempt_on', sa.Date(), nullable=True),
    sa.Column('last_error', sa.String(length=500), nullable=True),
    sa.Column('reminded_on', sa.Date(), nullable=True),
    sa.Column('payment_id', sa.Integer(), nullable=True),
    sa.CheckConstraint("amount_cents > 0", name=op.f('ck_payment_schedule_item_amount')),
    sa.CheckConstraint("kind IN ('deposit', 'balance', 'installment')", name=op.f('ck_payment_schedule_item_kind')),
    sa.CheckConstraint("status IN ('scheduled', 'paid', 'failed', 'cancelled')",
                       name=op.f('ck_payment_schedule_item_status')),
    sa.ForeignKeyConstraint(['booking_id'], ['booking.id'], name=op.f('fk_payment_schedule_item_booking_id_booking')),
    sa.ForeignKeyConstraint(['payment_id'], ['payment.id'], name=op.f('fk_payment_schedule_item_payment_id_payment')),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_payment_schedule_item')),
    sa.UniqueConstraint('booking_id', 'position', name='uq_payment_schedule_item_position')
    )
    with op.batch_alter_table('payment_schedule_item', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_payment_schedule_item_booking_id'), ['booking_id'], unique=False)
        batch_op.create_index('ix_payment_schedule_item_due', ['status', 'due_date'], unique=False)
    _kinds("'deposit', 'balance', 'installment', 'refund'", "'deposit', 'balance', 'installment'", 12)


def downgrade():
    _kinds("'deposit', 'balance', 'refund'", "'deposit', 'balance'", 10)
    with op.batch_alter_table('payment_schedule_item', schema=None) as batch_op:
        batch_op.drop_index('ix_payment_schedule_item_due')
        batch_op.drop_index(batch_op.f('ix_payment_schedule_item_booking_id'))
    op.drop_table('payment_schedule_item')
