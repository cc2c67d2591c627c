"""Calendar files (iCalendar, RFC 5545) of a booking: one all-day event over the cohort's dates.

The file carries the program, the place and the booking reference, never the private manage link (calendars are
synced and shared) and nothing about the applicant's health. All-day events end on the day after the last day:
DTEND is exclusive.
"""

from datetime import date, datetime, timedelta

from icalendar import Calendar, Event

from retreat.booking.models import Booking

# Held or awaiting review: the seat may still go; cancelled, declined or expired: the dates are off.
EVENT_STATUS = {
    "held": "TENTATIVE",
    "pending_review": "TENTATIVE",
    "confirmed": "CONFIRMED",
    "paid_in_full": "CONFIRMED",
    "cancelled": "CANCELLED",
    "declined": "CANCELLED",
    "expired": "CANCELLED",
}


def all_day_end(last_day: date) -> date:
    """The DTEND of an all-day event whose last day is `last_day`."""
    return last_day + timedelta(days=1)


def booking_calendar(booking: "Booking", *, clinic_name: str, uid_domain: str, stamp: datetime) -> bytes:
    """The .ics of a booking's retreat. The UID is stable per booking, so importing the file again (after a
    cancellation, say) updates the event instead of adding a second one."""
    cohort = booking.cohort
    program = cohort.program
    calendar = Calendar()
    calendar.add("prodid", f"-//{clinic_name}//Retreat bookings//EN")
    calendar.add("version", "2.0")
    calendar.add("calscale", "GREGORIAN")
    calendar.add("method", "PUBLISH")

    event = Event()
    event.add("uid", f"booking-{booking.reference}@{uid_domain}")
    event.add("dtstamp", stamp)
    event.add("dtstart", cohort.start_date)
    event.add("dtend", all_day_end(cohort.end_date))
    event.add("summary", f"{program.name} ({clinic_name})")
    if program.location:
        event.add("location", program.location)
    event.add("description", f"{program.name} at {clinic_name}.\nBooking reference: {booking.reference}")
    event.add("status", EVENT_STATUS.get(booking.status, "TENTATIVE"))
    event.add("transp", "OPAQUE")
    calendar.add_component(event)
    return calendar.to_ical()
