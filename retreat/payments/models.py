"""The ledger: one append-only row per movement of money (deposit, balance, refund), and beside it what the ledger
cannot say by appending: the payments the app asked a provider for (so that only those move a booking), money
flagged for finance, refunds still to be sent at the provider, and the Stripe events already handled. What a
booking has paid is derived from the ledger and the refunds still to be sent, never stored beside them.

Payments sit below booking: they name the booking they belong to by its table ("booking.id", the mapped class
"Booking") and take a `Payer`, never importing booking's code.
"""

from datetime import datetime
from typing import Protocol

import sqlalchemy as sa
from sqlalchemy import event
from sqlalchemy.orm import Mapped, mapped_column, relationship

from retreat.core.clock import now
from retreat.core.types import UTCDateTime, one_of
from retreat.extensions import db

PAYMENT_KINDS = ("deposit", "balance", "installment", "refund")
# What the app asks a provider for (a requested payment): every kind but a refund.
REQUESTED_KINDS = ("deposit", "balance", "installment")
PAYMENT_PROVIDERS = ("stripe", "offline", "demo")
# succeeded: the money moved. pending: a refund owed by bank transfer, not yet sent.
PAYMENT_STATUSES = ("succeeded", "pending")
# Why money is flagged for finance instead of moving its booking on.
FLAG_REASONS = ("not_requested", "amount", "currency")
# A refund the app decided to make: pending until the provider made it (or, for a bank transfer, until it is in the
# ledger as owed), then sent.
PENDING_REFUND_STATUSES = ("pending", "sent")


class Payer(Protocol):
    """What payments need of the booking a payment is for (booking.models.Booking is one)."""

    id: int
    reference: str
    applicant_email: str
    save_card_consent: bool
    stripe_customer_id: str | None
    stripe_payment_method_id: str | None

    @property
    def applicant_name(self) -> str: ...


class Payment(db.Model):
    """One movement of money. Refunds are negative, so a booking's net paid is a plain sum."""

    __tablename__ = "payment"
    __table_args__ = (
        sa.CheckConstraint(one_of("kind", PAYMENT_KINDS), name="kind"),
        sa.CheckConstraint(one_of("provider", PAYMENT_PROVIDERS), name="provider"),
        sa.CheckConstraint(one_of("status", PAYMENT_STATUSES), name="status"),
        sa.CheckConstraint("(kind = 'refund' AND amount_cents < 0) OR (kind <> 'refund' AND amount_cents > 0)",
                           name="amount_sign"),
        # The same provider movement is recorded once, whichever path (webhook, return page, reconcile) sees it.
        sa.UniqueConstraint("provider", "provider_reference", name="uq_payment_provider_reference"),
        sa.Index("ix_payment_created_at", "created_at"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    booking_id: Mapped[int] = mapped_column(sa.ForeignKey("booking.id"), index=True)
    kind: Mapped[str] = mapped_column(sa.String(12))
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
    # Money that arrived naming this booking but that the app did not ask for (or not of this amount or currency),
    # and refunds of such money: in the ledger because it moved, but not counted as the booking's (its paid, owed
    # and refundable amounts ignore it) and never moving the booking. A PaymentFlag row tracks finance's review.
    flagged: Mapped[bool] = mapped_column(default=False, server_default=sa.false())

    booking: Mapped["Booking"] = relationship()  # noqa: F821  (booking.models, mapped by name)

    def __repr__(self) -> str:
        return f"<Payment {self.id} {self.kind} {self.amount_cents}>"


@event.listens_for(Payment, "before_update")
def _ledger_is_append_only(mapper, connection, payment):
    raise RuntimeError("The payment ledger is append-only: record a new movement instead of changing one.")


@event.listens_for(Payment, "before_delete")
def _ledger_keeps_everything(mapper, connection, payment):
    raise RuntimeError("The payment ledger is append-only: rows are never deleted.")


class RequestedPayment(db.Model):
    """A payment the app asked a provider for (a Stripe PaymentIntent it created): for which booking, what for and
    how much. Only a succeeded payment recorded here, of this amount and currency, moves its booking on."""

    __tablename__ = "requested_payment"
    __table_args__ = (
        sa.CheckConstraint(one_of("kind", REQUESTED_KINDS), name="kind"),
        sa.CheckConstraint("amount_cents > 0", name="amount"),
        sa.UniqueConstraint("provider", "provider_reference", name="uq_requested_payment_provider_reference"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    booking_id: Mapped[int] = mapped_column(sa.ForeignKey("booking.id"), index=True)
    kind: Mapped[str] = mapped_column(sa.String(12))
    provider: Mapped[str] = mapped_column(sa.String(10))
    provider_reference: Mapped[str] = mapped_column(sa.String(100))
    amount_cents: Mapped[int]
    currency: Mapped[str] = mapped_column(sa.String(3))
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=now)

    booking: Mapped["Booking"] = relationship()  # noqa: F821  (booking.models, mapped by name)


class PaymentFlag(db.Model):
    """Money finance must look at: a flagged ledger row (see Payment.flagged), why, and finance's review of it."""

    __tablename__ = "payment_flag"
    __table_args__ = (sa.CheckConstraint(one_of("reason", FLAG_REASONS), name="reason"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    payment_id: Mapped[int] = mapped_column(sa.ForeignKey("payment.id"), unique=True)
    reason: Mapped[str] = mapped_column(sa.String(20))
    detail: Mapped[str] = mapped_column(sa.String(500))
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=now)
    resolved_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    resolved_by_id: Mapped[int | None] = mapped_column(sa.ForeignKey("staff_user.id"))
    resolution: Mapped[str] = mapped_column(sa.String(500), default="")

    payment: Mapped[Payment] = relationship()


class PendingRefund(db.Model):
    """A refund the app decided to make, written in the same transaction as the change that owes it (a
    cancellation, a decline, money that cannot be placed). The provider is asked after that commits, with an
    idempotency key derived from this row; when it has made the refund, the refund enters the ledger and the row
    becomes `sent`, in one transaction. A row left pending (a crash, the provider down) is finished by
    `flask payments retry-refunds` and `flask payments reconcile`, which look for the refund at the provider first,
    so it is never made twice. Until sent, its amount counts as returned in what the booking has paid."""

    __tablename__ = "pending_refund"
    __table_args__ = (
        sa.CheckConstraint(one_of("status", PENDING_REFUND_STATUSES), name="status"),
        sa.CheckConstraint("amount_cents > 0", name="amount"),
        sa.Index("ix_pending_refund_status", "status"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    booking_id: Mapped[int] = mapped_column(sa.ForeignKey("booking.id"), index=True)
    payment_id: Mapped[int] = mapped_column(sa.ForeignKey("payment.id"), index=True)  # the payment refunded
    amount_cents: Mapped[int]
    reason: Mapped[str] = mapped_column(sa.String(500))
    status: Mapped[str] = mapped_column(sa.String(10), default="pending")
    attempts: Mapped[int] = mapped_column(default=0)
    # Set while one sender asks the provider, so that no other asks at the same time (it lapses after a while).
    claimed_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    last_error: Mapped[str | None] = mapped_column(sa.String(500))
    provider_reference: Mapped[str | None] = mapped_column(sa.String(100))  # the provider's refund, once made
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=now)
    sent_at: Mapped[datetime | None] = mapped_column(UTCDateTime)

    booking: Mapped["Booking"] = relationship()  # noqa: F821  (booking.models, mapped by name)
    payment: Mapped[Payment] = relationship()

    @property
    def idempotency_key(self) -> str:
        """Derived from this row: the provider makes one refund per key, and Stripe keeps it in the refund's
        metadata, where a retry looks for it before asking again."""
        return f"refund-{self.booking.reference}-{self.id}"


class ProcessedStripeEvent(db.Model):
    """A Stripe event id handled once: recorded in the same transaction as what the event changed."""

    __tablename__ = "processed_stripe_event"

    event_id: Mapped[str] = mapped_column(sa.String(100), primary_key=True)
    event_type: Mapped[str] = mapped_column(sa.String(60))
    received_at: Mapped[datetime] = mapped_column(UTCDateTime, default=now)
