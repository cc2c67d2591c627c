"""The audit log and the payment ledger are append-only in the database itself, on SQLite as on PostgreSQL: a
statement that skips the ORM's guard (a bulk UPDATE or DELETE, a console session) is refused by a trigger."""

import pytest
import sqlalchemy as sa

from retreat.booking import services
from retreat.core.audit import AuditEntry
from retreat.extensions import db
from retreat.payments.models import Payment
from tests.booking.support import APPLICANT, eligible_token, make_cohort

STATEMENTS = [
    "UPDATE audit_entry SET action = 'staff.nothing_happened'",
    "DELETE FROM audit_entry WHERE id = (SELECT MIN(id) FROM audit_entry)",
    "UPDATE payment SET amount_cents = 1",
    "DELETE FROM payment",
]


@pytest.mark.parametrize("statement", STATEMENTS)
def test_the_database_refuses_to_change_or_delete_the_record(app, statement):
    booking = services.create_booking(policy_accepted=True, cohort_id=make_cohort().id,
                                      screening_token=eligible_token(),
                                      lodging="shared", applicant=dict(APPLICANT)).booking
    services.payment_received(booking.reference, kind="deposit", amount_cents=booking.deposit_cents,
                              provider="demo", provider_reference="demo_append_only")
    before = (db.session.scalars(sa.select(AuditEntry.action).order_by(AuditEntry.id)).all(),
              db.session.scalars(sa.select(Payment.amount_cents)).all())
    with pytest.raises(sa.exc.DBAPIError, match="append-only"):
        db.session.execute(sa.text(statement))
    db.session.rollback()
    after = (db.session.scalars(sa.select(AuditEntry.action).order_by(AuditEntry.id)).all(),
             db.session.scalars(sa.select(Payment.amount_cents)).all())
    assert after == before and before[1] == [booking.deposit_cents]
