"""The Stripe provider against localstripe: starting a payment, the return page, and Stripe unreachable."""

import pytest

from retreat.booking import services
from retreat.core.errors import NotFound
from retreat.payment_events import stripe as stripe_events
from retreat.payments import ledger, refunds
from retreat.payments.providers import ProviderUnavailable
from tests.payments.support import book, deposit_intent, fresh, payments
from tests.support.localstripe import NOWHERE, PUBLISHABLE_KEY

pytestmark = pytest.mark.localstripe


def test_starting_a_deposit_creates_a_payment_intent_for_the_booking(stripe_app, localstripe):
    booking = book()
    start = services.start_payment(booking)
    assert start.as_json()["provider"] == "stripe" and start.status == "requires_payment"
    assert (start.kind, start.amount_cents) == ("deposit", booking.deposit_cents)
    assert start.fields["publishable_key"] == PUBLISHABLE_KEY
    intent = localstripe.client.v1.payment_intents.retrieve(start.fields["payment_intent"])
    assert start.fields["client_secret"] == intent.client_secret
    assert (intent.amount, intent.currency, intent.status) == (booking.deposit_cents, "usd",
                                                               "requires_payment_method")
    assert intent.metadata.to_dict() == {"booking_reference": booking.reference, "kind": "deposit"}
    assert intent.customer is None  # no card to save without the applicant's consent


def test_with_consent_the_deposit_belongs_to_a_customer_to_keep_the_card(stripe_app, localstripe):
    booking = book(save_card=True)
    intent = localstripe.client.v1.payment_intents.retrieve(deposit_intent(booking))
    customer = localstripe.client.v1.customers.retrieve(intent.customer)
    assert customer.email == booking.applicant_email
    assert customer.metadata.to_dict() == {"booking_reference": booking.reference}

    paid = localstripe.pay(intent.id)
    stripe_events.confirm_from_return(booking, paid.id)
    kept = fresh(booking)
    assert kept.stripe_customer_id == customer.id
    method = localstripe.client.v1.payment_methods.retrieve(kept.stripe_payment_method_id)
    assert method.customer == customer.id


def test_the_return_page_records_a_succeeded_payment_once(stripe_app, localstripe):
    booking = book()
    intent_id = deposit_intent(booking)
    assert stripe_events.confirm_from_return(booking, intent_id) is None  # not paid yet
    assert fresh(booking).status == "held" and payments(booking) == []

    localstripe.pay(intent_id)
    first = stripe_events.confirm_from_return(fresh(booking), intent_id)
    again = stripe_events.confirm_from_return(fresh(booking), intent_id)
    assert first.created and not again.created
    assert first.booking.status == "confirmed"
    assert [(p.kind, p.amount_cents, p.provider_reference) for p in payments(booking)] == [
        ("deposit", booking.deposit_cents, intent_id)]


@pytest.mark.parametrize("whose", ["another booking's", "unknown", "not an id"])
def test_the_return_page_refuses_a_payment_that_is_not_the_bookings(stripe_app, localstripe, whose):
    booking, other = book(), book()
    intent_id = {"another booking's": lambda: deposit_intent(other), "unknown": lambda: "pi_doesnotexist1234",
                 "not an id": lambda: "../../v1/customers"}[whose]()
    if whose == "another booking's":
        localstripe.pay(intent_id)
    with pytest.raises(NotFound):
        stripe_events.confirm_from_return(booking, intent_id)
    assert payments(booking) == [] and payments(other) == []


def test_stripe_unreachable_keeps_the_cancellation_and_its_refund_waits_for_the_retry(stripe_app, localstripe):
    booking = book()
    intent = localstripe.pay(deposit_intent(booking))
    stripe_events.confirm_from_return(booking, intent.id)
    stripe_app.config["STRIPE_API_BASE"] = NOWHERE

    with pytest.raises(ProviderUnavailable) as refused:
        services.start_payment(fresh(booking))
    assert refused.value.status == 503
    quote = services.cancel_booking(fresh(booking))  # the refund is decided; Stripe is asked after the commit
    assert fresh(booking).status == "cancelled"
    assert [p.kind for p in payments(booking)] == ["deposit"]
    [pending] = refunds.pending_of(booking.id)
    assert (pending.amount_cents, pending.attempts) == (quote.refund_cents, 1) and pending.last_error
    assert ledger.paid_cents(booking.id) == booking.deposit_cents - quote.refund_cents

    stripe_app.config["STRIPE_API_BASE"] = localstripe.url
    result = stripe_app.test_cli_runner().invoke(args=["payments", "retry-refunds"])
    assert result.exit_code == 0 and "Sent 1 refund(s); 0 still pending." in result.output
    [made] = localstripe.refunds_of(intent.id)
    assert made.amount == quote.refund_cents
    assert [(p.kind, p.provider_reference) for p in payments(booking)] == [("deposit", intent.id),
                                                                           ("refund", made.id)]
    assert refunds.pending_of(booking.id) == []
