"""The one function that records a movement of money, and what a booking has paid (derived from the ledger).

`record_payment` works inside the caller's transaction and is idempotent: the same provider movement (provider
and provider reference) is recorded once, whichever path sees it first: webhook, return page, staff, reconcile.
It does not change the booking's state: booking.services.payment_received does, in the same transaction.

What a booking has paid counts only its own money: a flagged payment (money that named the booking but that the
app did not ask for, see payments.flags) and its refunds are in the ledger and in every export, but not in the
booking's sums. A refund the app decided to make and has not sent yet (payments.refunds, PendingRefund) counts as
returned already, so two cancellations or declines can never refund the same money.
"""

import functools
from dataclasses import dataclass
from datetime import datetime

import sqlalchemy as sa
from sqlalchemy.exc import IntegrityError

from retreat.core import audit
from retreat.core.clock import now
from retreat.core.errors import ValidationFailed
from retreat.core.money import CURRENCY
from retreat.extensions import db
from retreat.payments.models import PAYMENT_KINDS, PAYMENT_PROVIDERS, PAYMENT_STATUSES, Payer, Payment, PendingRefund


@dataclass(frozen=True)
class Recorded:
    payment: Payment
    created: bool  # False: this movement was recorded before, nothing changed


def find(provider: str, provider_reference: str) -> Payment | None:
    return db.session.scalar(
        sa.select(Payment).where(Payment.provider == provider, Payment.provider_reference == provider_reference))


def record_payment(booking: Payer, *, kind: str, amount_cents: int, provider: str, provider_reference: str,
                   status: str = "succeeded", fee_cents: int | None = None, net_cents: int | None = None,
                   refund_of: Payment | None = None, recorded_by=None, note: str = "", actor=None,
                   received_at: datetime | None = None, currency: str = CURRENCY,
                   flagged: bool = False) -> Recorded:
    """Add one movement to the ledger (refunds with a negative amount), once per provider reference.
    `received_at` is when the money moved, if not now (a bank transfer staff record days later). A refund of a
    flagged payment is flagged too."""
    if kind not in PAYMENT_KINDS or provider not in PAYMENT_PROVIDERS or status not in PAYMENT_STATUSES:
        raise ValueError(f"unknown payment kind/provider/status: {kind}/{provider}/{status}")
    if not isinstance(amount_cents, int) or isinstance(amount_cents, bool) or amount_cents == 0 or (
            (amount_cents < 0) != (kind == "refund")):
        raise ValidationFailed({"amount_cents": ["Refunds are negative, payments positive, and none is zero."]})
    if not provider_reference:
        raise ValidationFailed({"provider_reference": ["A payment needs the provider's reference."]})
    existing = find(provider, provider_reference)
    if existing is not None:
        return Recorded(existing, False)
    flagged = flagged or (refund_of is not None and refund_of.flagged)
    payment = Payment(
        booking_id=booking.id, kind=kind, provider=provider, provider_reference=provider_reference, status=status,
        amount_cents=amount_cents, fee_cents=fee_cents, net_cents=net_cents, currency=(currency or CURRENCY)[:3],
        refund_of_id=refund_of.id if refund_of is not None else None, flagged=flagged,
        recorded_by_id=getattr(recorded_by, "id", None), note=note[:500], created_at=received_at or now(),
    )
    try:
        with db.session.begin_nested():  # a concurrent path recorded it first: keep theirs
            db.session.add(payment)
    except IntegrityError:
        return Recorded(find(provider, provider_reference), False)
    details = {"payment_id": payment.id, "amount_cents": amount_cents, "provider": provider,
               "provider_reference": provider_reference, "status": status}
    if flagged:
        details["flagged"] = True
    audit.record(f"payment.{kind}", "booking", booking.reference, details,
                 actor=actor if actor is not None else recorded_by)
    return Recorded(payment, True)


# The sums and lists every booking page and the booking API read, each statement built once: building one costs
# more Python than running it (SQLAlchemy makes the expression and its cache key anew on every call).
_BOOKING_ID = sa.bindparam("booking_id")


@functools.cache
def _statement(name: str) -> sa.Select:
    own = (Payment.booking_id == _BOOKING_ID, Payment.flagged.is_(False))
    total = sa.func.coalesce(sa.func.sum(Payment.amount_cents), 0)
    return {
        "payments_of": sa.select(Payment).where(*own).order_by(Payment.created_at, Payment.id),
        "sent_and_owed": sa.select(total).where(*own),
        "received": sa.select(total).where(*own, Payment.kind != "refund"),
        "refunds_to_send": sa.select(sa.func.coalesce(sa.func.sum(PendingRefund.amount_cents), 0))
        .where(PendingRefund.booking_id == _BOOKING_ID, PendingRefund.status == "pending"),
    }[name]


def payments_of(booking_id: int) -> list[Payment]:
    """The booking's own movements of money, oldest first (flagged money left out: see flagged_payments_of)."""
    return list(db.session.scalars(_statement("payments_of"), {"booking_id": booking_id}))


def flagged_payments_of(booking_id: int) -> list[Payment]:
    """Money that named the booking but is not counted as its own (and refunds of it), oldest first."""
    return list(db.session.scalars(
        sa.select(Payment).where(Payment.booking_id == booking_id, Payment.flagged.is_(True))
        .order_by(Payment.created_at, Payment.id)))


def _sent_and_owed(booking_id: int) -> int:
    return db.session.scalar(_statement("sent_and_owed"), {"booking_id": booking_id})


def refunds_to_send_cents(booking_id: int) -> int:
    """Refunds the app decided to make for the booking and has not sent to the provider yet (positive)."""
    return db.session.scalar(_statement("refunds_to_send"), {"booking_id": booking_id})


def paid_cents(booking_id: int) -> int:
    """What the booking has paid net of refunds: refunds owed by bank transfer, and refunds decided but not sent
    to the provider yet, count as returned."""
    return _sent_and_owed(booking_id) - refunds_to_send_cents(booking_id)


def received_cents(booking_id: int) -> int:
    """What the booking has received (deposits and balances), before any refund."""
    return db.session.scalar(_statement("received"), {"booking_id": booking_id})


def refundable(booking_id: int) -> list[tuple[Payment, int]]:
    """Each payment of the booking with what is left to refund of it (refunds not sent yet deducted), newest
    first."""
    payments = payments_of(booking_id)
    returned: dict[int, int] = {}
    for payment in payments:
        if payment.kind == "refund" and payment.refund_of_id is not None:
            returned[payment.refund_of_id] = returned.get(payment.refund_of_id, 0) - payment.amount_cents
    to_send = db.session.execute(
        sa.select(PendingRefund.payment_id, sa.func.sum(PendingRefund.amount_cents))
        .where(PendingRefund.booking_id == booking_id, PendingRefund.status == "pending")
        .group_by(PendingRefund.payment_id)).all()
    for payment_id, cents in to_send:
        returned[payment_id] = returned.get(payment_id, 0) + int(cents)
    left = [(p, p.amount_cents - returned.get(p.id, 0)) for p in payments if p.kind != "refund"]
    return [(p, cents) for p, cents in reversed(left) if cents > 0]


def money_by_booking():
    """A subquery of every booking with money: (booking_id, received_cents, paid_cents), as received_cents and
    paid_cents above count them, for lists and reports that show many bookings at once."""
    ledger = (sa.select(Payment.booking_id.label("booking_id"),
                        sa.case((Payment.kind != "refund", Payment.amount_cents), else_=0).label("received"),
                        Payment.amount_cents.label("paid"))
              .where(Payment.flagged.is_(False)))
    to_send = (sa.select(PendingRefund.booking_id.label("booking_id"), sa.literal(0).label("received"),
                         (-PendingRefund.amount_cents).label("paid"))
               .where(PendingRefund.status == "pending"))
    movements = sa.union_all(ledger, to_send).subquery()
    return (sa.select(movements.c.booking_id, sa.func.sum(movements.c.received).label("received_cents"),
                      sa.func.sum(movements.c.paid).label("paid_cents"))
            .group_by(movements.c.booking_id).subquery())
