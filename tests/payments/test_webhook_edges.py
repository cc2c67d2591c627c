"""Signed events the endpoint must not choke on: one without `data` (or `data.object`) is refused with 400, and a
charge.refunded for a payment that is not ours is acknowledged, logged and recorded once, never answered 503 for
ever (Stripe would deliver it again and again)."""

import json
import logging
import time

import pytest
import sqlalchemy as sa

from retreat.extensions import db
from retreat.payments import stripe_provider
from retreat.payments.models import Payment, ProcessedStripeEvent
from tests.support.localstripe import event_body, post_event

pytestmark = pytest.mark.localstripe


def signed_event(body: dict) -> bytes:
    return json.dumps({"object": "event", "api_version": "2024-06-20", "created": int(time.time()),
                       "livemode": False, **body}).encode()


@pytest.mark.parametrize(("case", "body"), [
    ("no data", {"id": "evt_nodata_1", "type": "payment_intent.succeeded"}),
    ("data without object", {"id": "evt_nodata_2", "type": "charge.refunded", "data": {}}),
    ("data.object null", {"id": "evt_nodata_3", "type": "payment_intent.payment_failed", "data": {"object": None}}),
    ("data.object without an id", {"id": "evt_nodata_4", "type": "charge.refunded",
                                   "data": {"object": {"object": "charge"}}}),
    ("data not an object", {"id": "evt_nodata_5", "type": "payment_intent.succeeded", "data": "x"}),
    ("no type", {"id": "evt_nodata_6", "data": {"object": {"id": "pi_1"}}}),
    ("an event of a type not handled", {"id": "evt_nodata_7", "type": "customer.created"}),
])
def test_a_signed_event_without_data_is_refused_with_400(stripe_app, client, case, body):
    response = post_event(client, signed_event(body), stripe_app.config["STRIPE_WEBHOOK_SECRET"])
    assert response.status_code == 400, case
    assert response.get_json()["error"]["code"] == "event_malformed"
    assert db.session.scalars(sa.select(ProcessedStripeEvent)).all() == []


def charge_event(localstripe, intent_id: str) -> bytes:
    intent = localstripe.client.v1.payment_intents.retrieve(intent_id)
    return event_body("charge.refunded",
                      localstripe.client.v1.charges.retrieve(stripe_provider.object_id(intent.latest_charge)))


@pytest.mark.parametrize("whose", ["unknown to Stripe", "without our metadata", "another site's booking",
                                   "no payment intent"])
def test_a_charge_refunded_that_is_not_ours_is_acknowledged_and_logged(stripe_app, client, localstripe, caplog,
                                                                        whose):
    secret = stripe_app.config["STRIPE_WEBHOOK_SECRET"]
    metadata = {"without our metadata": {}, "another site's booking": {"booking_reference": "RT-ZZZZZZ",
                                                                       "kind": "deposit"}}.get(whose, {})
    intent = localstripe.client.v1.payment_intents.create(params={
        "amount": 5_000, "currency": "usd", "payment_method_types": ["card"], "metadata": metadata})
    localstripe.pay(intent.id)
    localstripe.client.v1.refunds.create(params={"payment_intent": intent.id})
    body = charge_event(localstripe, intent.id)
    if whose == "unknown to Stripe":  # a charge of another account, or of a stand-in emptied since
        localstripe.clear()
    if whose == "no payment intent":
        event = json.loads(body)
        event["data"]["object"]["payment_intent"] = None
        body = json.dumps(event).encode()

    with caplog.at_level(logging.WARNING, logger="retreat"):
        first = post_event(client, body, secret)
    assert first.status_code == 200, (whose, first.get_data(as_text=True))
    assert first.get_json() == {"status": "ignored"}
    assert "acknowledged" in caplog.text or "not in this database" in caplog.text
    event_id = json.loads(body)["id"]
    assert db.session.get(ProcessedStripeEvent, event_id).event_type == "charge.refunded"
    assert db.session.scalars(sa.select(Payment)).all() == []
    assert post_event(client, body, secret).get_json() == {"status": "duplicate"}
