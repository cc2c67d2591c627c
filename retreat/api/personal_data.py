"""GET /api/v1/bookings/{reference}/data (shared/API.md, Bookings): everything the clinic holds about the applicant of
a booking, with its manage token (`Authorization: Bearer <manage_token>`; 401 alike for a wrong token and an unknown
reference, and once the data was erased). Each export is audited (retreat.arrival.personal_data)."""

from flask import jsonify

from retreat.api import api_bp
from retreat.api.bookings import _applicant_booking, _private
from retreat.arrival import personal_data
from retreat.web.limits import document_limit


@api_bp.get("/bookings/<reference>/data")
@document_limit
def booking_personal_data(reference: str):
    booking = _applicant_booking(reference)
    return _private(jsonify(personal_data.export_audited(booking, "api")))
