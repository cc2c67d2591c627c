"""The ledger: one append-only row per movement of money (deposit, balance, refund), and the Stripe events
already handled. What a booking has paid is derived from the ledger, never stored beside it."""

from datetime import datetime

import sqlalchemy as sa
from sqlalchemy import event
from sqlalchemy.orm import Mapped, mapped_column, relationship

from retreat.booking.models import Booking
from retreat.catalog.models import _one_of
from retreat.core.clock import now
from retreat.core.types import UTCDateTime
from retreat.extensions import db

PAYMENT_KINDS = ("deposit", "balance", "refund")
PAYMENT_PROVIDERS = ("stripe", "offline", "demo")
# succeeded: the money moved. pending: a refund owed by bank transfer, not yet sent.
PAYMENT_STATUSES = ("succeeded", "pending")


class Payment(db.Model):
    """One movement of money. Refunds are negative, so a booking's net paid is a plain sum."""

    __tablename__ = "payment"
    __table_args__ = (
        sa.CheckConstraint(_one_of("kind", PAYMENT_KINDS), name="kind"),
        sa.CheckConstraint(_one_of("provider", PAYMENT_PROVIDERS), name="provider"),
        sa.CheckConstraint(_one_of("status", PAYMENT_STATUSES), name="status"),
        sa.CheckConstraint("(kind = 'refund' AND amount_cents < 0) OR (kind <> 'refund' AND amount_cents > 0)",
                           name="amount_sign"),
        # The same provider movement is recorded once, whichever path (webhook, return page, reconcile) sees it.
        sa.UniqueConstraint("provider", "provider_reference", name="uq_payment_provider_reference"),
        sa.Index("ix_payment_created_at", "created_at"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    booking_id: Mapped[int] = mapped_column(sa.ForeignKey("booking.id"), index=True)
    kind: Mapped[str] = mapped_column(sa.String(10))
    provider: Mapped[str] = mapped_column(sa.String(10))
    provider_reference: Mapped[str] = mapped_column(sa.String(100))
    status: Mapped[str] = mapped_column(sa.String(10), default="succeeded")
    currency: Mapped[str] = mapped_column(sa.String(3), default="usd")
    amount_cents: Mapped[int]
    # Known only where the provider reports them (a Stripe balance transaction); None is unknown, not zero.
    fee_cents: Mapped[int | None]
    net_cents: Mapped[int | None]
    # For a refund: the payment it returns money from.
    refund_of_id: Mapped[int | None] = mapped_column(sa.ForeignKey("payment.id"))
    recorded_by_id: Mapped[int | None] = mapped_column(sa.ForeignKey("staff_user.id"))
    note: Mapped[str] = mapped_column(sa.String(500), default="")
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=now)

    booking: Mapped[Booking] = relationship()

    def __repr__(self) -> str:
        return f"<Payment {self.id} {self.kind} {self.amount_cents}>"


@event.listens_for(Payment, "before_update")
def _ledger_is_append_only(mapper, connection, payment):
    raise RuntimeError("The payment ledger is append-only: record a new movement instead of changing one.")


@event.listens_for(Payment, "before_delete")
def _ledger_keeps_everything(mapper, connection, payment):
    raise RuntimeError("The payment ledger is append-only: rows are never deleted.")


class ProcessedStripeEvent(db.Model):
    """A Stripe event id handled once: recorded in the same transaction as what the event changed."""

    __tablename__ = "processed_stripe_event"

    event_id: Mapped[str] = mapped_column(sa.String(100), primary_key=True)
    event_type: Mapped[str] = mapped_column(sa.String(60))
    received_at: Mapped[datetime] = mapped_column(UTCDateTime, default=now)
