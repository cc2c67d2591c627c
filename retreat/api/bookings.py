"""Bookings and the waitlist (shared/API.md, Bookings): hold a seat with a pre-screen token, read or cancel the
booking with its manage token (`Authorization: Bearer <manage_token>`), join a full cohort's waitlist.

Thin: the body's shape (types, unknown fields) is checked here; every rule is booking.services'.
"""

from flask import current_app, jsonify, request

from retreat.api import api_bp, schemas
from retreat.api.serialize import (
    booking_json,
    cancelled_booking_json,
    payment_state_json,
    waitlist_json,
)
from retreat.api.views import json_object, load
from retreat.booking import documents, services
from retreat.booking.models import Booking
from retreat.core.errors import DomainError
from retreat.extensions import db
from retreat.web.errors import error_json
from retreat.web.limits import document_limit, public_write_limit

BOOKING_REQUEST = schemas.BookingRequest()
WAITLIST_REQUEST = schemas.WaitlistRequest()
CANCEL_REQUEST = schemas.CancelBookingRequest()
WWW_AUTHENTICATE = 'Bearer realm="retreat"'


@api_bp.errorhandler(services.Unauthorized)
def manage_token_refused(error: services.Unauthorized):
    db.session.rollback()
    return error_json(error.code, error.message), error.status, {"WWW-Authenticate": WWW_AUTHENTICATE}


def _bearer_token() -> str | None:
    scheme, _, token = request.headers.get("Authorization", "").partition(" ")
    return (token.strip() or None) if scheme.lower() == "bearer" else None


def _applicant_booking(reference: str) -> Booking:
    """The booking of the path, for the caller holding its manage token; 401 alike for a missing or wrong token
    and for an unknown or implausible reference (which is not looked up)."""
    return services.booking_for_applicant(reference, _bearer_token())


def _private(response, status: int = 200):
    """Booking responses carry the manage token: never cached."""
    response.status_code = status
    response.headers["Cache-Control"] = "no-store"
    return response


def _payment_to_make(booking: Booking) -> dict:
    """A held booking's deposit payment, started with its provider. The seat is held and the booking exists
    whatever the provider says, so a provider that cannot start the payment now does not fail the request: the
    applicant pays from the manage page while the hold lasts."""
    if booking.status != "held":
        return payment_state_json(booking)
    try:
        started = services.start_payment(booking)
    except DomainError as refusal:
        db.session.rollback()
        current_app.logger.warning("Payment start failed for booking %s: %s (%s)", booking.reference,
                                   refusal.code, refusal.message)
        return {**payment_state_json(booking), "status": "unavailable",
                "message": "The payment could not be started just now. Your seat is held: please pay from "
                           "your booking's page (manage_url) before the hold expires."}
    return started.as_json() if started is not None else payment_state_json(booking)


@api_bp.post("/bookings")
@public_write_limit
def create_booking():
    values = load(BOOKING_REQUEST, json_object())
    booking = services.create_booking(**values, client_address=request.remote_addr).booking
    response = _private(jsonify(booking_json(booking, payment=_payment_to_make(booking))), 201)
    response.headers["Location"] = f"{request.script_root}{request.path}/{booking.reference}"
    return response


@api_bp.get("/bookings/<reference>")
def get_booking(reference: str):
    return _private(jsonify(booking_json(_applicant_booking(reference))))


def _pdf(data: bytes, filename: str):
    response = current_app.response_class(data, mimetype=documents.PDF_CONTENT_TYPE)
    response.headers["Content-Disposition"] = f'attachment; filename="{filename}"'
    return _private(response)


@api_bp.get("/bookings/<reference>/receipt.pdf")
@document_limit
def booking_receipt(reference: str):
    booking = _applicant_booking(reference)
    return _pdf(documents.receipt_pdf(booking), documents.receipt_filename(booking))


@api_bp.get("/bookings/<reference>/superbill.pdf")
@document_limit
def booking_superbill(reference: str):
    """409 superbill_not_ready (booking.superbills says what is missing) until the superbill can be made."""
    booking = _applicant_booking(reference)
    return _pdf(documents.superbill_pdf(booking), documents.superbill_filename(booking))


@api_bp.post("/bookings/<reference>/cancel")
@public_write_limit
def cancel_booking(reference: str):
    booking = _applicant_booking(reference)
    if request.get_data().strip():
        load(CANCEL_REQUEST, json_object())
    quote = services.cancel_booking(booking, by="applicant")
    return _private(jsonify(cancelled_booking_json(quote)))


@api_bp.post("/waitlist")
@public_write_limit
def join_waitlist():
    values = load(WAITLIST_REQUEST, json_object())
    response = jsonify(waitlist_json(services.join_waitlist(**values)))
    response.status_code = 201
    return response
