"""job claims: a piece of a job's work taken by one runner before it is done (jobs on every host at once)

Revision ID: a8d1fd0f2908
Revises: a1c4e6f8b201
Create Date: 2026-12-07 19:10:00.000000

"""
from alembic import op
import sqlalchemy as sa


# revision identifiers, used by Alembic.
revision = 'a8d1fd0f2908'
down_revision = "a1c4e6f8b201"
branch_labels = None
depends_on = None


def upgrade():
    op.create_table('job_claim',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('job', sa.String(length=60), nullable=False),
    sa.Column('key', sa.String(length=160), nullable=False),
    sa.Column('claimed_at', sa.DateTime(timezone=True), nullable=False),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_job_claim')),
    sa.UniqueConstraint('job', 'key', name=op.f('uq_job_claim_job'))
    )


def downgrade():
    op.drop_table('job_claim')
