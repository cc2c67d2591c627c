"""POST /webhooks/stripe with real signed events: localstripe's own deliveries to the live app, and events made
and signed here from localstripe's objects (for what localstripe does not send, and to break signatures)."""

import json
import time
from datetime import timedelta

import pytest
import sqlalchemy as sa
import stripe
import time_machine
from sqlalchemy.exc import OperationalError

from retreat.booking import services
from retreat.extensions import db
from retreat.payment_events import stripe as stripe_events
from retreat.payments import ledger, stripe_provider
from retreat.payments.models import ProcessedStripeEvent
from tests.payments.support import (
    book,
    deposit_intent,
    emails,
    fresh,
    handled,
    payments,
    wait_for_status,
    wait_until_handled,
)
from tests.support.localstripe import event_body, post_event, sign

pytestmark = pytest.mark.localstripe


def test_a_deposit_paid_at_stripe_confirms_the_booking_through_the_webhook(webhooks, recorder, localstripe):
    booking = book()
    intent = localstripe.pay(deposit_intent(booking))
    assert intent.status == "succeeded"

    confirmed = wait_for_status(booking, "confirmed")
    assert confirmed.hold_expires_at is None
    [payment] = payments(booking)
    assert (payment.kind, payment.provider, payment.provider_reference, payment.amount_cents) == (
        "deposit", "stripe", intent.id, booking.deposit_cents)
    # From the charge's balance transaction: localstripe charges no fee.
    assert (payment.fee_cents, payment.net_cents) == (0, booking.deposit_cents)
    [receipt] = emails("receipt_deposit")
    assert intent.id in receipt.body
    delivery = recorder.wait_for("payment_intent.succeeded", intent.id)
    wait_until_handled(delivery.event["id"])
    assert db.session.get(ProcessedStripeEvent, delivery.event["id"]).event_type == "payment_intent.succeeded"


def test_the_same_signed_event_delivered_again_changes_nothing(webhooks, recorder, localstripe, client):
    booking = book()
    intent = localstripe.pay(deposit_intent(booking))
    delivery = recorder.wait_for("payment_intent.succeeded", intent.id)
    wait_until_handled(delivery.event["id"])

    for _ in range(2):  # the very bytes and signature localstripe sent, twice more
        again = client.post("/webhooks/stripe", data=delivery.body,
                            headers={"Stripe-Signature": delivery.signature, "Content-Type": "application/json"})
        assert again.status_code == 200 and again.get_json() == {"status": "duplicate"}
    assert fresh(booking).status == "confirmed"
    assert len(payments(booking)) == 1
    assert len(emails("receipt_deposit")) == 1
    assert db.session.scalar(sa.select(sa.func.count()).select_from(ProcessedStripeEvent).where(
        ProcessedStripeEvent.event_id == delivery.event["id"])) == 1


def test_a_declined_card_keeps_the_hold_until_it_lapses(webhooks, recorder, localstripe):
    booking = book()
    intent_id = deposit_intent(booking)
    declined = localstripe.pay(intent_id, card="pm_card_chargeCustomerFail")
    assert isinstance(declined, stripe.CardError)

    wait_until_handled(recorder.wait_for("payment_intent.payment_failed", intent_id).event["id"])
    [email] = emails("payment_failed")
    assert email.to_address == booking.applicant_email
    assert "did not go through" in email.body and "declined" in email.body.lower()
    assert "still held" in email.body
    held = fresh(booking)
    assert held.status == "held" and payments(booking) == []

    with time_machine.travel(held.hold_expires_at + timedelta(seconds=1), tick=False):
        assert services.expire_lapsed_holds() == 1
    assert fresh(booking).status == "expired"


@pytest.fixture
def paid_intent(stripe_app, localstripe):
    """A booking whose deposit succeeded at Stripe while no webhook was delivered: (booking, intent)."""
    booking = book()
    intent = localstripe.pay(deposit_intent(booking))
    assert intent.status == "succeeded"
    return booking, localstripe.client.v1.payment_intents.retrieve(intent.id)


def test_a_missing_or_bad_signature_is_refused_and_changes_nothing(stripe_app, client, paid_intent):
    booking, intent = paid_intent
    body = event_body("payment_intent.succeeded", intent)
    secret = stripe_app.config["STRIPE_WEBHOOK_SECRET"]
    tampered = body.replace(b'"kind": "deposit"', b'"kind": "balance"')
    assert tampered != body
    refusals = {
        "signature_missing": {},
        "signature_invalid": {"Stripe-Signature": "t=1,v1=00"},
        "signed with another secret": {"Stripe-Signature": sign(body, "whsec_not_ours")},
        "signed for another body": {"Stripe-Signature": sign(tampered, secret)},
        "signed too long ago": {"Stripe-Signature": sign(body, secret, timestamp=int(time.time()) - 3600)},
    }
    for case, headers in refusals.items():
        response = client.post("/webhooks/stripe", data=body, headers={"Content-Type": "application/json",
                                                                        **headers})
        assert response.status_code == 400, case
        assert response.get_json()["error"]["code"] == (
            "signature_missing" if case == "signature_missing" else "signature_invalid"), case
    assert fresh(booking).status == "held" and payments(booking) == []
    assert db.session.scalars(sa.select(ProcessedStripeEvent)).all() == []

    signed = post_event(client, body, secret)  # the same event, signed properly, is taken
    assert signed.status_code == 200 and fresh(booking).status == "confirmed"


def test_a_database_failure_answers_5xx_so_stripe_delivers_again(stripe_app, client, paid_intent, monkeypatch):
    booking, intent = paid_intent
    body = event_body("payment_intent.succeeded", intent)
    secret = stripe_app.config["STRIPE_WEBHOOK_SECRET"]

    def database_down(*args, **kwargs):
        raise OperationalError("INSERT INTO payment ...", {}, Exception("could not write to the database"))

    monkeypatch.setattr(ledger, "record_payment", database_down)
    failed = post_event(client, body, secret)
    assert failed.status_code == 503 and failed.get_json()["error"]["code"] == "database_unavailable"
    assert fresh(booking).status == "held" and payments(booking) == []
    event_id = json.loads(body)["id"]
    assert not handled(event_id)

    monkeypatch.undo()
    retried = post_event(client, body, secret)
    assert retried.status_code == 200 and retried.get_json() == {"status": "handled"}
    assert fresh(booking).status == "confirmed" and len(payments(booking)) == 1
    assert handled(event_id)


def test_events_not_handled_or_for_bookings_not_here_are_acknowledged(stripe_app, client, localstripe):
    secret = stripe_app.config["STRIPE_WEBHOOK_SECRET"]
    customer = localstripe.client.v1.customers.create(params={"email": "someone@example.org"})
    ignored = post_event(client, event_body("customer.created", customer), secret)
    assert ignored.status_code == 200 and ignored.get_json() == {"status": "ignored"}

    elsewhere = localstripe.client.v1.payment_intents.create(params={
        "amount": 5000, "currency": "usd", "payment_method_types": ["card"],
        "metadata": {"booking_reference": "RT-ZZZZZZ", "kind": "deposit"}})
    localstripe.pay(elsewhere.id)
    unknown = post_event(client, event_body("payment_intent.succeeded",
                                            localstripe.client.v1.payment_intents.retrieve(elsewhere.id)), secret)
    assert unknown.status_code == 200 and unknown.get_json() == {"status": "unknown_booking"}
    assert db.session.scalars(sa.select(ProcessedStripeEvent.event_type)).all() == ["payment_intent.succeeded"]


def _charge_of(localstripe, intent_id: str):
    intent = localstripe.client.v1.payment_intents.retrieve(intent_id)
    return localstripe.client.v1.charges.retrieve(stripe_provider.object_id(intent.latest_charge))


def test_a_refund_made_in_the_stripe_dashboard_enters_the_ledger_once(stripe_app, client, localstripe, paid_intent):
    booking, intent = paid_intent
    secret = stripe_app.config["STRIPE_WEBHOOK_SECRET"]
    stripe_events.confirm_from_return(booking, intent.id)  # the deposit is in the ledger
    dashboard = localstripe.client.v1.refunds.create(params={"payment_intent": intent.id, "amount": 5_000})

    body = event_body("charge.refunded", _charge_of(localstripe, intent.id))
    first = post_event(client, body, secret)
    assert first.status_code == 200 and first.get_json() == {"status": "handled"}
    assert post_event(client, body, secret).get_json() == {"status": "duplicate"}
    [deposit, refund] = payments(booking)
    assert (refund.kind, refund.amount_cents, refund.provider_reference, refund.refund_of_id) == (
        "refund", -5_000, dashboard.id, deposit.id)
    assert fresh(booking).status == "confirmed"  # a refund at Stripe moves money, not the booking

    services.cancel_booking(fresh(booking))  # our own refund, recorded by the cancellation under its id
    assert len(localstripe.refunds_of(intent.id)) == 2
    later = post_event(client, event_body("charge.refunded", _charge_of(localstripe, intent.id)), secret)
    assert later.status_code == 200
    assert [p.kind for p in payments(booking)] == ["deposit", "refund", "refund"]
    assert ledger.paid_cents(booking.id) == 10_000  # what was left after the dashboard refund, less the $100 fee


def test_a_refund_of_a_payment_whose_webhook_was_lost_records_both(stripe_app, client, localstripe, paid_intent):
    booking, intent = paid_intent
    localstripe.client.v1.refunds.create(params={"payment_intent": intent.id})  # all of it, from the dashboard
    response = post_event(client, event_body("charge.refunded", _charge_of(localstripe, intent.id)),
                          stripe_app.config["STRIPE_WEBHOOK_SECRET"])
    assert response.status_code == 200
    assert [(p.kind, p.amount_cents) for p in payments(booking)] == [
        ("deposit", booking.deposit_cents), ("refund", -booking.deposit_cents)]
