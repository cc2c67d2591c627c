"""Refunds are decided with the change that owes them and asked of Stripe after it commits: a crash on either side
of Stripe accepting a refund leaves nothing half-done, the retry job and reconcile finish a refund left pending,
and localstripe never holds two refunds for one."""

import pytest

from retreat.booking import emails as booking_emails
from retreat.booking import services
from retreat.payment_events import stripe as stripe_events
from retreat.payments import ledger, refunds, stripe_provider
from retreat.payments.models import PendingRefund
from tests.booking.support import make_cohort
from tests.payments.support import book, deposit_intent, fresh, payments
from tests.support.localstripe import event_body, post_event

pytestmark = pytest.mark.localstripe


def confirmed_booking(localstripe, starts_in_days: int = 60):
    booking = book(make_cohort(starts_in_days=starts_in_days))
    intent = localstripe.pay(deposit_intent(booking))
    assert stripe_events.confirm_from_return(booking, intent.id).booking.status == "confirmed"
    return fresh(booking), intent


def test_a_crash_before_the_commit_refunds_nothing_and_cancels_nothing(stripe_app, localstripe, monkeypatch):
    """The cancellation's transaction fails after its refund was decided (here: writing the applicant's refund
    email): Stripe was never asked, so the money and the booking agree."""
    booking, intent = confirmed_booking(localstripe)

    def crash(*args, **kwargs):
        raise RuntimeError("the process died before the commit")

    monkeypatch.setattr(booking_emails, "refund_issued", crash)
    with pytest.raises(RuntimeError):
        services.cancel_booking(booking)
    assert fresh(booking).status == "confirmed"
    assert localstripe.refunds_of(intent.id) == []
    assert [p.kind for p in payments(booking)] == ["deposit"] and refunds.pending_of(booking.id) == []
    assert ledger.paid_cents(booking.id) == booking.deposit_cents


def crash_after_stripe_accepted(monkeypatch):
    """The sender dies after Stripe made the refund and before it wrote it down."""
    def crash(refund_id, made):
        raise RuntimeError("the process died after Stripe accepted the refund")

    monkeypatch.setattr(refunds, "_finish", crash)


@pytest.mark.parametrize("finisher", ["retry-refunds", "reconcile"])
def test_a_crash_after_stripe_accepted_a_refund_is_finished_once(stripe_app, localstripe, monkeypatch, finisher):
    booking, intent = confirmed_booking(localstripe)
    with monkeypatch.context() as patched:
        crash_after_stripe_accepted(patched)
        quote = services.cancel_booking(booking)
    expected = booking.deposit_cents - 100_00
    assert quote.refund_cents == expected

    # The cancellation and its refund committed together; Stripe made the refund; the ledger does not have it yet.
    assert fresh(booking).status == "cancelled"
    [made] = localstripe.refunds_of(intent.id)
    assert made.amount == expected and made.metadata.to_dict()["retreat_refund"].startswith("refund-")
    [pending] = refunds.pending_of(booking.id)
    assert (pending.amount_cents, pending.attempts, pending.status) == (expected, 1, "pending")
    assert [p.kind for p in payments(booking)] == ["deposit"]
    assert ledger.paid_cents(booking.id) == 100_00  # the pending refund counts as returned: never refunded again

    args = ["payments", finisher]
    result = stripe_app.test_cli_runner().invoke(args=args)
    assert result.exit_code == 0, result.output
    assert made.id in result.output

    assert [m.id for m in localstripe.refunds_of(intent.id)] == [made.id]  # found, not made again
    deposit, refund = payments(booking)
    assert (refund.kind, refund.amount_cents, refund.provider_reference, refund.refund_of_id) == (
        "refund", -expected, made.id, deposit.id)
    assert refunds.pending_of(booking.id) == []
    assert fresh_pending(pending.id).status == "sent" and fresh_pending(pending.id).provider_reference == made.id
    assert ledger.paid_cents(booking.id) == 100_00

    again = stripe_app.test_cli_runner().invoke(args=args)  # safe to repeat
    assert again.exit_code == 0 and len(localstripe.refunds_of(intent.id)) == 1 and len(payments(booking)) == 2


def fresh_pending(refund_id: int) -> PendingRefund:
    from retreat.extensions import db
    db.session.rollback()
    return db.session.get(PendingRefund, refund_id)


def test_stripes_webhook_for_a_refund_left_pending_finishes_it(stripe_app, localstripe, client, monkeypatch):
    """Stripe's charge.refunded for the app's own refund, arriving before the sender wrote it down, finishes
    that pending refund: it is not a refund made in the dashboard (which would cancel by the clinic)."""
    booking, intent = confirmed_booking(localstripe, starts_in_days=20)  # 14-29 days: half refunded
    with monkeypatch.context() as patched:
        crash_after_stripe_accepted(patched)
        services.cancel_booking(booking)
    [made] = localstripe.refunds_of(intent.id)
    charge = localstripe.client.v1.charges.retrieve(
        stripe_provider.object_id(localstripe.client.v1.payment_intents.retrieve(intent.id).latest_charge))
    response = post_event(client, event_body("charge.refunded", charge), stripe_app.config["STRIPE_WEBHOOK_SECRET"])
    assert response.status_code == 200 and response.get_json() == {"status": "handled"}
    [_, refund] = payments(booking)
    assert (refund.provider_reference, refund.amount_cents, refund.note) == (
        made.id, -(booking.deposit_cents // 2), "cancellation: 14 to 29 days before the start: half of what was paid")
    assert refunds.pending_of(booking.id) == []
    assert refunds.retry_pending().sent == [] and len(localstripe.refunds_of(intent.id)) == 1


def test_a_refund_is_never_asked_twice_while_a_sender_holds_it(stripe_app, localstripe, monkeypatch):
    """A second sender (the retry job) finds the refund claimed by the first, which is still asking Stripe, and
    leaves it alone; once the claim lapses, a retry looks at Stripe first."""
    booking, intent = confirmed_booking(localstripe)
    stripe_app.config["STRIPE_API_BASE"] = "http://127.0.0.1:9/"  # Stripe unreachable: the refund stays pending
    services.cancel_booking(booking)
    stripe_app.config["STRIPE_API_BASE"] = localstripe.url
    [pending] = refunds.pending_of(booking.id)
    assert pending.attempts == 1 and pending.claimed_at is None and "could not be reached" in pending.last_error

    assert refunds._claim(pending.id)  # a sender takes it and is asking Stripe right now
    assert refunds.send(pending.id) == "busy"
    assert localstripe.refunds_of(intent.id) == []
