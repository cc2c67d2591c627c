"""Screenings: a clinician may acknowledge and close an anonymous crisis (review status `closed`)

Revision ID: 7b1d4e2f3c8a
Revises: 6a0c3f1e2b7d
Create Date: 2026-12-07 13:20:00

"""
from alembic import op


# revision identifiers, used by Alembic.
revision = '7b1d4e2f3c8a'
down_revision = '6a0c3f1e2b7d'
branch_labels = None
depends_on = None

BEFORE = "review_status IS NULL OR review_status IN ('pending', 'approved', 'declined', 'records_requested')"
AFTER = ("review_status IS NULL OR review_status IN ('pending', 'approved', 'declined', 'records_requested', "
         "'closed')")


def _replace_check(condition: str) -> None:
    with op.batch_alter_table('screening', schema=None) as batch_op:
        batch_op.drop_constraint(op.f('ck_screening_review_status'), type_='check')
        batch_op.create_check_constraint(op.f('ck_screening_review_status'), condition)


def upgrade():
    _replace_check(AFTER)


def downgrade():
    # A closed screening has no status before this revision: it goes back to awaiting a clinician.
    op.execute("UPDATE screening SET review_status = 'pending' WHERE review_status = 'closed'")
    _replace_check(BEFORE)
