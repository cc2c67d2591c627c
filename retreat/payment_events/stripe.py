"""What Stripe reports, turned into bookings' changes: a succeeded PaymentIntent (webhook, the pay page's return,
reconcile), a failed one, and refunds made at Stripe.

Every PaymentIntent the app creates is written down (payments.requested) before it can be paid; a succeeded intent
moves its booking only when it is one of those, of the amount and currency asked, and is otherwise recorded for
finance (payments.flags). Every Stripe payment is recorded under its PaymentIntent id and every Stripe refund under
its refund id, so the ledger's idempotency (one row per provider reference) makes each path safe to repeat.

Stripe first, then the database: what needs Stripe (a charge's fee, the card to keep, a payment's refunds) is read
before the unit of work that records it opens, so no lock is held while Stripe answers.
"""

from dataclasses import dataclass
from datetime import datetime

import sqlalchemy as sa
import stripe

from retreat.booking import availability, emails
from retreat.booking import services as booking_services
from retreat.booking.models import Booking
from retreat.core.errors import NotFound
from retreat.core.money import format_usd
from retreat.core.transactions import unit_of_work
from retreat.extensions import db
from retreat.notify import services as notify
from retreat.payments import flags, ledger, refunds, requested
from retreat.payments.contract import RefundResult
from retreat.payments.models import Payment, PendingRefund, RequestedPayment
from retreat.payments.stripe_provider import (
    PAYMENT_KINDS,
    REFUND_KEY,
    REFUND_STATUSES_MADE,
    calling_stripe,
    card_on_file,
    fee_and_net,
    metadata_of,
    recent_intents,
    refunds_at_stripe,
    stripe_client,
)

RECONCILE_ACTOR = "system (stripe reconcile)"


# --- A succeeded PaymentIntent -----------------------------------------------------------------------------------

@dataclass(frozen=True)
class IntentFacts:
    """A succeeded intent naming one of our bookings, with what Stripe had to be asked about it."""

    intent_id: str
    booking: Booking
    kind: str
    amount_cents: int
    currency: str
    asked: RequestedPayment | None  # the payment the app asked for, if it did
    fee_cents: int | None
    net_cents: int | None
    card: tuple[str, str] | None  # (customer, payment method) to keep for the balance


def intent_facts(intent) -> IntentFacts | None:
    """Read what recording a succeeded intent needs, Stripe's part included (call it before the unit of work that
    records it). None for an intent that has not succeeded or names no booking; NotFound when it names a booking
    this database does not have."""
    if getattr(intent, "status", None) != "succeeded":
        return None
    asked = requested.find("stripe", intent.id)
    if asked is not None:
        booking, kind = asked.booking, asked.kind
    else:
        metadata = metadata_of(intent)
        reference, kind = metadata.get("booking_reference"), metadata.get("kind")
        if not reference or kind not in PAYMENT_KINDS:
            return None
        booking = booking_services.booking_by_reference(reference)
    fee = net = None
    if ledger.find("stripe", intent.id) is None:
        fee, net = fee_and_net(getattr(intent, "latest_charge", None))
    amount = getattr(intent, "amount_received", None) or intent.amount  # localstripe has no amount_received
    currency = getattr(intent, "currency", None) or ""
    card = card_on_file(intent, booking) if requested.mismatch(asked, amount, currency) is None else None
    return IntentFacts(intent.id, booking, kind, amount, currency, asked, fee, net, card)


def record_intent(facts: IntentFacts, *, actor: str) -> booking_services.PaymentOutcome:
    """Record a succeeded intent in the caller's unit of work. One the app created for that booking, of the amount
    and currency asked, goes through payment_received and moves the booking on; anything else is money that
    arrived but is not the booking's: recorded for finance (outcome.flagged), the booking unchanged."""
    wrong = requested.mismatch(facts.asked, facts.amount_cents, facts.currency)
    if wrong is not None:
        recorded = flags.record_flagged(
            facts.booking, kind=facts.kind, amount_cents=facts.amount_cents, currency=facts.currency,
            provider="stripe", provider_reference=facts.intent_id, mismatch=wrong, fee_cents=facts.fee_cents,
            net_cents=facts.net_cents, actor=actor)
        return booking_services.PaymentOutcome(facts.booking, recorded.payment, recorded.created,
                                               flagged=recorded.payment.flagged)
    return booking_services.payment_received(
        facts.booking.reference, kind=facts.kind, amount_cents=facts.amount_cents, provider="stripe",
        provider_reference=facts.intent_id, fee_cents=facts.fee_cents, net_cents=facts.net_cents, actor=actor,
        card_on_file=facts.card)


def record_succeeded_intent(intent, *, actor: str) -> booking_services.PaymentOutcome | None:
    """intent_facts, then record_intent in a unit of work of its own. None for an intent that is not ours or has
    not succeeded; NotFound when it names a booking this database does not have."""
    facts = intent_facts(intent)
    if facts is None:
        return None
    with unit_of_work():
        return record_intent(facts, actor=actor)


def confirm_from_return(booking: Booking, payment_intent_id: object) -> booking_services.PaymentOutcome | None:
    """The pay page's return URL: record the booking's payment if Stripe says it succeeded (the webhook does
    the same; whichever comes first records it). None while it has not succeeded (processing, or declined);
    NotFound for an intent that is not this booking's."""
    if not isinstance(payment_intent_id, str) or not payment_intent_id.startswith("pi_") or \
            len(payment_intent_id) > 100:
        raise NotFound("There is no such payment for this booking.")
    with calling_stripe("reading a payment"):
        try:
            intent = stripe_client().v1.payment_intents.retrieve(payment_intent_id)
        except stripe.InvalidRequestError as error:
            if error.http_status == 404:
                raise NotFound("There is no such payment for this booking.") from None
            raise
    asked = requested.find("stripe", intent.id)
    if (asked.booking_id != booking.id) if asked is not None else (
            metadata_of(intent).get("booking_reference") != booking.reference):
        raise NotFound("There is no such payment for this booking.")
    return record_succeeded_intent(intent, actor="applicant (return page)")


def tell_payment_failed(intent) -> bool:
    """Queue the email telling an applicant their card payment failed (caller's unit of work): their hold stays and
    they may try another card. False for a charge the clinic made (the charging job writes its own email), an
    intent the app did not create (whatever its metadata says), or a booking that can no longer be paid."""
    asked = requested.find("stripe", intent.id)
    if asked is None or metadata_of(intent).get("off_session") == "true":  # metadata alone is no proof
        return False
    booking = asked.booking
    if booking_services.next_payment(booking) is None:
        return False
    error = getattr(intent, "last_payment_error", None)
    message = (getattr(error, "message", None) if error is not None else None) or "the card was declined."
    notify.enqueue(*emails.payment_failed(booking, booking_services.manage_token(booking), message))
    return True


# --- Refunds made at Stripe ---------------------------------------------------------------------------------------

@dataclass(frozen=True)
class RecordedRefunds:
    at_stripe: list[Payment]  # refunds made at Stripe (its dashboard), new in the ledger
    finished: list[Payment]  # refunds the app asked for, written down here for a sender that did not
    cancelled: bool = False  # the booking was cancelled: its seat is free


def record_refunds(payment_intent_id: str, refunds_made: list, *, actor: str) -> RecordedRefunds:
    """Record the refunds of a PaymentIntent that Stripe made and the ledger lacks, in the caller's unit of work,
    holding the booking's cohort:

    - a refund the app asked for (its metadata names a pending refund of this payment) finishes that pending
      refund: a sender that crashed after Stripe made it, or the webhook arriving before the sender wrote it down;
    - any other is a refund made at Stripe (its dashboard), recorded as such. When refunds made at Stripe have
      returned everything a confirmed booking paid, the booking is cancelled by the clinic and its seat freed
      (booking.services.cancel_when_refunded_in_full); a partial refund moves money, not the booking. A refund of
      flagged money is flagged too, and the flag is reviewed by it once all that money went back.

    Refunds already in the ledger (under their refund ids) are skipped. Nothing when the payment itself is not in
    the ledger (record it first)."""
    payment = ledger.find("stripe", payment_intent_id)
    if payment is None:
        return RecordedRefunds([], [])
    with availability.changing_cohort(payment.booking.cohort_id):
        payment = db.session.get(Payment, payment.id, populate_existing=True)
        pending = {row.idempotency_key: row for row in db.session.scalars(
            sa.select(PendingRefund).where(PendingRefund.payment_id == payment.id, PendingRefund.status == "pending")
            .with_for_update().execution_options(populate_existing=True))}
        at_stripe: list[Payment] = []
        finished: list[Payment] = []
        for refund in refunds_made:
            if refund.status not in REFUND_STATUSES_MADE or ledger.find("stripe", refund.id) is not None:
                continue
            ours = pending.get(metadata_of(refund).get(REFUND_KEY) or "")
            if ours is not None:
                if (row := refunds.finish(ours, RefundResult(refund.id, "succeeded"))) is not None:
                    finished.append(row)
                continue
            result = ledger.record_payment(
                payment.booking, kind="refund", amount_cents=-refund.amount, provider="stripe",
                provider_reference=refund.id, refund_of=payment, note="refunded at Stripe (dashboard)", actor=actor)
            if result.created:
                at_stripe.append(result.payment)
        if payment.flagged:
            flags.note_refund(payment)
            return RecordedRefunds(at_stripe, finished)
        cancelled = bool(at_stripe) and booking_services.cancel_when_refunded_in_full(payment.booking, actor=actor)
    return RecordedRefunds(at_stripe, finished, cancelled=cancelled)


def apply_refunds(payment_intent_id: str, refunds_made: list, *, actor: str) -> RecordedRefunds:
    """record_refunds in a unit of work of its own (or the caller's)."""
    with unit_of_work():
        return record_refunds(payment_intent_id, refunds_made, actor=actor)


# --- Reconciling ----------------------------------------------------------------------------------------------------

@dataclass(frozen=True)
class Reconciled:
    repairs: list[str]  # one line per payment or refund recorded (or refund sent)
    left_alone: list[str]  # intents naming a booking this database does not have; refunds still pending


def reconcile(since: datetime) -> Reconciled:
    """Record what Stripe has and the ledger lacks, for PaymentIntents made since `since` for our bookings:
    succeeded payments (a webhook lost) through record_succeeded_intent (money the app did not ask for is flagged
    for finance), refunds made at Stripe, and refunds the app asked for whose sender died before writing them
    down. Then every refund still pending is sent (payments.refunds.retry_pending)."""
    repairs: list[str] = []
    left_alone: list[str] = []
    for intent in list(recent_intents(since)):
        reference = metadata_of(intent).get("booking_reference")
        known = ledger.find("stripe", intent.id) is not None
        if intent.status != "succeeded" or not (reference or known or requested.find("stripe", intent.id)):
            continue
        if not known:
            try:
                outcome = record_succeeded_intent(intent, actor=RECONCILE_ACTOR)
            except NotFound:
                left_alone.append(f"{intent.id}: names booking {reference}, which is not in this database "
                                  "(left alone)")
                continue
            if outcome is not None and outcome.created:
                payment = outcome.payment
                reference = outcome.booking.reference
                amount = format_usd(payment.amount_cents, show_cents=True)
                if outcome.flagged:
                    repairs.append(f"{reference}: recorded {amount} ({intent.id}) that this site did not ask for; "
                                   "flagged for finance, the booking unchanged")
                else:
                    repairs.append(
                        f"{reference}: recorded the {payment.kind} of {amount} ({intent.id}); the booking is "
                        f"{outcome.booking.status}"
                        + (", and what it could not take was refunded" if outcome.refunded_unplaced else ""))
        made = refunds_at_stripe(intent.id)
        if not made:
            continue
        result = apply_refunds(intent.id, made, actor=RECONCILE_ACTOR)
        repairs += [f"{reference}: recorded a refund of {format_usd(-row.amount_cents, show_cents=True)} made at "
                    f"Stripe ({row.provider_reference})" for row in result.at_stripe]
        repairs += [f"{reference}: recorded the refund of {format_usd(-row.amount_cents, show_cents=True)} this "
                    f"site asked for ({row.provider_reference}), which a failure had left pending"
                    for row in result.finished]
        if result.cancelled:
            repairs.append(f"{reference}: everything it paid was refunded at Stripe, so it is cancelled by the "
                           "clinic and its seat is free")
    retried = refunds.retry_pending()
    repairs += [refunds.describe(row) for row in retried.sent]
    left_alone += [refunds.describe(row) for row in retried.still_pending]
    return Reconciled(repairs, left_alone)
