"""Refunds: decided in the transaction of the change that owes them, made at the provider after it commits.

A cancellation, a clinician's decline or money that cannot be placed writes a PendingRefund in its own transaction
(`request_refund`), beside the state change, so both commit or neither does. After the commit the provider is
asked (`send`), with an idempotency key derived from the pending refund; when the provider has made the refund,
the refund enters the ledger (once per provider reference) and the pending refund becomes `sent`, in one
transaction. Nothing talks to a provider while a transaction is open for the change that owes the money.

A crash or a provider failure between the two leaves the refund pending, still counted as returned in what the
booking has paid (payments.ledger). `flask payments retry-refunds` (cron) and `flask payments reconcile` finish
it: before asking again, a retry looks for a refund the provider made under the pending refund's key (Stripe keeps
it in the refund's metadata), and a sender claims the row first, so two senders never ask at once. A refund is
never made twice.

Bank transfers keep their behaviour: the offline provider "makes" a refund by putting it in the ledger as owed
(status pending) until finance sends it from the clinic's bank.
"""

from dataclasses import dataclass
from datetime import timedelta

import sqlalchemy as sa
from flask import current_app

from retreat.core import audit
from retreat.core.clock import now
from retreat.core.errors import DomainError
from retreat.core.money import format_usd
from retreat.core.transactions import after_commit, in_unit_of_work, unit_of_work
from retreat.extensions import db
from retreat.payments import ledger, providers
from retreat.payments.models import Payer, Payment, PendingRefund
from retreat.payments.providers import RefundResult

ACTOR = "system (refunds)"
# A sender that died while asking the provider lets go of its pending refund after this.
CLAIM_EXPIRES = timedelta(minutes=5)
_TO_SEND = "retreat.refunds_to_send"


def request_refund(booking: Payer, payment: Payment, amount_cents: int, *, reason: str,
                   actor=None) -> PendingRefund:
    """Decide to refund `amount_cents` of `payment`, in the caller's transaction; the provider is asked once it
    commits (inside a unit of work: by its after-commit step; outside one: by `send_requested()`, which the
    caller runs after its commit). The caller checks the amount is still refundable (ledger.refundable)."""
    if not isinstance(amount_cents, int) or amount_cents <= 0:
        raise ValueError("a refund is a positive number of cents")
    pending = PendingRefund(booking_id=booking.id, payment_id=payment.id, amount_cents=amount_cents,
                            reason=reason[:500], status="pending", attempts=0, created_at=now())
    db.session.add(pending)
    db.session.flush()
    audit.record("refund.requested", "booking", booking.reference,
                 {"pending_refund_id": pending.id, "payment_id": payment.id, "amount_cents": amount_cents,
                  "reason": reason[:200]}, actor=actor if actor is not None else ACTOR)
    refund_id = pending.id
    if in_unit_of_work():
        after_commit(lambda: send(refund_id))
    else:
        db.session().info.setdefault(_TO_SEND, []).append(refund_id)
    return pending


def send_requested() -> None:
    """Ask the provider for the refunds requested in this session outside a unit of work: call it after the
    commit that wrote them. Inside a unit of work it does nothing (the unit's after-commit step sends them). An
    id whose transaction rolled back finds no pending refund and is skipped."""
    if in_unit_of_work():
        return
    for refund_id in db.session().info.pop(_TO_SEND, []):
        try:
            send(refund_id)
        except Exception:  # noqa: BLE001  (the retry job finishes what fails here)
            db.session.rollback()
            current_app.logger.exception("Refund %s could not be sent at once; it stays pending", refund_id)


def _locked(refund_id: int) -> PendingRefund | None:
    return db.session.scalar(sa.select(PendingRefund).where(PendingRefund.id == refund_id).with_for_update()
                             .execution_options(populate_existing=True))


def _claim(refund_id: int) -> bool:
    """Take a pending refund for this sender (one short locked transaction); False when it is sent already or
    another sender holds it."""
    moment = now()
    with unit_of_work():
        claimed = db.session.execute(
            sa.update(PendingRefund)
            .where(PendingRefund.id == refund_id, PendingRefund.status == "pending",
                   sa.or_(PendingRefund.claimed_at.is_(None), PendingRefund.claimed_at < moment - CLAIM_EXPIRES))
            .values(claimed_at=moment, attempts=PendingRefund.attempts + 1)
        ).rowcount == 1
    return claimed


def _note_failure(refund_id: int, error: str, *, release: bool) -> None:
    """The provider failed: keep the refund pending and say why; a sender that held the claim lets go of it, so
    the next retry may ask at once."""
    values: dict = {"last_error": error[:500]}
    if release:
        values["claimed_at"] = None
    with unit_of_work():
        db.session.execute(sa.update(PendingRefund).where(PendingRefund.id == refund_id,
                                                          PendingRefund.status == "pending").values(**values))


def finish(pending: PendingRefund, made: RefundResult) -> Payment | None:
    """The provider made the pending refund: enter it in the ledger and mark it sent, in the caller's
    transaction (which has locked the row, or holds the cohort lock). None when it was finished already."""
    if pending.status != "pending":
        return None
    payment = pending.payment
    recorded = ledger.record_payment(
        pending.booking, kind="refund", amount_cents=-pending.amount_cents, provider=payment.provider,
        provider_reference=made.provider_reference, status=made.status, refund_of=payment, note=pending.reason,
        actor=ACTOR)
    pending.status = "sent"
    pending.provider_reference = made.provider_reference
    pending.sent_at = now()
    pending.claimed_at = None
    pending.last_error = None
    return recorded.payment


def _finish(refund_id: int, made: RefundResult) -> None:
    with unit_of_work():
        pending = _locked(refund_id)
        if pending is not None:
            finish(pending, made)


def send(refund_id: int) -> str:
    """Have the provider make one pending refund. Returns `sent` (now or before), `pending` (the provider failed:
    the retry job tries again) or `busy` (another sender is asking the provider right now)."""
    pending = db.session.get(PendingRefund, refund_id, populate_existing=True)
    if pending is None or pending.status != "pending":
        db.session.rollback()
        return "sent"
    payment, key, cents, asked_before = pending.payment, pending.idempotency_key, pending.amount_cents, \
        pending.attempts > 0
    claimed = False
    try:
        provider = providers.provider(payment.provider)
        if asked_before:  # it may have been made by a sender that died before it could write it down
            made = provider.find_refund(payment, idempotency_key=key)
            if made is not None:
                _finish(refund_id, made)
                return "sent"
        db.session.rollback()
        claimed = _claim(refund_id)
        if not claimed:
            return "busy"
        payment = db.session.get(Payment, payment.id)
        made = provider.refund(payment, cents, idempotency_key=key)
    except DomainError as failure:  # ProviderUnavailable, or a provider switched off in this configuration
        db.session.rollback()
        current_app.logger.warning("Refund %s (%s) not made: %s", refund_id, key, failure.message)
        _note_failure(refund_id, failure.message, release=claimed)
        return "pending"
    _finish(refund_id, made)
    return "sent"


def pending_ids(limit: int | None = None) -> list[int]:
    query = (sa.select(PendingRefund.id).where(PendingRefund.status == "pending")
             .order_by(PendingRefund.created_at, PendingRefund.id))
    if limit is not None:
        query = query.limit(limit)
    ids = list(db.session.scalars(query))
    db.session.rollback()
    return ids


@dataclass(frozen=True)
class Retried:
    sent: list[PendingRefund]
    still_pending: list[PendingRefund]


def retry_pending(limit: int = 500) -> Retried:
    """Send every refund still pending, oldest first (`flask payments retry-refunds`, `flask payments
    reconcile`). Each is looked for at the provider before it is asked again."""
    sent, still = [], []
    for refund_id in pending_ids(limit):
        try:
            outcome = send(refund_id)
        except Exception:  # noqa: BLE001  (one refund's failure, a database one say, must not stop the others)
            db.session.rollback()
            current_app.logger.exception("Refund %s could not be sent; it stays pending", refund_id)
            outcome = "pending"
        row = db.session.get(PendingRefund, refund_id, populate_existing=True)
        (sent if outcome == "sent" or row.status == "sent" else still).append(row)
    return Retried(sent, still)


def describe(pending: PendingRefund) -> str:
    """One line about a pending refund, for the commands' output and the consoles."""
    text = (f"{pending.booking.reference}: refund {pending.id} of "
            f"{format_usd(pending.amount_cents, show_cents=True)} ({pending.reason})")
    if pending.status == "sent":
        return f"{text} made ({pending.provider_reference})"
    return f"{text} still pending after {pending.attempts} attempt(s)" + (
        f": {pending.last_error}" if pending.last_error else "")


def pending_of(booking_id: int) -> list[PendingRefund]:
    """The booking's refunds not sent yet, oldest first."""
    return list(db.session.scalars(
        sa.select(PendingRefund).where(PendingRefund.booking_id == booking_id, PendingRefund.status == "pending")
        .order_by(PendingRefund.created_at, PendingRefund.id)))
