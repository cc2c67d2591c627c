"""The balance charged to the card saved with the deposit (the applicant's consent), off-session, when due."""

import pytest

from retreat.booking import services
from retreat.extensions import db
from retreat.payment_events import stripe as stripe_events
from tests.payments.support import book, deposit_intent, emails, fresh, payments, wait_for_status, wait_until_handled

pytestmark = pytest.mark.localstripe


def test_the_balance_is_charged_to_the_saved_card_when_due(webhooks, recorder, localstripe):
    booking = book(save_card=True)
    deposit = localstripe.pay(deposit_intent(booking))
    confirmed = wait_for_status(booking, "confirmed")  # the webhook kept the card with the deposit
    assert confirmed.stripe_customer_id and confirmed.stripe_payment_method_id

    assert services.charge_due_balances(on=confirmed.balance_due_date) == (1, 0)

    paid = fresh(booking)
    assert paid.status == "paid_in_full"
    deposit_row, balance_row = payments(booking)
    assert deposit_row.provider_reference == deposit.id
    intent = localstripe.client.v1.payment_intents.retrieve(balance_row.provider_reference)
    assert (intent.status, intent.amount, intent.customer, intent.metadata["kind"]) == (
        "succeeded", booking.balance_cents, confirmed.stripe_customer_id, "balance")
    assert (balance_row.kind, balance_row.amount_cents, balance_row.fee_cents) == ("balance", booking.balance_cents, 0)
    assert [e.kind for e in emails("receipt_balance")] == ["receipt_balance"]

    # Stripe's webhook for the same charge arrives afterwards and changes nothing.
    wait_until_handled(recorder.wait_for("payment_intent.succeeded", intent.id).event["id"])
    assert len(payments(booking)) == 2 and len(emails("receipt_balance")) == 1


def test_a_declined_saved_card_leaves_the_balance_to_pay_from_the_manage_page(webhooks, recorder, localstripe):
    booking = book(save_card=True)
    stripe_events.confirm_from_return(booking, localstripe.pay(deposit_intent(booking)).id)
    confirmed = fresh(booking)
    failing = localstripe.client.v1.payment_methods.attach(
        "pm_card_chargeCustomerFail", params={"customer": confirmed.stripe_customer_id})
    confirmed.stripe_payment_method_id = failing.id  # the saved card has since been cancelled by its bank
    db.session.commit()

    assert services.charge_due_balances(on=confirmed.balance_due_date) == (0, 1)

    assert fresh(booking).status == "confirmed" and [p.kind for p in payments(booking)] == ["deposit"]
    [email] = emails("balance_charge_failed")
    assert "declined" in email.body.lower() and email.to_address == booking.applicant_email
    # Stripe's payment_failed webhook for that charge sends no second email: the charging job wrote one.
    failed_intent = next(intent for intent in localstripe.client.v1.payment_intents.list().data
                         if intent.metadata.to_dict().get("off_session") == "true")
    wait_until_handled(recorder.wait_for("payment_intent.payment_failed", failed_intent.id).event["id"])
    assert emails("payment_failed") == []
