"""The payment-provider contract, and the providers this clinic can use.

A provider never changes a booking or the ledger itself: it starts a payment (what the applicant's page or API
client needs to pay), moves money back (refund, asked by payments.refunds after the change that owes it has
committed), finds a refund it made under a key (so a retry never refunds twice), and, for Stripe, turns webhook
events into calls of booking.services.payment_received. Only booking and ledger services record what happened.

    stripe   PaymentIntents with the Payment Element on our own page (retreat/payments/stripe_provider.py)
    offline  bank transfer instructions; staff mark the money received
    demo     development only, when no Stripe keys are set: a clearly labelled test payment
"""

import secrets
from dataclasses import dataclass, field
from typing import Protocol

from flask import current_app

from retreat.booking.models import Booking
from retreat.core.errors import DomainError
from retreat.payments.models import Payment


class ProviderUnavailable(DomainError):
    """The provider could not be reached or refused: nothing was changed here; try again."""

    status = 503
    code = "payment_provider_unavailable"


class CardDeclined(DomainError):
    """The card was declined: the booking keeps its hold; the applicant may try another card."""

    status = 402
    code = "card_declined"


@dataclass(frozen=True)
class Charged:
    """Money taken at once (a saved card charged off-session)."""

    provider_reference: str
    fee_cents: int | None = None
    net_cents: int | None = None


@dataclass(frozen=True)
class PaymentStart:
    """What an applicant (or API client) needs to pay: `fields` are provider-specific (client_secret, ...)."""

    provider: str
    status: str  # requires_payment | awaiting_transfer | succeeded
    amount_cents: int
    kind: str
    fields: dict = field(default_factory=dict)

    def as_json(self) -> dict:
        return {"provider": self.provider, "status": self.status, "kind": self.kind,
                "amount_cents": self.amount_cents, **self.fields}


@dataclass(frozen=True)
class RefundResult:
    provider_reference: str
    status: str = "succeeded"  # or pending: owed, not yet sent (bank transfer)


class PaymentProvider(Protocol):
    name: str

    def start(self, booking: Booking, kind: str, amount_cents: int) -> PaymentStart:
        """Prepare a payment of `amount_cents` for `booking`; moves no money."""

    def refund(self, payment: Payment, amount_cents: int, *, idempotency_key: str) -> RefundResult:
        """Return `amount_cents` (positive) of `payment` to the payer, once per `idempotency_key`; raises
        ProviderUnavailable."""

    def find_refund(self, payment: Payment, *, idempotency_key: str) -> RefundResult | None:
        """The refund of `payment` this provider made under `idempotency_key`, if any; raises
        ProviderUnavailable."""


class DemoProvider:
    """Development only: a test payment the applicant confirms on our own page; no money moves."""

    name = "demo"

    def start(self, booking: Booking, kind: str, amount_cents: int) -> PaymentStart:
        return PaymentStart("demo", "requires_payment", amount_cents, kind,
                            {"note": "Demo mode: no real money moves. Confirm the test payment on the booking page."})

    def refund(self, payment: Payment, amount_cents: int, *, idempotency_key: str) -> RefundResult:
        return RefundResult(f"demo_re_{secrets.token_hex(8)}")

    def find_refund(self, payment: Payment, *, idempotency_key: str) -> RefundResult | None:
        return None  # no money moved: asking again is harmless

    @staticmethod
    def new_reference() -> str:
        return f"demo_{secrets.token_hex(8)}"


class OfflineProvider:
    """Bank transfer: the applicant is shown the clinic's bank details and the booking reference; staff mark the
    money received. A refund is owed (pending) until the clinic sends it."""

    name = "offline"

    def start(self, booking: Booking, kind: str, amount_cents: int) -> PaymentStart:
        return PaymentStart("offline", "awaiting_transfer", amount_cents, kind, {
            "instructions": current_app.config.get("BANK_TRANSFER_INSTRUCTIONS") or "",
            "transfer_reference": booking.reference,
        })

    def refund(self, payment: Payment, amount_cents: int, *, idempotency_key: str) -> RefundResult:
        return RefundResult(f"offline_re_{idempotency_key}", status="pending")

    def find_refund(self, payment: Payment, *, idempotency_key: str) -> RefundResult | None:
        return None  # nothing is sent from here: finance sends it from the clinic's bank


def configured_provider_name() -> str:
    """The card provider of new bookings: stripe when its keys are set, else demo (refused in production)."""
    config = current_app.config
    if config.get("PAYMENT_PROVIDER"):
        return config["PAYMENT_PROVIDER"]
    return "stripe" if config.get("STRIPE_SECRET_KEY") else "demo"


def bank_transfer_enabled() -> bool:
    return bool(current_app.config.get("BANK_TRANSFER_INSTRUCTIONS"))


def available_provider_names() -> tuple[str, ...]:
    """Providers an applicant may choose for a new booking: the card provider, and bank transfer if set up."""
    names = [configured_provider_name()]
    if bank_transfer_enabled() and "offline" not in names:
        names.append("offline")
    return tuple(names)


def provider(name: str) -> PaymentProvider:
    if name == "stripe":
        from retreat.payments.stripe_provider import StripeProvider
        return StripeProvider()
    if name == "offline":
        return OfflineProvider()
    if name == "demo":
        if not current_app.config.get("DEMO_PAYMENTS_ALLOWED", False):
            raise DomainError("Demo payments are switched off in this configuration.", code="provider_disabled",
                              status=409)
        return DemoProvider()
    raise ValueError(f"unknown payment provider {name!r}")
