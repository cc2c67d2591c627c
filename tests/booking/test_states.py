"""Every booking state change goes through one function: the allowed moves, refusals and idempotence."""

from datetime import timedelta

import pytest

from retreat.booking.models import BOOKING_STATUSES, Booking
from retreat.booking.states import ALLOWED_TRANSITIONS, IllegalTransition, transition
from retreat.core.audit import AuditEntry
from retreat.core.clock import now, today
from retreat.extensions import db

EXPECTED = {
    ("held", "confirmed"), ("held", "paid_in_full"), ("held", "cancelled"), ("held", "declined"),
    ("held", "expired"),
    ("pending_review", "held"), ("pending_review", "declined"), ("pending_review", "cancelled"),
    ("pending_review", "expired"),
    ("confirmed", "paid_in_full"), ("confirmed", "cancelled"), ("confirmed", "declined"),
    ("paid_in_full", "cancelled"), ("paid_in_full", "declined"),
    ("expired", "confirmed"), ("expired", "paid_in_full"),
}
PAIRS = [(a, b) for a in BOOKING_STATUSES for b in BOOKING_STATUSES if a != b]


def test_the_table_is_exactly_the_product_decision():
    assert {(a, b) for a, targets in ALLOWED_TRANSITIONS.items() for b in targets} == EXPECTED
    assert set(ALLOWED_TRANSITIONS) == set(BOOKING_STATUSES)


def _booking(status: str) -> Booking:
    return Booking(reference="RT-TEST22", cohort_id=1, status=status, lodging="none", applicant_first_name="A",
                   applicant_last_name="B", applicant_email="a@example.org", applicant_phone="5551234567",
                   price_list_version=1, total_cents=100, deposit_cents=50, balance_cents=50,
                   balance_due_date=today(), hold_expires_at=now())


@pytest.mark.parametrize(("current", "wanted"), PAIRS, ids=[f"{a}->{b}" for a, b in PAIRS])
def test_each_move_is_allowed_or_refused_as_the_table_says(app, current, wanted):
    booking = _booking(current)
    hold = now() + timedelta(minutes=30)
    if (current, wanted) in EXPECTED:
        assert transition(booking, wanted, hold_expires_at=hold) is True
        assert booking.status == wanted
        entry = db.session.new  # the audit entry joins the caller's transaction
        assert any(isinstance(e, AuditEntry) and e.action == f"booking.{wanted}" for e in entry)
    else:
        with pytest.raises(IllegalTransition) as refused:
            transition(booking, wanted, hold_expires_at=hold)
        assert refused.value.status == 409
        assert booking.status == current
    db.session.rollback()


@pytest.mark.parametrize("status", BOOKING_STATUSES)
def test_moving_to_the_same_state_changes_nothing(app, status):
    booking = _booking(status)
    assert transition(booking, status) is False
    assert booking.status == status
    assert not [e for e in db.session.new if isinstance(e, AuditEntry)]


def test_cancelling_twice_names_the_reason(app):
    booking = _booking("cancelled")
    with pytest.raises(IllegalTransition) as refused:
        transition(booking, "expired")
    assert refused.value.code == "illegal_transition"
    booking = _booking("expired")
    with pytest.raises(IllegalTransition) as refused:
        transition(booking, "cancelled")
    assert refused.value.code == "booking_not_cancellable"


def test_a_hold_needs_its_end(app):
    with pytest.raises(ValueError):
        transition(_booking("pending_review"), "held")


def test_confirming_ends_the_hold_and_cancelling_stamps_the_time(app):
    booking = _booking("held")
    transition(booking, "confirmed")
    assert booking.hold_expires_at is None and booking.confirmed_at is not None
    transition(booking, "cancelled")
    assert booking.cancelled_at is not None
    db.session.rollback()
