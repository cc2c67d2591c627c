"""The payments the app asked a provider for, and whether money that arrived is one of them.

Anyone with the Stripe account's key (or its dashboard) can make a PaymentIntent whose metadata names a booking.
Metadata is therefore no proof: a succeeded intent moves a booking on only when the app created it for that
booking (its id recorded here when `start` or `charge_saved_card` created it) and it took the amount and currency
the app asked for. Anything else is money that arrived but is not the booking's: payments.flags.
"""

from dataclasses import dataclass

import sqlalchemy as sa

from retreat.core.clock import now
from retreat.core.money import format_usd
from retreat.core.transactions import unit_of_work
from retreat.extensions import db
from retreat.payments.models import Payer, RequestedPayment


def find(provider: str, provider_reference: str) -> RequestedPayment | None:
    return db.session.scalar(sa.select(RequestedPayment).where(
        RequestedPayment.provider == provider, RequestedPayment.provider_reference == provider_reference))


def remember(booking: Payer, *, kind: str, amount_cents: int, currency: str, provider: str,
             provider_reference: str) -> RequestedPayment:
    """Write down a payment the app just asked the provider for (its own unit of work, or the caller's), before
    anyone can pay it. The same provider reference twice (an idempotent retry) is written once."""
    with unit_of_work():
        requested = find(provider, provider_reference)
        if requested is None:
            requested = RequestedPayment(booking_id=booking.id, kind=kind, provider=provider,
                                         provider_reference=provider_reference, amount_cents=amount_cents,
                                         currency=currency.lower(), created_at=now())
            db.session.add(requested)
            db.session.flush()
    return requested


@dataclass(frozen=True)
class Mismatch:
    reason: str  # one of models.FLAG_REASONS
    detail: str  # in words, for finance


def _money(cents: int, currency: str) -> str:
    if currency.lower() == "usd":
        return format_usd(cents, show_cents=True)
    return f"{cents / 100:,.2f} {currency.upper()}"


def mismatch(requested: RequestedPayment | None, amount_cents: int, currency: str) -> Mismatch | None:
    """Why money that arrived is not the payment the app asked for; None when it is."""
    if requested is None:
        return Mismatch("not_requested", f"{_money(amount_cents, currency)} paid with a payment this site did not "
                                         "create for the booking (its metadata names the booking)")
    if (currency or "").lower() != requested.currency:
        return Mismatch("currency", f"{_money(amount_cents, currency)} paid where "
                                    f"{_money(requested.amount_cents, requested.currency)} was asked")
    if amount_cents != requested.amount_cents:
        return Mismatch("amount", f"{_money(amount_cents, currency)} paid where "
                                  f"{_money(requested.amount_cents, requested.currency)} was asked")
    return None
