"""The one function that moves a booking between states. Every path (web, API, webhook, staff, CLI) calls it,
inside the caller's transaction; it refuses what the table below does not allow and does nothing twice.

    held            the seat is held while the deposit is paid (until hold_expires_at)
    pending_review  the seat is held while a clinician decides (until hold_expires_at)
    confirmed       the deposit is paid
    paid_in_full    deposit and balance are paid
    cancelled       by the applicant or the clinic
    declined        by a clinician after review
    expired         the hold lapsed unpaid
"""

from datetime import datetime

from retreat.booking import plans
from retreat.booking.models import BOOKING_STATUSES, Booking
from retreat.catalog import discounts
from retreat.core import audit
from retreat.core.clock import now
from retreat.core.errors import DomainError

BOOKING_STATUS_LABELS = {
    "held": "Seat held",
    "pending_review": "Awaiting clinician review",
    "confirmed": "Confirmed",
    "paid_in_full": "Paid in full",
    "cancelled": "Cancelled",
    "declined": "Declined",
    "expired": "Hold expired",
}


assert set(BOOKING_STATUS_LABELS) == set(BOOKING_STATUSES)


STATUS_ORDER = ("paid_in_full", "confirmed", "pending_review", "held", "cancelled", "declined", "expired")



ALLOWED_TRANSITIONS: dict[str, frozenset[str]] = {
    "held": frozenset({"confirmed", "paid_in_full", "cancelled", "declined", "expired"}),
    "pending_review": frozenset({"held", "declined", "cancelled", "expired"}),
    "confirmed": frozenset({"paid_in_full", "cancelled", "declined"}),
    "paid_in_full": frozenset({"cancelled", "declined"}),
    # A deposit that arrives after its hold lapsed confirms the booking if a seat is still free (checked under
    # the cohort lock by the caller); otherwise it is refunded.
    "expired": frozenset({"confirmed", "paid_in_full"}),
    "cancelled": frozenset(),
    "declined": frozenset(),
}
TERMINAL_STATUSES = frozenset(status for status, targets in ALLOWED_TRANSITIONS.items() if not targets)
CANCELLABLE_STATUSES = frozenset(s for s, targets in ALLOWED_TRANSITIONS.items() if "cancelled" in targets)


class IllegalTransition(DomainError):
    status = 409
    code = "illegal_transition"


STATUS_MESSAGES = {
    "cancelled": "This booking is cancelled already.",
    "declined": "This booking was declined after review.",
    "expired": "This booking's hold has lapsed.",
    "paid_in_full": "This booking is paid in full.",
}


def transition(booking: Booking, to_status: str, *, reason: str = "", actor=None,
               hold_expires_at: datetime | None = None) -> bool:
    """Move `booking` to `to_status` in the current transaction and audit it. Returns False (and changes
    nothing) when it is there already; raises IllegalTransition when the move is not allowed.

    `hold_expires_at` is required when entering a holding state (held, pending_review).
    """
    if booking.status == to_status:
        return False
    if to_status not in ALLOWED_TRANSITIONS.get(booking.status, ()):
        message = STATUS_MESSAGES.get(booking.status, f"A booking that is {booking.status} cannot become {to_status}.")
        raise IllegalTransition(message, code=_refusal_code(booking.status, to_status))
    moment = now()
    previous = booking.status
    booking.status = to_status
    if to_status in ("held", "pending_review"):
        if hold_expires_at is None:
            raise ValueError("entering a holding state needs hold_expires_at")
        booking.hold_expires_at = hold_expires_at
    elif to_status in ("confirmed", "paid_in_full"):
        booking.hold_expires_at = None
        booking.confirmed_at = booking.confirmed_at or moment
    elif to_status in ("cancelled", "declined"):
        booking.cancelled_at = moment
    if booking.discount_code is not None:
        _count_discount_use(booking, previous, to_status)
    if to_status in ("cancelled", "declined"):
        plans.stop(booking)  # parts not yet paid are not charged (an expired hold has paid none, and may come back)
    details = {"from": previous, "to": to_status}
    if reason:
        details["reason"] = reason
    audit.record(f"booking.{to_status}", "booking", booking.reference, details, actor=actor)
    return True


def _count_discount_use(booking: Booking, previous: str, to_status: str) -> None:
    """A booking that ends without ever having been paid (confirmed_at unset: a lapsed or released hold, a decline
    or cancellation before any payment) gives its discount code's use back; one paid after its hold lapsed takes
    it again (catalog.discounts)."""
    if to_status in ("expired", "cancelled", "declined") and booking.confirmed_at is None:
        discounts.give_back(booking.id)
    elif previous == "expired" and to_status in ("confirmed", "paid_in_full"):
        discounts.take_back(booking.id)


def _refusal_code(current: str, wanted: str) -> str:
    if wanted == "cancelled" and current in ("cancelled", "declined", "expired"):
        return "booking_not_cancellable"
    return "illegal_transition"
