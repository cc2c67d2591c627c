"""Finding a booking: by its reference (staff, providers), by the applicant's manage link, and afresh inside a
locked transaction. The manage link's secret is an HMAC of the booking under a key derived from SECRET_KEY, so
every email carries the same link; only its hash is stored."""

import base64
import hashlib
import hmac

import sqlalchemy as sa
from flask import current_app

from retreat.booking.models import Booking, is_plausible_reference
from retreat.core import clinic, crypto
from retreat.core.errors import DomainError, NotFound
from retreat.extensions import db


class Unauthorized(DomainError):
    status = 401
    code = "unauthorized"


def _manage_key() -> bytes:
    return hashlib.sha256(b"retreat.booking.manage\0" + current_app.config["SECRET_KEY"].encode()).digest()


def manage_token(booking: Booking) -> str:
    """The secret of the applicant's private manage link. Derived (HMAC) from the booking and the secret key, so
    every email can carry the same link; only its hash is stored, to find the booking. Rotating SECRET_KEY
    retires old links (the clinic can send new ones from the staff console)."""
    mac = hmac.new(_manage_key(), f"{booking.id}:{booking.reference}".encode(), hashlib.sha256).digest()
    return base64.urlsafe_b64encode(mac).decode().rstrip("=")


def manage_token_hash(token: str) -> str:
    return crypto.secret_digest(token)


def booking_by_manage_token(token: object) -> Booking:
    booking = None
    if isinstance(token, str) and 20 <= len(token) <= 100 and token.isascii():
        booking = db.session.scalar(sa.select(Booking).where(Booking.manage_token_hash == manage_token_hash(token)))
    if booking is None:
        raise NotFound(f"This booking link is not valid. Please {clinic.contact_words()}.")
    return booking


def booking_for_applicant(reference: object, token: object) -> Booking:
    """The booking a reference names, if `token` is its manage token (401 otherwise, alike for unknown
    references, so a guess learns nothing)."""
    booking = None
    if is_plausible_reference(reference) and isinstance(token, str) and token:
        booking = db.session.scalar(sa.select(Booking).where(Booking.reference == reference))
    if booking is None or booking.manage_token_hash is None or not hmac.compare_digest(
            booking.manage_token_hash, manage_token_hash(token)):
        raise Unauthorized("Send the booking's manage token as 'Authorization: Bearer <manage_token>'.")
    return booking


def booking_by_reference(reference: str) -> Booking:
    booking = None
    if is_plausible_reference(reference):
        booking = db.session.scalar(sa.select(Booking).where(Booking.reference == reference))
    if booking is None:
        raise NotFound("There is no booking with this reference.")
    return booking


def fresh(booking: Booking) -> Booking:
    """The booking as it is now, read again inside the locked transaction."""
    return db.session.scalar(sa.select(Booking).where(Booking.id == booking.id)
                             .execution_options(populate_existing=True))
