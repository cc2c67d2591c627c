"""Seat holds against abuse: one script must not be able to hold every seat.

- A hold longer than the card hold (a bank transfer's days, a clinician's review) starts as a card-length hold and
  is extended only when the applicant opens the link emailed to them (`email_confirmation_token`): an invented
  address never confirms, so its seat comes free within BOOKING_HOLD_MINUTES.
- Live unpaid holds are limited per email address (case-folded) and per phone number, clinic-wide, and per client
  address in one cohort (`check_hold_limits`, inside the booking's locked transaction). The limits are
  configuration (HOLD_LIMIT_*), switched off together by HOLD_LIMITS_ENABLED=false for load tests.

The functions here work inside the caller's transaction; booking.services opens it and takes the cohort lock.
"""

import functools
import hashlib
import hmac
from dataclasses import dataclass
from datetime import datetime, timedelta

import phonenumbers
import sqlalchemy as sa
from flask import current_app

from retreat.booking import policy
from retreat.booking.models import HOLDING_STATUSES, Booking, FeeRequest, WaitlistEntry
from retreat.core import clinic
from retreat.core.clock import now
from retreat.core.errors import DomainError
from retreat.extensions import db

DEFAULT_PHONE_REGION = "US"


class TooManyHolds(DomainError):
    status = 429
    code = "too_many_holds"


# --- Who is holding ----------------------------------------------------------------------------------------------

def email_key(email: str) -> str:
    """An email address as compared for limits: `Alex@Example.org` and `alex@example.org` are one applicant."""
    return email.strip().casefold()


def phone_key(phone: str) -> str:
    """A phone number in E.164 (`+15551234567`) however it was typed; its digits when it cannot be read."""
    try:
        number = phonenumbers.parse(phone, DEFAULT_PHONE_REGION)
    except phonenumbers.NumberParseException:
        number = None
    if number is not None and phonenumbers.is_possible_number(number):
        return phonenumbers.format_number(number, phonenumbers.PhoneNumberFormat.E164)
    return "".join(character for character in phone if character.isdigit())


def _live_holds():
    """Bookings holding a seat now, unpaid (a hold becomes confirmed when its deposit arrives)."""
    return sa.select(sa.func.count()).select_from(Booking).where(
        Booking.status.in_(HOLDING_STATUSES), Booking.hold_expires_at > now())


def _lock_keys(*keys: str) -> None:
    """PostgreSQL: serialise bookings by the same applicant for different cohorts (each holds only its own cohort's
    lock), so two cannot both pass the limit. SQLite's write lock serialises every booking already."""
    if db.session.get_bind().dialect.name != "postgresql":
        return
    for key in sorted(set(keys)):
        lock_id = int.from_bytes(hashlib.sha256(f"retreat.hold-limit:{key}".encode()).digest()[:8], "big",
                                 signed=True)
        db.session.execute(sa.select(sa.func.pg_advisory_xact_lock(lock_id)))


APPLICANT_LIMIT_MESSAGE = (
    "A seat is already held for this email address or phone number. Please pay for that booking or cancel it, "
    "from the link in the email we sent you, before holding another seat. If you need help, {contact}.")
ADDRESS_LIMIT_MESSAGE = (
    "Too many seats for these dates are already held from your connection. Please pay for or cancel a held seat "
    "before holding another, or {contact}.")


def limits_enabled() -> bool:
    return bool(current_app.config.get("HOLD_LIMITS_ENABLED", True))


def check_hold_limits(cohort_id: int, email: str, phone: str, client_address: str | None) -> None:
    """Refuse (TooManyHolds, 429) a new hold beyond the configured limits. Call it inside the locked transaction
    that takes the seat, so a burst of requests cannot all pass before any of them holds."""
    if not limits_enabled():
        return
    config = current_app.config
    emails, phones = email_key(email), phone_key(phone)
    _lock_keys(f"email:{emails}", f"phone:{phones}")
    same_email = db.session.scalar(_live_holds().where(Booking.applicant_email_key == emails))
    same_phone = db.session.scalar(_live_holds().where(Booking.applicant_phone_key == phones))
    if same_email >= config["HOLD_LIMIT_PER_EMAIL"] or same_phone >= config["HOLD_LIMIT_PER_PHONE"]:
        raise TooManyHolds(APPLICANT_LIMIT_MESSAGE.format(contact=clinic.contact_words()))
    if client_address:
        from_address = db.session.scalar(_live_holds().where(Booking.cohort_id == cohort_id,
                                                              Booking.client_address == client_address))
        if from_address >= config["HOLD_LIMIT_PER_ADDRESS_PER_COHORT"]:
            raise TooManyHolds(ADDRESS_LIMIT_MESSAGE.format(contact=clinic.contact_words()))


# --- How long a hold lasts ---------------------------------------------------------------------------------------

def card_hold() -> timedelta:
    return timedelta(minutes=current_app.config["BOOKING_HOLD_MINUTES"])


def full_hold(status: str, provider_name: str, *, fee_request: bool = False) -> timedelta:
    """How long a hold of this kind lasts once the applicant's email address is confirmed. A booking that came with
    a request for a reduced fee is held as a review is (booking.fee_requests)."""
    if status == "pending_review" or (fee_request and status in HOLDING_STATUSES):
        return timedelta(hours=current_app.config["REVIEW_HOLD_HOURS"])
    if provider_name == "offline":
        return policy.HOLD_FOR_BANK_TRANSFER
    return card_hold()


def has_fee_request(booking: Booking) -> bool:
    """Whether the booking came with a request for a reduced fee (waiting or decided): its hold is a review's."""
    return booking.id is not None and db.session.scalar(_fee_request_statement(), {"booking_id": booking.id}) \
        is not None


@functools.cache
def _fee_request_statement() -> sa.Select:  # built once (see payments.ledger._statement)
    return sa.select(FeeRequest.id).where(FeeRequest.booking_id == sa.bindparam("booking_id"))


def booking_full_hold(booking: Booking) -> timedelta:
    return full_hold(booking.status, booking.payment_provider, fee_request=has_fee_request(booking))


def needs_email_confirmation(booking: Booking) -> bool:
    """A hold of a kind that lasts longer than the card hold, made by the applicant and kept short until they
    confirm their email address. (A hold the clinic made long itself, a waitlist offer sent by email, needs
    nothing more.)"""
    if booking.status not in HOLDING_STATUSES or booking.email_confirmed_at is not None:
        return False
    if booking_full_hold(booking) <= card_hold():
        return False
    return booking.hold_expires_at is not None and booking.hold_expires_at <= booking.created_at + card_hold()


def initial_hold_until(status: str, provider_name: str) -> datetime:
    """A new hold: the card hold, however long this kind of hold may become (see email confirmation)."""
    return now() + min(full_hold(status, provider_name), card_hold())


def confirmed_hold_until(booking: Booking) -> datetime:
    """Where a hold extends to once its email is confirmed: the full hold from when it was made, never shorter
    than it is."""
    full = booking.created_at + booking_full_hold(booking)
    return max(full, booking.hold_expires_at or full)


def _confirmation_key() -> bytes:
    return hashlib.sha256(b"retreat.booking.confirm-email\0" + current_app.config["SECRET_KEY"].encode()).digest()


def email_confirmation_token(booking: Booking) -> str:
    """The secret of the link that confirms a booking's email address: an HMAC of the booking and the address, so
    it proves the mail reached that address and changes if the address does. Sent only by email (the manage
    token is returned to whoever booked, so it proves nothing)."""
    message = f"{booking.id}:{booking.reference}:{email_key(booking.applicant_email)}".encode()
    return hmac.new(_confirmation_key(), message, hashlib.sha256).hexdigest()[:40]


def is_email_confirmation_token(booking: Booking, token: object) -> bool:
    return isinstance(token, str) and hmac.compare_digest(email_confirmation_token(booking), token)


# --- What coordinators see ---------------------------------------------------------------------------------------

HOLD_KIND_LABELS = {
    "card": "Card payment",
    "bank_transfer": "Bank transfer",
    "review": "Awaiting a clinician's review",
    "waitlist_offer": "Offered from the waitlist",
    "fee_request": "Awaiting a reduced-fee decision",
}


@dataclass(frozen=True)
class LiveHold:
    booking: Booking
    kind: str
    email_confirmed: bool

    @property
    def kind_label(self) -> str:
        return HOLD_KIND_LABELS[self.kind]

    @property
    def age(self) -> timedelta:
        return now() - self.booking.created_at

    @property
    def age_words(self) -> str:
        """`4 min`, `3 h 10 min`, `2 days 5 h`: how long the seat has been held."""
        minutes = max(0, int(self.age.total_seconds() // 60))
        days, minutes = divmod(minutes, 24 * 60)
        hours, minutes = divmod(minutes, 60)
        if days:
            return f"{days} day{'s' if days != 1 else ''} {hours} h"
        return f"{hours} h {minutes} min" if hours else f"{minutes} min"


def live_holds(cohort_id: int) -> list[LiveHold]:
    """A cohort's unpaid holds that still take a seat, oldest first, with their kind."""
    bookings = db.session.scalars(
        sa.select(Booking).where(Booking.cohort_id == cohort_id, Booking.status.in_(HOLDING_STATUSES),
                                 Booking.hold_expires_at > now())
        .order_by(Booking.created_at, Booking.id)).all()
    offered = set(db.session.scalars(sa.select(WaitlistEntry.booking_id).where(
        WaitlistEntry.booking_id.in_([b.id for b in bookings])))) if bookings else set()
    fee_waiting = set(db.session.scalars(sa.select(FeeRequest.booking_id).where(
        FeeRequest.booking_id.in_([b.id for b in bookings]), FeeRequest.status == "requested"))) if bookings else set()
    holds = []
    for booking in bookings:
        if booking.id in offered:
            kind = "waitlist_offer"
        elif booking.status == "pending_review":
            kind = "review"
        elif booking.id in fee_waiting:
            kind = "fee_request"
        elif booking.payment_provider == "offline":
            kind = "bank_transfer"
        else:
            kind = "card"
        holds.append(LiveHold(booking, kind, booking.email_confirmed_at is not None))
    return holds
