"""Reminders of what is left before arrival: REMINDER_DAYS (21, 7 and 2) days before a cohort's first day, in the
clinic's calendar, each confirmed booking with a step of the checklist still to do gets one email listing those
steps, each with its link (the manage link's secret, as every booking email carries it).

Each reminder is sent once (checklist_reminder, unique per booking and threshold); a day the job did not run sends
it late rather than never, and a booking that meets a threshold with nothing left is not emailed. Only the steps
the applicant does are listed (a step the clinic does, such as the clinician's clearance, has no page of theirs).
"""

from datetime import date, timedelta

import sqlalchemy as sa

from retreat.arrival import checklist
from retreat.arrival.intake_models import REMINDER_DAYS, ChecklistReminder
from retreat.booking.access import manage_token
from retreat.booking.emails import Email, _greeting, _link_paragraph, _signature, _what
from retreat.booking.models import PAID_STATUSES, Booking
from retreat.catalog.models import Cohort
from retreat.core import clinic
from retreat.core.clock import now
from retreat.core.links import external_url
from retreat.core.transactions import unit_of_work
from retreat.extensions import db
from retreat.notify import services as notify
from retreat.notify.services import clinic_name


def send_checklist_reminders(on: date | None = None) -> int:
    """Email each confirmed booking whose cohort starts within REMINDER_DAYS and that has steps left, the reminder
    of the threshold it has reached (once each), in one unit of work. Returns how many were queued."""
    on = on or clinic.clinic_date(now())
    queued = 0
    with unit_of_work():
        bookings = db.session.scalars(
            sa.select(Booking).join(Cohort, Cohort.id == Booking.cohort_id).where(
                Booking.status.in_(PAID_STATUSES), Cohort.status != "cancelled", Cohort.start_date >= on,
                Cohort.start_date <= on + timedelta(days=max(REMINDER_DAYS)))
            .order_by(Booking.id)
            .with_for_update(of=Booking)  # two runs at once: the second waits, then sees what the first sent
        ).all()
        sent: dict[int, set[int]] = {}
        if bookings:
            for booking_id, days in db.session.execute(
                    sa.select(ChecklistReminder.booking_id, ChecklistReminder.days_before)
                    .where(ChecklistReminder.booking_id.in_([booking.id for booking in bookings]))):
                sent.setdefault(booking_id, set()).add(days)
        for booking in bookings:
            queued += _remind(booking, on, sent.get(booking.id, set()))
    return queued


def threshold_reached(days_left: int) -> int | None:
    """The reminder due `days_left` days before the start: the nearest threshold at or above it."""
    due = [days for days in sorted(REMINDER_DAYS) if days_left <= days]
    return due[0] if due else None


def steps_left(booking: Booking) -> list[checklist.Step]:
    """The steps the applicant still has to do (the clinic's own steps are not theirs to be reminded of)."""
    return [step for step in checklist.steps(booking) if not step.done and step.endpoint]


def _remind(booking: Booking, on: date, sent: set[int]) -> int:
    days_left = (booking.cohort.start_date - on).days
    threshold = threshold_reached(days_left)
    if threshold is None or threshold in sent or any(days < threshold for days in sent):
        return 0
    left = steps_left(booking)
    if not left:
        return 0
    db.session.add(ChecklistReminder(booking_id=booking.id, days_before=threshold, steps=[s.key for s in left]))
    notify.enqueue(*checklist_reminder(booking, left, days_left, manage_token(booking)))
    return 1


def checklist_reminder(booking: Booking, left: list[checklist.Step], days_left: int, token: str) -> Email:
    start = booking.cohort.start_date
    when = "today" if days_left == 0 else "tomorrow" if days_left == 1 else f"in {days_left} days"
    lines = "\n".join(f"- {step.label}\n" + (f"  {step.left}\n" if step.left else "")
                      + f"  {external_url(step.endpoint, token=token)}" for step in left)
    body = (f"{_greeting(booking.applicant_first_name)}\n\n{_what(booking)}\n\n"
            f"Your retreat starts {when}, on {start:%A %-d %B %Y}. Before you arrive, please:\n{lines}\n\n"
            "Each step is saved as you do it, and your booking's page shows what is left.\n\n"
            f"{_link_paragraph(token)}\n\n{_signature()}")
    things = "1 thing" if len(left) == 1 else f"{len(left)} things"
    return ("checklist_reminder", booking.applicant_email,
            f"{clinic_name()}: {things} to do before you arrive ({booking.reference})", body)
