"""Monthly parts charged to the card saved with the deposit, off-session, against localstripe: each part on its day
(once, however often the job runs), a declined card retried once a day for 3 days with an email each time, then the
staff to-do. The clock is pinned (no webhooks here: Stripe signs those with the real clock); the deposit is
recorded from the pay page's return."""

from datetime import UTC, datetime, timedelta

import pytest
import sqlalchemy as sa
import time_machine

from retreat.booking import plans, services, todos
from retreat.booking.models import PaymentScheduleItem
from retreat.extensions import db
from retreat.payment_events import stripe as stripe_events
from retreat.payments.models import RequestedPayment
from tests.booking.support import make_cohort
from tests.payments.support import book, deposit_intent, emails, fresh, payments

pytestmark = pytest.mark.localstripe

PINNED = datetime(2027, 3, 10, 13, 30, tzinfo=UTC)


def _on(day):
    return time_machine.travel(datetime.combine(day, PINNED.timetz()), tick=True)


def _items(booking) -> list[PaymentScheduleItem]:
    db.session.rollback()
    return plans.items_of(booking.id)


def _booked_with_card(localstripe, card: str | None = None):
    booking = book(make_cohort(starts_in_days=200), payment_plan="installments")
    assert booking.save_card_consent  # choosing the plan is consenting to its charges
    stripe_events.confirm_from_return(booking, localstripe.pay(deposit_intent(booking)).id)
    confirmed = fresh(booking)
    assert confirmed.status == "confirmed" and confirmed.stripe_payment_method_id
    if card:
        failing = localstripe.client.v1.payment_methods.attach(card,
                                                              params={"customer": confirmed.stripe_customer_id})
        confirmed.stripe_payment_method_id = failing.id  # the card was since cancelled by its bank
        db.session.commit()
    return confirmed


def test_each_part_is_charged_to_the_saved_card_once_and_the_last_pays_in_full(stripe_app, localstripe):
    with time_machine.travel(PINNED, tick=True):
        booking = _booked_with_card(localstripe)
    parts = _items(booking)[1:]
    assert len(parts) == 4
    for number, part in enumerate(parts, start=1):
        with _on(part.due_date):
            assert services.charge_due_installments() == (1, 0)
            assert services.charge_due_installments() == (0, 0)  # a second run that day charges nothing
        rows = payments(booking)
        assert [row.kind for row in rows] == ["deposit"] + ["installment"] * number
        intent = localstripe.client.v1.payment_intents.retrieve(rows[-1].provider_reference)
        assert (intent.status, intent.amount, intent.customer, intent.metadata["kind"]) == (
            "succeeded", part.amount_cents, booking.stripe_customer_id, "installment")
    assert fresh(booking).status == "paid_in_full"
    assert [item.status for item in _items(booking)] == ["paid"] * 5
    asked = db.session.scalars(sa.select(RequestedPayment.kind).where(RequestedPayment.booking_id == booking.id))
    assert sorted(asked) == ["deposit"] + ["installment"] * 4
    off_session = [i for i in localstripe.client.v1.payment_intents.list().data
                   if i.metadata.to_dict().get("off_session") == "true"]
    assert len(off_session) == 4  # one PaymentIntent per part: nothing charged twice
    assert len(emails("receipt_installment")) == 4


def test_a_declined_part_is_retried_daily_for_three_days_then_given_to_staff(stripe_app, localstripe):
    with time_machine.travel(PINNED, tick=True):
        booking = _booked_with_card(localstripe, card="pm_card_chargeCustomerFail")
    first = _items(booking)[1]
    for day in range(4):  # its day, then three retries
        with _on(first.due_date + timedelta(days=day)):
            assert services.charge_due_installments() == (0, 1)
            assert services.charge_due_installments() == (0, 0)  # once a day
            assert todos.count("installment_failed") == (1 if day == 3 else 0)
        item = _items(booking)[1]
        assert (item.attempts, item.status) == (day + 1, "failed" if day == 3 else "scheduled")
        sent = emails("installment_charge_failed")
        assert len(sent) == day + 1
        assert "/pay" in sent[-1].body and "Your payment schedule" in sent[-1].body
        assert ("will not try the card again" in sent[-1].body) == (day == 3)
    with _on(first.due_date + timedelta(days=4)):
        assert services.charge_due_installments() == (0, 0)  # no fifth try: staff follow it up
        # The applicant can still pay that part by hand from the manage page.
        assert services.next_payment(fresh(booking)) == ("installment", first.amount_cents)
    assert [row.kind for row in payments(booking)] == ["deposit"]
    assert fresh(booking).status == "confirmed"
