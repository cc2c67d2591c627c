"""The payment-provider contract: what a provider does (start a payment, refund, find a refund it made), what it
answers, and how it fails. The providers themselves are payments.providers (demo, offline) and
payments.stripe_provider; none of them changes a booking or the ledger.
"""

from dataclasses import dataclass, field
from typing import Protocol

from retreat.core.errors import DomainError
from retreat.payments.models import Payer, Payment


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
    """What an applicant (or API client) needs to pay: `fields` are provider-specific (client_secret, ...) and go
    to API clients too; `page_fields` only to the provider's part of the payment page (a test payment's form)."""

    provider: str
    status: str  # requires_payment | awaiting_transfer | succeeded
    amount_cents: int
    kind: str
    fields: dict = field(default_factory=dict)
    page_fields: dict = field(default_factory=dict)

    def as_json(self) -> dict:
        return {"provider": self.provider, "status": self.status, "kind": self.kind,
                "amount_cents": self.amount_cents, **self.fields}


@dataclass(frozen=True)
class RefundResult:
    provider_reference: str
    status: str = "succeeded"  # or pending: owed, not yet sent (bank transfer)


class PaymentProvider(Protocol):
    name: str
    # What the provider's part of the payment page loads from elsewhere, by Content-Security-Policy directive.
    page_sources: dict[str, tuple[str, ...]]

    def start(self, booking: Payer, kind: str, amount_cents: int) -> PaymentStart:
        """Prepare a payment of `amount_cents` for `booking`; moves no money."""

    def refund(self, payment: Payment, amount_cents: int, *, idempotency_key: str) -> RefundResult:
        """Return `amount_cents` (positive) of `payment` to the payer, once per `idempotency_key`; raises
        ProviderUnavailable."""

    def find_refund(self, payment: Payment, *, idempotency_key: str) -> RefundResult | None:
        """The refund of `payment` this provider made under `idempotency_key`, if any; raises
        ProviderUnavailable."""
