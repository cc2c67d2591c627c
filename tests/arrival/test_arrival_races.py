"""Races of the intake and the reminders, on SQLite and PostgreSQL: two runs of `flask bookings remind` at once (a
slow cron and the next one) email each reminder once, and an applicant's double-sent first save (two tabs, a
double click) leaves one intake, both answered."""

from datetime import timedelta

import sqlalchemy as sa
import time_machine

from retreat.arrival import intake, reminders
from retreat.arrival.intake_models import ChecklistReminder, Intake
from retreat.booking.models import Booking
from retreat.extensions import db
from retreat.notify.models import OutboxEmail
from tests.arrival.test_intake import COMPLETE, booked
from tests.booking.support import make_cohort
from tests.booking.test_concurrency import answers, race, racing_app  # noqa: F401  (racing_app: a fixture)
from tests.booking.test_receipts_and_superbills import at_clinic


def test_two_reminder_runs_at_once_email_once_and_two_first_saves_make_one_intake(app, racing_app):  # noqa: F811
    cohort = make_cohort(starts_in_days=30)
    first, _ = booked(cohort=cohort, email="first@example.org")
    second, _ = booked(cohort=cohort, email="second@example.org")
    db.session.execute(sa.delete(OutboxEmail))
    db.session.commit()

    with time_machine.travel(at_clinic(cohort.start_date - timedelta(days=21)), tick=True):
        outcomes = race(racing_app, [reminders.send_checklist_reminders] * 2)
    assert answers(outcomes) == {"ok": 2} and sorted(outcomes) == [0, 2], outcomes
    assert db.session.scalar(sa.select(sa.func.count(ChecklistReminder.id))) == 2
    assert sorted(db.session.scalars(sa.select(OutboxEmail.to_address).where(
        OutboxEmail.kind == "checklist_reminder"))) == ["first@example.org", "second@example.org"]

    booking_id = first.id

    def save(name: str):
        return lambda: intake.save_intake(db.session.get(Booking, booking_id), {**COMPLETE, "emergency_name": name})

    outcomes = race(racing_app, [save(f"Contact {n}") for n in range(4)])
    assert answers(outcomes) == {"ok": 4}, outcomes
    [row] = db.session.scalars(sa.select(Intake)).all()
    assert row.booking_id == booking_id and row.emergency_name.startswith("Contact ")
