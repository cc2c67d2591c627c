"""document requests and uploaded documents: what a clinician asks an applicant for, and the files uploaded
(stored encrypted in UPLOAD_FOLDER; a row holds where, the type, the size and the wrapped data key)

Revision ID: a3e6a8bad403
Revises: a2d5f7a9c302
Create Date: 2026-12-07 19:20:00.000000

"""
from alembic import op
import sqlalchemy as sa


# revision identifiers, used by Alembic.
revision = 'a3e6a8bad403'
down_revision = "a2d5f7a9c302"
branch_labels = None
depends_on = None


def upgrade():
    op.create_table('document_request',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('booking_id', sa.Integer(), nullable=False),
    sa.Column('kind', sa.String(length=10), nullable=False),
    sa.Column('source', sa.String(length=10), nullable=False),
    sa.Column('details_encrypted', sa.LargeBinary(), nullable=True),
    sa.Column('requested_by_id', sa.Integer(), nullable=True),
    sa.Column('requested_at', sa.DateTime(timezone=True), nullable=False),
    sa.Column('received_at', sa.DateTime(timezone=True), nullable=True),
    sa.Column('received_by_id', sa.Integer(), nullable=True),
    sa.CheckConstraint("kind IN ('records', 'clearance')", name=op.f('ck_document_request_kind')),
    sa.CheckConstraint("source IN ('clinician', 'screening')", name=op.f('ck_document_request_source')),
    sa.ForeignKeyConstraint(['booking_id'], ['booking.id'], name=op.f('fk_document_request_booking_id_booking')),
    sa.ForeignKeyConstraint(['requested_by_id'], ['staff_user.id'],
                            name=op.f('fk_document_request_requested_by_id_staff_user')),
    sa.ForeignKeyConstraint(['received_by_id'], ['staff_user.id'],
                            name=op.f('fk_document_request_received_by_id_staff_user')),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_document_request'))
    )
    with op.batch_alter_table('document_request', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_document_request_booking_id'), ['booking_id'], unique=False)

    op.create_table('uploaded_document',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('booking_id', sa.Integer(), nullable=False),
    sa.Column('request_id', sa.Integer(), nullable=True),
    sa.Column('stored_name', sa.String(length=64), nullable=False),
    sa.Column('name_encrypted', sa.LargeBinary(), nullable=False),
    sa.Column('content_type', sa.String(length=40), nullable=False),
    sa.Column('size_bytes', sa.Integer(), nullable=False),
    sa.Column('key_encrypted', sa.LargeBinary(), nullable=False),
    sa.Column('uploaded_at', sa.DateTime(timezone=True), nullable=False),
    sa.CheckConstraint("content_type IN ('application/pdf', 'image/jpeg', 'image/png')",
                       name=op.f('ck_uploaded_document_content_type')),
    sa.CheckConstraint('size_bytes > 0', name=op.f('ck_uploaded_document_size')),
    sa.ForeignKeyConstraint(['booking_id'], ['booking.id'], name=op.f('fk_uploaded_document_booking_id_booking')),
    sa.ForeignKeyConstraint(['request_id'], ['document_request.id'],
                            name=op.f('fk_uploaded_document_request_id_document_request')),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_uploaded_document')),
    sa.UniqueConstraint('stored_name', name=op.f('uq_uploaded_document_stored_name'))
    )
    with op.batch_alter_table('uploaded_document', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_uploaded_document_booking_id'), ['booking_id'], unique=False)
        batch_op.create_index(batch_op.f('ix_uploaded_document_request_id'), ['request_id'], unique=False)


def downgrade():
    with op.batch_alter_table('uploaded_document', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_uploaded_document_request_id'))
        batch_op.drop_index(batch_op.f('ix_uploaded_document_booking_id'))
    op.drop_table('uploaded_document')
    with op.batch_alter_table('document_request', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_document_request_booking_id'))
    op.drop_table('document_request')
