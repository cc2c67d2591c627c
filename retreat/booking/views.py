"""The applicant's booking pages: book from a pre-screen, pay, and the private manage page."""

from flask import Blueprint

booking_bp = Blueprint("booking", __name__, url_prefix="/bookings")


@booking_bp.get("/manage/<token>")
def manage(token: str):
    from retreat.booking import services
    booking = services.booking_by_manage_token(token)
    return {"reference": booking.reference, "status": booking.status}
