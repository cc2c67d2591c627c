"""Money flagged for finance: it arrived naming a booking, but it is not a payment the app asked for (see
payments.requested), so it is recorded in the ledger (the money did arrive, and every export shows it) without
counting as the booking's and without moving the booking; finance is told once, by email to FINANCE_EMAIL, and
sees it in the console and the month close until someone marks it reviewed.

It is not refunded automatically. Whoever made it holds the account's key or its dashboard, so it is an event for a
person to look at, not for the app to tidy away; a refund made from Stripe's dashboard is recorded against it (and
marks it reviewed when it returns everything), and finance may also keep it and note why.
"""

from dataclasses import dataclass

import sqlalchemy as sa
from flask import current_app
from sqlalchemy.orm import selectinload

from retreat.core import audit
from retreat.core import clinic as clinic_details
from retreat.core.clock import now
from retreat.core.errors import DomainError, NotFound, ValidationFailed
from retreat.core.links import external_url
from retreat.core.money import format_usd
from retreat.core.transactions import after_commit, unit_of_work
from retreat.extensions import db
from retreat.notify import services as notify
from retreat.payments import ledger
from retreat.payments.models import Payer, Payment, PaymentFlag
from retreat.payments.requested import Mismatch

RESOLUTION_MAX_LENGTH = 500


def record_flagged(booking: Payer, *, kind: str, amount_cents: int, currency: str, provider: str,
                   provider_reference: str, mismatch: Mismatch, fee_cents: int | None = None,
                   net_cents: int | None = None, actor=None) -> ledger.Recorded:
    """Record money that named `booking` but is not a payment the app asked for: a flagged ledger row, its flag,
    an audit entry and one email to finance (after the commit). Once per provider reference; no booking changes."""
    with unit_of_work():
        recorded = ledger.record_payment(
            booking, kind=kind, amount_cents=amount_cents, provider=provider, provider_reference=provider_reference,
            fee_cents=fee_cents, net_cents=net_cents, currency=currency, flagged=True,
            note=f"flagged for finance: {mismatch.detail}", actor=actor)
        if recorded.created:
            db.session.add(PaymentFlag(payment_id=recorded.payment.id, reason=mismatch.reason,
                                       detail=mismatch.detail[:500], created_at=now()))
            audit.record("payment.flagged", "booking", booking.reference,
                         {"payment_id": recorded.payment.id, "reason": mismatch.reason,
                          "provider_reference": provider_reference, "amount_cents": amount_cents,
                          "currency": currency}, actor=actor)
            current_app.logger.warning("Payment %s %s naming booking %s flagged for finance: %s", provider,
                                       provider_reference, booking.reference, mismatch.detail)
            email = _tell_finance(booking, recorded.payment, mismatch)
            if email is not None:
                after_commit(lambda: notify.send_now(email))
    return recorded


def _tell_finance(booking: Payer, payment: Payment, mismatch: Mismatch):
    address = current_app.config.get("FINANCE_EMAIL")
    if not address:
        current_app.logger.error("FINANCE_EMAIL is not set: nobody is emailed about flagged payment %s", payment.id)
        return None
    clinic = notify.clinic_name()
    body = (f"Money arrived that names booking {booking.reference} but is not a payment this site asked for, so it "
            f"has not been counted for the booking and the booking has not changed.\n\n"
            f"What: {mismatch.detail}.\n"
            f"Provider: {payment.provider}, reference {payment.provider_reference}.\n"
            f"Recorded: {clinic_details.clinic_time(payment.created_at)}.\n\n"
            "It is not refunded automatically. Look at it in the finance console, refund it from the payment "
            "provider's dashboard if it should go back, and mark it reviewed:\n"
            f"{external_url('staff.finance_booking', reference=booking.reference)}\n\n"
            f"— {clinic}\n")
    return notify.enqueue("payment_flagged", address, f"{clinic}: a payment to check ({booking.reference})", body)


def note_refund(payment: Payment) -> None:
    """After a refund of a flagged payment was recorded (caller's transaction): a flag whose money all went back is
    reviewed by that."""
    if not payment.flagged or payment.kind == "refund":
        return
    returned = -db.session.scalar(sa.select(sa.func.coalesce(sa.func.sum(Payment.amount_cents), 0))
                                  .where(Payment.refund_of_id == payment.id))
    flag = db.session.scalar(sa.select(PaymentFlag).where(PaymentFlag.payment_id == payment.id))
    if flag is not None and flag.resolved_at is None and returned >= payment.amount_cents:
        flag.resolved_at = now()
        flag.resolution = f"refunded in full at the provider ({format_usd(returned, show_cents=True)})"


@dataclass(frozen=True)
class FlagView:
    flag: PaymentFlag
    payment: Payment
    refunded_cents: int  # positive

    @property
    def booking_reference(self) -> str:
        return self.payment.booking.reference

    @property
    def open(self) -> bool:
        return self.flag.resolved_at is None


def flags(*, open_only: bool = True, booking_id: int | None = None) -> list[FlagView]:
    """Flagged payments, newest first, with what was refunded of each."""
    refunded = (sa.select(Payment.refund_of_id, (-sa.func.sum(Payment.amount_cents)).label("cents"))
                .where(Payment.kind == "refund", Payment.flagged.is_(True)).group_by(Payment.refund_of_id)
                .subquery())
    query = (sa.select(PaymentFlag, Payment, sa.func.coalesce(refunded.c.cents, 0))
             .join(Payment, Payment.id == PaymentFlag.payment_id)
             .outerjoin(refunded, refunded.c.refund_of_id == Payment.id)
             .options(selectinload(Payment.booking))
             .order_by(PaymentFlag.created_at.desc(), PaymentFlag.id.desc()))
    if open_only:
        query = query.where(PaymentFlag.resolved_at.is_(None))
    if booking_id is not None:
        query = query.where(Payment.booking_id == booking_id)
    return [FlagView(flag, payment, int(cents)) for flag, payment, cents in db.session.execute(query)]


def booking_reference_of(flag_id: int) -> str:
    """The reference of the booking a flagged payment named; NotFound for no such flag."""
    flag = db.session.get(PaymentFlag, flag_id)
    if flag is None:
        raise NotFound("There is no such flagged payment.")
    return flag.payment.booking.reference


def resolve(flag_id: int, *, resolution: object, staff) -> PaymentFlag:
    """Finance marks a flag reviewed, saying what was done (kept, refunded, ...). Audited; one unit of work."""
    text = " ".join(resolution.split()) if isinstance(resolution, str) else ""
    if not text:
        raise ValidationFailed({"resolution": ["Say what was done about this payment (kept, refunded, ...)."]})
    if len(text) > RESOLUTION_MAX_LENGTH:
        raise ValidationFailed({"resolution": [f"Keep it to {RESOLUTION_MAX_LENGTH} characters or fewer."]})
    with unit_of_work():
        flag = db.session.scalar(sa.select(PaymentFlag).where(PaymentFlag.id == flag_id).with_for_update()
                                 .execution_options(populate_existing=True))
        if flag is None:
            raise NotFound("There is no such flagged payment.")
        if flag.resolved_at is not None:
            raise DomainError("This payment was marked reviewed already.", code="flag_resolved", status=409)
        flag.resolved_at = now()
        flag.resolved_by_id = staff.id
        flag.resolution = text
        audit.record("payment.flag_resolved", "booking", flag.payment.booking.reference,
                     {"payment_id": flag.payment_id, "resolution": text}, actor=staff)
    return flag
