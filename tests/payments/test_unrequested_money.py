"""Money that does not match: a succeeded PaymentIntent moves a booking on only when the app created it for that
booking and it took the amount and currency asked. Anything else naming one of our bookings (an intent made
with the account's key and forged metadata, an amount or currency changed at Stripe) is recorded in the ledger
as received, flagged for finance (console, month close, one email to FINANCE_EMAIL) and changes no booking.
Real signed webhooks, from localstripe itself and made here from localstripe's objects."""

import re
from datetime import timedelta

import pytest
import sqlalchemy as sa

from retreat.booking import services
from retreat.core.audit import AuditEntry
from retreat.core.clock import now, today
from retreat.extensions import db
from retreat.payment_events import stripe as stripe_events
from retreat.payments import ledger, requested, stripe_provider
from retreat.payments.models import PaymentFlag
from tests.payments.support import (
    book,
    deposit_intent,
    emails,
    fresh,
    payments,
    wait_for_status,
    wait_until_handled,
)
from tests.support.localstripe import event_body, post_event

pytestmark = pytest.mark.localstripe

FINANCE = "finance@clinic.example"


def forged_intent(localstripe, booking, amount: int = 100, currency: str = "usd", kind: str = "deposit"):
    """What anyone with the account's secret key can do: a PaymentIntent whose metadata names our booking, paid."""
    intent = localstripe.client.v1.payment_intents.create(params={
        "amount": amount, "currency": currency, "payment_method_types": ["card"],
        "metadata": {"booking_reference": booking.reference, "kind": kind}})
    return localstripe.pay(intent.id)


def flags() -> list[PaymentFlag]:
    db.session.rollback()
    return list(db.session.scalars(sa.select(PaymentFlag).order_by(PaymentFlag.id)))


def test_a_forged_one_dollar_deposit_is_flagged_for_finance_and_confirms_nothing(webhooks, recorder, localstripe,
                                                                                 client, login_as):
    booking = book()
    forged = forged_intent(localstripe, booking)
    assert forged.status == "succeeded"

    delivery = recorder.wait_for("payment_intent.succeeded", forged.id)
    wait_until_handled(delivery.event["id"])
    held = fresh(booking)
    assert held.status == "held" and held.confirmed_at is None
    [row] = ledger.flagged_payments_of(booking.id)
    assert (row.kind, row.amount_cents, row.provider_reference, row.flagged) == ("deposit", 100, forged.id, True)
    assert payments(booking) == [] and ledger.paid_cents(booking.id) == 0 and ledger.received_cents(booking.id) == 0
    assert services.next_payment(held) == ("deposit", booking.deposit_cents)  # still owed in full
    [flag] = flags()
    assert (flag.payment_id, flag.reason, flag.resolved_at) == (row.id, "not_requested", None)
    [alert] = emails("payment_flagged")
    assert alert.to_address == FINANCE and booking.reference in alert.body and forged.id in alert.body
    assert emails("receipt_deposit") == []

    # Stripe delivering the same signed event again, and the intent seen again by reconcile: still one flag, one
    # email, one ledger row.
    again = client.post("/webhooks/stripe", data=delivery.body,
                        headers={"Stripe-Signature": delivery.signature, "Content-Type": "application/json"})
    assert again.get_json() == {"status": "duplicate"}
    result = stripe_events.reconcile(since=now() - timedelta(hours=1))
    assert not [line for line in result.repairs if forged.id in line]
    assert len(flags()) == 1 and len(emails("payment_flagged")) == 1
    assert len(ledger.flagged_payments_of(booking.id)) == 1

    # The finance console lists it; the month close counts it.
    login_as("finance")
    ledger_page = client.get("/staff/finance").get_data(as_text=True)
    assert 'data-total="open-flags">1<' in ledger_page and forged.id in ledger_page
    close = client.get("/staff/finance/close", query_string={"month": f"{today():%Y-%m}"}).get_data(as_text=True)
    assert 'data-total="open-flags">1<' in close
    assert "1 payment of $1.00 recorded this month was flagged for finance" in re.sub(r"<[^>]+>", "", close)
    money = client.get(f"/staff/finance/bookings/{booking.reference}").get_data(as_text=True)
    assert 'data-total="flagged"><span class="">$1.00' in money
    assert 'data-total="paid"><span class="">$0.00' in money
    staff = client.get(f"/staff/bookings/{booking.reference}").get_data(as_text=True)
    assert "Money flagged for finance" in staff and forged.id in staff and "waiting for finance" in staff
    assert 'data-total="paid">$0.00 ' in staff
    manage = client.get(f"/bookings/manage/{services.manage_token(held)}").get_data(as_text=True)
    assert forged.id not in manage and "$1.00" not in manage and "Your seat is held" in manage

    # The booking's own intent, paid, still confirms it.
    own = localstripe.pay(deposit_intent(fresh(booking)))
    confirmed = wait_for_status(booking, "confirmed")
    assert [(p.kind, p.amount_cents, p.provider_reference) for p in payments(confirmed)] == [
        ("deposit", booking.deposit_cents, own.id)]
    assert ledger.paid_cents(booking.id) == booking.deposit_cents


def _recorded_then_paid(localstripe, booking, *, asked_cents, asked_currency, paid_cents, paid_currency):
    """An intent the app recorded as asking `asked`, which Stripe charged as `paid` (changed at Stripe after
    the app created it)."""
    intent = localstripe.client.v1.payment_intents.create(params={
        "amount": paid_cents, "currency": paid_currency, "payment_method_types": ["card"],
        "metadata": {"booking_reference": booking.reference, "kind": "deposit"}})
    requested.remember(booking, kind="deposit", amount_cents=asked_cents, currency=asked_currency,
                       provider="stripe", provider_reference=intent.id)
    localstripe.pay(intent.id)
    return localstripe.client.v1.payment_intents.retrieve(intent.id)


@pytest.mark.parametrize(("case", "paid", "reason", "words"), [
    ("not asked for", None, "not_requested", "did not create"),
    ("another amount", (99_300, "usd"), "amount", "$993.00 paid where $994.00 was asked"),
    ("another currency", (99_400, "eur"), "currency", "994.00 EUR paid where $994.00 was asked"),
    ("the amount asked", (99_400, "usd"), None, None),
])
def test_only_the_payment_asked_for_moves_the_booking(stripe_app, localstripe, client, case, paid, reason, words):
    booking = book()
    if paid is None:  # forged metadata, the full deposit
        intent = forged_intent(localstripe, booking, amount=booking.deposit_cents)
    else:
        intent = _recorded_then_paid(localstripe, booking, asked_cents=booking.deposit_cents, asked_currency="usd",
                                     paid_cents=paid[0], paid_currency=paid[1])
    response = post_event(client, event_body("payment_intent.succeeded",
                                             localstripe.client.v1.payment_intents.retrieve(intent.id)),
                          stripe_app.config["STRIPE_WEBHOOK_SECRET"])
    assert response.status_code == 200
    if reason is None:
        assert response.get_json() == {"status": "handled"}
        assert fresh(booking).status == "confirmed" and flags() == [] and emails("payment_flagged") == []
        return
    assert response.get_json() == {"status": "flagged"}, case
    assert fresh(booking).status == "held", case
    [flag] = flags()
    assert flag.reason == reason and words in flag.detail, (case, flag.detail)
    assert payments(booking) == [] and ledger.paid_cents(booking.id) == 0
    [alert] = emails("payment_flagged")
    assert words in alert.body
    [entry] = db.session.scalars(sa.select(AuditEntry).where(AuditEntry.action == "payment.flagged")).all()
    assert entry.details["reason"] == reason


def test_a_forged_intent_is_flagged_on_the_return_page_and_by_reconcile_too(stripe_app, localstripe):
    booking, other = book(), book()
    on_return = forged_intent(localstripe, booking, amount=booking.deposit_cents)
    outcome = stripe_events.confirm_from_return(booking, on_return.id)
    assert outcome.flagged and outcome.created and fresh(booking).status == "held"

    lost = forged_intent(localstripe, other, amount=other.deposit_cents, kind="balance")
    output = stripe_app.test_cli_runner().invoke(args=["payments", "reconcile"]).output
    assert (f"{other.reference}: recorded $994.00 ({lost.id}) that this site did not ask for; flagged for finance, "
            "the booking unchanged") in output
    assert fresh(other).status == "held"
    assert sorted(f.reason for f in flags()) == ["not_requested", "not_requested"]
    assert len(emails("payment_flagged")) == 2


def test_finance_marks_flagged_money_reviewed_and_a_full_refund_at_stripe_reviews_it(stripe_app, localstripe,
                                                                                    client, login_as):
    booking = book()
    kept = forged_intent(localstripe, booking, amount=500)
    returned = forged_intent(localstripe, booking, amount=700)
    for intent in (kept, returned):
        stripe_events.record_succeeded_intent(localstripe.client.v1.payment_intents.retrieve(intent.id),
                                                actor="test")
    first, second = flags()

    user = login_as("finance")
    refused = client.post(f"/staff/finance/flags/{first.id}/resolve", data={"resolution": "  "})
    assert refused.status_code == 303 and flags()[0].resolved_at is None
    done = client.post(f"/staff/finance/flags/{first.id}/resolve",
                       data={"resolution": "The applicant's own test payment; kept against the deposit."})
    assert done.status_code == 303
    assert (flags()[0].resolved_by_id, flags()[0].resolution) == (
        user.id, "The applicant's own test payment; kept against the deposit.")
    [entry] = db.session.scalars(sa.select(AuditEntry).where(AuditEntry.action == "payment.flag_resolved")).all()
    assert entry.actor_email == user.email
    assert client.post("/staff/finance/flags/999999/resolve", data={"resolution": "x"}).status_code == 404

    localstripe.client.v1.refunds.create(params={"payment_intent": returned.id})  # from the dashboard
    charge = localstripe.client.v1.charges.retrieve(
        stripe_provider.object_id(localstripe.client.v1.payment_intents.retrieve(returned.id).latest_charge))
    response = post_event(client, event_body("charge.refunded", charge), stripe_app.config["STRIPE_WEBHOOK_SECRET"])
    assert response.get_json() == {"status": "handled"}
    assert flags()[1].resolved_at is not None and "refunded in full" in flags()[1].resolution
    assert [(p.kind, p.amount_cents) for p in ledger.flagged_payments_of(booking.id)] == [
        ("deposit", 500), ("deposit", 700), ("refund", -700)]
    assert fresh(booking).status == "held" and ledger.paid_cents(booking.id) == 0  # nothing of it was the booking's
    assert 'data-total="open-flags"' not in client.get("/staff/finance").get_data(as_text=True)
