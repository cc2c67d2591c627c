"""Reminders of what is left before arrival (retreat/arrival/reminders.py): 21, 7 and 2 days before the start in the
clinic's calendar, once each, late rather than never, only to confirmed bookings with a step of theirs left, through
the outbox; `flask bookings remind` sends them beside the balance reminders."""

from datetime import timedelta

import sqlalchemy as sa
import time_machine

from retreat.arrival import reminders
from retreat.arrival.intake_models import ChecklistReminder
from retreat.booking import services as booking_services
from retreat.booking.models import Booking
from retreat.extensions import db
from retreat.notify.models import OutboxEmail
from tests.arrival.test_intake import booked, fill
from tests.booking.support import make_cohort
from tests.booking.test_receipts_and_superbills import at_clinic


def pay_balance(booking: Booking) -> None:
    booking_services.payment_received(booking.reference, kind="balance", amount_cents=booking.balance_cents,
                                      provider="demo", provider_reference=f"demo_{booking.reference}_balance")


def emailed() -> list[tuple[str, str]]:
    """(to, subject) of each checklist reminder in the outbox, oldest first; the outbox is then emptied."""
    db.session.rollback()
    rows = db.session.execute(sa.select(OutboxEmail.to_address, OutboxEmail.subject, OutboxEmail.body).where(
        OutboxEmail.kind == "checklist_reminder").order_by(OutboxEmail.id)).all()
    db.session.execute(sa.delete(OutboxEmail))
    db.session.commit()
    return rows


def test_reminders_21_7_and_2_days_before_the_start_once_each(app):
    cohort = make_cohort(starts_in_days=30)
    start = cohort.start_date
    missing, token = booked(cohort=cohort, email="missing@example.org")
    pay_balance(missing)  # paid in full, the intake not given: its reminders name the intake and the ride home
    ready, _ = booked(cohort=cohort, email="ready@example.org")
    fill(ready)
    pay_balance(ready)
    booked(cohort=cohort, confirmed=False, email="held@example.org")  # a held seat is not reminded
    emailed()
    runner = app.test_cli_runner()

    # (days before the start, hour at the clinic, the thresholds emailed to missing@ then)
    for days, hour, sent in [
        (22, 23, []),  # 11 PM in New York: already the 21st day before in UTC, not at the clinic
        (21, 8, [21]), (21, 20, []), (20, 8, []), (8, 8, []),
        (7, 8, [7]), (7, 9, []), (3, 8, []),
        (2, 8, [2]), (1, 8, []), (0, 8, []),
    ]:
        with time_machine.travel(at_clinic(start - timedelta(days=days), hour), tick=False):
            if days == 21 and hour == 8:  # the cron line: both kinds of reminder
                result = runner.invoke(args=["bookings", "remind"])
                assert result.output.endswith("Queued 1 checklist reminder(s).\n"), result.output
                assert "balance reminder(s)" in result.output
            else:
                assert reminders.send_checklist_reminders() == len(sent), (days, hour)
        mails = emailed()
        assert [to for to, _, _ in mails] == ["missing@example.org"] * len(sent), (days, hour)
        if days == 21 and sent:
            [(_, subject, body)] = mails
            assert subject.endswith(f"2 things to do before you arrive ({missing.reference})")
            assert "Your retreat starts in 21 days" in body
            assert "- Fill in your intake form\n  Not started yet.\n  http" in body, body
            assert f"/bookings/manage/{token}/intake\n- Arrange your ride home after sessions\n" in body, body
            assert "- Arrange your ride home after sessions" in body and "Pay in full before you arrive" not in body
            assert "Keep this link to yourself" in body
    assert db.session.scalars(sa.select(ChecklistReminder.days_before).where(
        ChecklistReminder.booking_id == missing.id).order_by(ChecklistReminder.id)).all() == [21, 7, 2]


def test_a_reminder_missed_is_sent_late_and_nothing_once_all_is_done(app):
    cohort = make_cohort(starts_in_days=30)
    start = cohort.start_date
    late, _ = booked(cohort=cohort, email="late@example.org")
    fill(late, medications="")
    emailed()
    with time_machine.travel(at_clinic(start - timedelta(days=5)), tick=False):
        assert reminders.send_checklist_reminders() == 1  # the 7-day one, late; never the 21-day one now
    [(_, subject, body)] = emailed()
    assert "Still to give: current medications." in body and "Pay in full before you arrive" in body, body
    assert "Lamotrigine" not in body and "Sertraline" not in body
    assert db.session.scalars(sa.select(ChecklistReminder.days_before)).all() == [7]

    fill(late)
    pay_balance(late)
    with time_machine.travel(at_clinic(start - timedelta(days=2)), tick=False):
        assert reminders.send_checklist_reminders() == 0, "nothing left: no email"
    assert emailed() == []


def test_the_threshold_reached():
    assert [reminders.threshold_reached(days) for days in (30, 22, 21, 20, 8, 7, 6, 3, 2, 1, 0)] == \
        [None, None, 21, 21, 21, 7, 7, 7, 2, 2, 2]
