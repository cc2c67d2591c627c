"""Cancellation and a clinician's decline refund through Stripe by the policy: the refunds are made at Stripe
(localstripe lists them) and recorded in the ledger under Stripe's refund ids."""

import pytest

from retreat.booking import services
from retreat.extensions import db
from retreat.payment_events import stripe as stripe_events
from retreat.payments import ledger
from retreat.screening import review
from retreat.screening.models import Screening
from tests.booking.support import make_cohort, review_token
from tests.payments.support import book, deposit_intent, fresh, payments

pytestmark = pytest.mark.localstripe


def paid_deposit(localstripe, booking):
    """The applicant pays the deposit (the whole price, for dates within 14 days) and comes back to the return
    page."""
    intent = localstripe.pay(deposit_intent(booking))
    outcome = stripe_events.confirm_from_return(booking, intent.id)
    assert outcome.created and outcome.booking.status == ("confirmed" if booking.balance_cents else "paid_in_full")
    return intent


@pytest.mark.parametrize(("starts_in_days", "refund_of_deposit"), [
    (30, lambda deposit: deposit - 100_00),  # 30 days or more: everything paid less the $100 fee
    (14, lambda deposit: deposit // 2),  # 14 to 29 days: half
])
def test_an_applicant_cancelling_is_refunded_at_stripe_by_the_policy(stripe_app, localstripe, starts_in_days,
                                                                      refund_of_deposit):
    booking = book(make_cohort(starts_in_days=starts_in_days))
    intent = paid_deposit(localstripe, booking)
    expected = refund_of_deposit(booking.deposit_cents)

    quote = services.cancel_booking(fresh(booking))
    assert quote.refund_cents == expected

    [at_stripe] = localstripe.refunds_of(intent.id)
    assert (at_stripe.amount, at_stripe.status) == (expected, "succeeded")
    deposit, refund = payments(booking)
    assert (refund.kind, refund.provider, refund.provider_reference, refund.amount_cents, refund.refund_of_id) == (
        "refund", "stripe", at_stripe.id, -expected, deposit.id)
    assert ledger.paid_cents(booking.id) == booking.deposit_cents - expected
    assert fresh(booking).status == "cancelled"


def test_cancelling_fewer_than_14_days_before_refunds_nothing(stripe_app, localstripe):
    booking = book(make_cohort(starts_in_days=13))
    intent = paid_deposit(localstripe, booking)
    assert services.cancel_booking(fresh(booking)).refund_cents == 0
    assert localstripe.refunds_of(intent.id) == []
    assert [p.kind for p in payments(booking)] == ["deposit"]


def test_a_clinician_declining_after_payment_refunds_everything_at_stripe(stripe_app, localstripe, staff_user):
    clinician = staff_user("clinician")
    booking = book(token=review_token(approved=True))
    intent = paid_deposit(localstripe, booking)
    screening = db.session.get(Screening, booking.screening_id)
    screening.review_status = "pending"  # the review reopened (new records arrived): no service does this yet
    db.session.commit()

    review.decide(booking.screening_id, "declined", "Not safe with the current medicines.", clinician)

    assert fresh(booking).status == "declined"
    [at_stripe] = localstripe.refunds_of(intent.id)
    assert at_stripe.amount == booking.deposit_cents
    assert [(p.kind, p.amount_cents, p.provider_reference) for p in payments(booking)] == [
        ("deposit", booking.deposit_cents, intent.id), ("refund", -booking.deposit_cents, at_stripe.id)]
    assert ledger.paid_cents(booking.id) == 0
