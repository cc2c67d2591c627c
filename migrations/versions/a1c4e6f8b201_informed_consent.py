"""informed consent: the consent document's versions and sections, and each booking's signatures

Revision ID: a1c4e6f8b201
Revises: a3e6a8bad403
Create Date: 2026-12-07 19:15:00.000000

"""
from alembic import op
import sqlalchemy as sa


# revision identifiers, used by Alembic.
revision = 'a1c4e6f8b201'
down_revision = "a3e6a8bad403"
branch_labels = None
depends_on = None


def upgrade():
    op.create_table('consent_version',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('number', sa.Integer(), nullable=False),
    sa.Column('note', sa.String(length=400), nullable=False),
    sa.Column('content_hash', sa.String(length=64), nullable=False),
    sa.Column('created_at', sa.DateTime(timezone=True), nullable=False),
    sa.Column('created_by_id', sa.Integer(), nullable=True),
    sa.ForeignKeyConstraint(['created_by_id'], ['staff_user.id'],
                            name=op.f('fk_consent_version_created_by_id_staff_user')),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_consent_version')),
    sa.UniqueConstraint('number', name=op.f('uq_consent_version_number'))
    )
    op.create_table('consent_section',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('version_id', sa.Integer(), nullable=False),
    sa.Column('position', sa.Integer(), nullable=False),
    sa.Column('title', sa.String(length=200), nullable=False),
    sa.Column('text', sa.Text(), nullable=False),
    sa.ForeignKeyConstraint(['version_id'], ['consent_version.id'],
                            name=op.f('fk_consent_section_version_id_consent_version')),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_consent_section')),
    sa.UniqueConstraint('version_id', 'position', name='uq_consent_section_position')
    )
    op.create_table('consent_signature',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('booking_id', sa.Integer(), nullable=False),
    sa.Column('version_id', sa.Integer(), nullable=False),
    sa.Column('signed_name', sa.String(length=201), nullable=True),
    sa.Column('signed_at', sa.DateTime(timezone=True), nullable=False),
    sa.Column('client_address', sa.String(length=64), nullable=True),
    sa.Column('version_hash', sa.String(length=64), nullable=False),
    sa.ForeignKeyConstraint(['booking_id'], ['booking.id'], name=op.f('fk_consent_signature_booking_id_booking')),
    sa.ForeignKeyConstraint(['version_id'], ['consent_version.id'],
                            name=op.f('fk_consent_signature_version_id_consent_version')),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_consent_signature')),
    sa.UniqueConstraint('booking_id', 'version_id', name='uq_consent_signature_booking_version')
    )
    with op.batch_alter_table('consent_signature', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_consent_signature_version_id'), ['version_id'], unique=False)


def downgrade():
    with op.batch_alter_table('consent_signature', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_consent_signature_version_id'))
    op.drop_table('consent_signature')
    op.drop_table('consent_section')
    op.drop_table('consent_version')
