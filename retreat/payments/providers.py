"""The providers this clinic can use, and which one a booking pays with (the contract: payments.contract).

A provider never changes a booking or the ledger itself: it starts a payment (what the applicant's page or API
client needs to pay), moves money back (refund, asked by payments.refunds after the change that owes it has
committed) and finds a refund it made under a key (so a retry never refunds twice). Booking services record what
happened; what Stripe reports later (webhooks, reconcile) is payment_events'.

    stripe   PaymentIntents with the Payment Element on our own page (retreat/payments/stripe_provider.py)
    offline  bank transfer instructions; staff mark the money received
    demo     development only, when no Stripe keys are set: a clearly labelled test payment
"""

import secrets

from flask import current_app

from retreat.core.errors import DomainError
from retreat.payments.contract import (  # noqa: F401  (the contract, named here for the providers' callers)
    CardDeclined,
    Charged,
    PaymentProvider,
    PaymentStart,
    ProviderUnavailable,
    RefundResult,
)
from retreat.payments.models import Payer, Payment
from retreat.payments.stripe_provider import StripeProvider


class DemoProvider:
    """Development only: a test payment the applicant confirms on our own page; no money moves."""

    name = "demo"
    page_sources: dict = {}

    def start(self, booking: Payer, kind: str, amount_cents: int) -> PaymentStart:
        return PaymentStart("demo", "requires_payment", amount_cents, kind,
                            {"note": "Demo mode: no real money moves. Confirm the test payment on the booking page."},
                            page_fields={"reference": self.new_reference()})

    def refund(self, payment: Payment, amount_cents: int, *, idempotency_key: str) -> RefundResult:
        return RefundResult(f"demo_re_{secrets.token_hex(8)}")

    def charge_saved_card(self, booking: Payer, amount_cents: int, *, kind: str = "balance",
                          key: str | None = None) -> Charged:
        """A test charge of a part of an installment plan: no money moves; the key is its reference, so the same
        part and attempt is recorded once."""
        return Charged(f"demo_{key}" if key else self.new_reference())

    def find_refund(self, payment: Payment, *, idempotency_key: str) -> RefundResult | None:
        return None  # no money moved: asking again is harmless

    @staticmethod
    def new_reference() -> str:
        return f"demo_{secrets.token_hex(8)}"


class OfflineProvider:
    """Bank transfer: the applicant is shown the clinic's bank details and the booking reference; staff mark the
    money received. A refund is owed (pending) until the clinic sends it."""

    name = "offline"
    page_sources: dict = {}

    def start(self, booking: Payer, kind: str, amount_cents: int) -> PaymentStart:
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
        return StripeProvider()
    if name == "offline":
        return OfflineProvider()
    if name == "demo":
        if not current_app.config.get("DEMO_PAYMENTS_ALLOWED", False):
            raise DomainError("Demo payments are switched off in this configuration.", code="provider_disabled",
                              status=409)
        return DemoProvider()
    raise ValueError(f"unknown payment provider {name!r}")
