"""`flask payments reconcile`: what Stripe has and the ledger lacks (a webhook that never arrived) is recorded."""

from datetime import timedelta

import pytest
import time_machine

from retreat.core.clock import now
from tests.payments.support import book, deposit_intent, fresh, payments

pytestmark = pytest.mark.localstripe


def reconcile(app, *options):
    result = app.test_cli_runner().invoke(args=["payments", "reconcile", *options])
    assert result.exit_code == 0, result.output
    return result.output


def test_reconcile_records_a_payment_whose_webhook_was_lost(stripe_app, localstripe):
    booking = book()
    intent = localstripe.pay(deposit_intent(booking))  # no webhook is delivered in this test
    dashboard = localstripe.client.v1.refunds.create(params={"payment_intent": intent.id, "amount": 2_500})
    not_here = localstripe.client.v1.payment_intents.create(params={
        "amount": 5_000, "currency": "usd", "payment_method_types": ["card"],
        "metadata": {"booking_reference": "RT-ZZZZZZ", "kind": "deposit"}})
    localstripe.pay(not_here.id)
    assert fresh(booking).status == "held" and payments(booking) == []

    output = reconcile(stripe_app)

    assert f"{booking.reference}: recorded the deposit of $994.00 ({intent.id}); the booking is confirmed" in output
    assert f"{booking.reference}: recorded a refund of $25.00 made at Stripe ({dashboard.id})" in output
    assert f"{not_here.id}: names booking RT-ZZZZZZ, which is not in this database" in output
    assert "Repaired 2 difference(s) of the last 72 hours." in output
    assert fresh(booking).status == "confirmed"
    assert [(p.kind, p.amount_cents, p.provider_reference) for p in payments(booking)] == [
        ("deposit", booking.deposit_cents, intent.id), ("refund", -2_500, dashboard.id)]

    assert "Nothing to repair" in reconcile(stripe_app)
    assert len(payments(booking)) == 2


def test_reconcile_looks_back_only_as_far_as_asked(stripe_app, localstripe):
    booking = book()
    localstripe.pay(deposit_intent(booking))
    with time_machine.travel(now() + timedelta(hours=2), tick=False):
        assert "Nothing to repair: the ledger has every Stripe payment of the last 1 hours." in reconcile(
            stripe_app, "--since-hours", "1")
    assert payments(booking) == []
    assert "Repaired 1 difference(s) of the last 3 hours." in reconcile(stripe_app, "--since-hours", "3")


def test_reconcile_without_stripe_says_so(app):
    result = app.test_cli_runner().invoke(args=["payments", "reconcile"])
    assert result.exit_code == 1 and "Stripe is not configured" in result.output
