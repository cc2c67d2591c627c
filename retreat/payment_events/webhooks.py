"""POST /webhooks/stripe: what Stripe tells us about payments (API.md, Payments).

An event counts only with a valid `Stripe-Signature` made with STRIPE_WEBHOOK_SECRET: a missing or bad one gets
400 and changes nothing, as does a signed event without an id, a type or `data.object` (event_malformed).

Each event is one unit of work: its effect (a payment recorded, a refund, a failed-payment email) and its
ProcessedStripeEvent row commit together, so an event id is handled once; a concurrent delivery of the same event
that commits first makes this one change nothing. What needs Stripe (a charge's fee, a payment's refunds) is read
before the unit opens.

Answers: 200 handled, flagged (money recorded for finance, no booking changed), duplicate, ignored (not an event
or a payment of ours, logged for refunds) or unknown_booking (logged); 503 when the database or Stripe failed,
so Stripe delivers the event again later (it retries anything but a 2xx).
"""

import json

import stripe
from flask import Blueprint, current_app, request
from sqlalchemy.exc import IntegrityError, SQLAlchemyError

from retreat.core.errors import DomainError, NotFound
from retreat.core.transactions import unit_of_work
from retreat.extensions import db
from retreat.payment_events import stripe as events
from retreat.payments import ledger
from retreat.payments.models import ProcessedStripeEvent
from retreat.payments.stripe_provider import metadata_of, object_id, refunds_at_stripe, retrieve_intent
from retreat.web.errors import error_json

webhooks_bp = Blueprint("webhooks", __name__, url_prefix="/webhooks")

ACTOR = "stripe webhook"


def _error(status: int, code: str, message: str):
    return error_json(code, message), status


def _already_processed(event_id: str) -> bool:
    return db.session.get(ProcessedStripeEvent, event_id) is not None


def _mark_processed(event) -> None:
    """The event's row, in the unit of work of its effect."""
    db.session.add(ProcessedStripeEvent(event_id=event.id, event_type=event.type))


def _intent_succeeded(event) -> str:
    intent = event.data.object
    try:
        facts = events.intent_facts(intent)  # Stripe first: the charge's fee, the card to keep
    except NotFound:
        current_app.logger.warning("Stripe event %s: %s names booking %s, which is not in this database",
                                   event.id, intent.id, metadata_of(intent).get("booking_reference"))
        facts, status = None, "unknown_booking"
    else:
        status = "ignored" if facts is None else "handled"
    with unit_of_work():
        if facts is not None:
            outcome = events.record_intent(facts, actor=ACTOR)
            status = "flagged" if outcome.flagged else "handled"
        _mark_processed(event)
    return status


def _intent_failed(event) -> str:
    intent = event.data.object
    with unit_of_work():
        try:
            told = events.tell_payment_failed(intent)
        except NotFound:
            current_app.logger.warning("Stripe event %s: failed payment %s of a booking not in this database",
                                       event.id, intent.id)
            told = None
        _mark_processed(event)
    return "unknown_booking" if told is None else "handled" if told else "ignored"


def _payment_in_ledger(intent_id: str, event) -> bool:
    """Whether a refunded payment is ours and in the ledger, recording it first when its own event was lost or is
    late. A payment not ours (Stripe has no such intent for this account, or it names no booking of ours) is
    logged and acknowledged: Stripe retrying it would change nothing."""
    if ledger.find("stripe", intent_id) is not None:
        return True
    intent = retrieve_intent(intent_id)
    if intent is None:
        current_app.logger.warning("Stripe event %s: refund of %s, a payment Stripe does not know for this account; "
                                   "acknowledged", event.id, intent_id)
        return False
    try:
        outcome = events.record_succeeded_intent(intent, actor=ACTOR)
    except NotFound:
        current_app.logger.warning("Stripe event %s: refund of %s, a payment of a booking not in this database",
                                   event.id, intent_id)
        return False
    if outcome is None:
        current_app.logger.warning("Stripe event %s: refund of %s, a payment not made by this site; acknowledged",
                                   event.id, intent_id)
    return outcome is not None


def _charge_refunded(event) -> str:
    """Refunds made at Stripe (from its dashboard) enter the ledger, and cancel a booking when they returned all
    it paid; the app's own refunds are there already under their refund ids, or finish their pending refund."""
    charge = event.data.object
    intent_id = object_id(getattr(charge, "payment_intent", None))
    if not intent_id:
        current_app.logger.warning("Stripe event %s: refund of charge %s, which no payment of this site made; "
                                   "acknowledged", event.id, getattr(charge, "id", None))
    ours = bool(intent_id) and _payment_in_ledger(intent_id, event)
    made = refunds_at_stripe(intent_id) if ours else []  # Stripe first, then the unit of work
    with unit_of_work():
        if made:
            events.record_refunds(intent_id, made, actor=ACTOR)
        _mark_processed(event)
    return "handled" if ours else "ignored"


HANDLERS = {
    "payment_intent.succeeded": _intent_succeeded,
    "payment_intent.payment_failed": _intent_failed,
    "charge.refunded": _charge_refunded,
}


def _well_formed(body: object) -> bool:
    """An event as Stripe sends it: an id, a type, and data.object (an object with an id)."""
    if not isinstance(body, dict):
        return False
    data = body.get("data")
    target = data.get("object") if isinstance(data, dict) else None
    return (isinstance(body.get("id"), str) and bool(body["id"]) and isinstance(body.get("type"), str)
            and isinstance(target, dict) and isinstance(target.get("id"), str))


@webhooks_bp.post("/stripe")
def stripe_event():
    secret = current_app.config.get("STRIPE_WEBHOOK_SECRET")
    if not secret:
        current_app.logger.error("A Stripe webhook arrived but STRIPE_WEBHOOK_SECRET is not set")
        return _error(503, "webhook_not_configured", "This endpoint has no signing secret configured.")
    signature = request.headers.get("Stripe-Signature")
    if not signature:
        return _error(400, "signature_missing", "A Stripe-Signature header is required.")
    try:
        event = stripe.Webhook.construct_event(request.get_data(), signature, secret)
    except (ValueError, stripe.SignatureVerificationError):
        return _error(400, "signature_invalid", "The Stripe-Signature does not match this payload.")
    if not _well_formed(json.loads(request.get_data())):
        current_app.logger.warning("A signed Stripe event without an id, a type or data.object was refused")
        return _error(400, "event_malformed", "An event needs an id, a type and data.object with an id.")

    handler = HANDLERS.get(event.type)
    if handler is None:
        return {"status": "ignored"}
    try:
        if _already_processed(event.id):
            db.session.rollback()
            return {"status": "duplicate"}
        status = handler(event)
    except IntegrityError:  # a concurrent delivery of the same event committed first: this one changed nothing
        db.session.rollback()
        return {"status": "duplicate"}
    except SQLAlchemyError:
        db.session.rollback()
        current_app.logger.exception("Stripe event %s (%s): database failure; Stripe will deliver it again",
                                     event.id, event.type)
        return _error(503, "database_unavailable", "The event could not be stored; deliver it again later.")
    except DomainError as error:
        db.session.rollback()
        current_app.logger.warning("Stripe event %s (%s) not handled: %s", event.id, event.type, error.code)
        return _error(error.status, error.code, error.message)
    return {"status": status}
