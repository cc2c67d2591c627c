"""The tables of the intake and the checklist reminders (retreat/arrival/intake.py, reminders.py)."""

from datetime import datetime, time

import sqlalchemy as sa
from sqlalchemy.orm import Mapped, mapped_column

from retreat.core.clock import now
from retreat.core.types import UTCDateTime, one_of
from retreat.extensions import db

# Who takes the applicant home after sessions: a person they name, or the clinic helps arrange it.
RIDE_HOME_CHOICES = ("person", "clinic")
# A shared room's guest: a preference in their own words, or none.
ROOMMATE_CHOICES = ("preference", "none")
# The reminders of what is left, sent this many days before the cohort's first day (the clinic's calendar).
REMINDER_DAYS = (21, 7, 2)


class Intake(db.Model):
    """What the applicant tells the clinic before arriving: one row per booking, written by each save of the intake
    form (a part not given yet is NULL). Medications and allergies are health information, encrypted with
    core.crypto like the screening answers and read only through retreat.arrival.intake (clinicians, audited, and
    the applicant themselves); the rest is for coordinators and clinicians."""

    __tablename__ = "intake"
    __table_args__ = (
        sa.CheckConstraint(one_of("ride_home", RIDE_HOME_CHOICES), name="ride_home"),
        sa.CheckConstraint(one_of("roommate", ROOMMATE_CHOICES), name="roommate"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    booking_id: Mapped[int] = mapped_column(sa.ForeignKey("booking.id"), unique=True)
    emergency_name: Mapped[str | None] = mapped_column(sa.String(100))
    emergency_phone: Mapped[str | None] = mapped_column(sa.String(40))
    emergency_relationship: Mapped[str | None] = mapped_column(sa.String(60))
    dietary_needs: Mapped[str | None] = mapped_column(sa.String(2000))
    accessibility_needs: Mapped[str | None] = mapped_column(sa.String(2000))
    medications_encrypted: Mapped[bytes | None] = mapped_column(sa.LargeBinary)
    allergies_encrypted: Mapped[bytes | None] = mapped_column(sa.LargeBinary)
    ride_home: Mapped[str | None] = mapped_column(sa.String(10))
    ride_home_name: Mapped[str | None] = mapped_column(sa.String(100))
    ride_home_phone: Mapped[str | None] = mapped_column(sa.String(40))
    # A time of day on the cohort's first day, in the clinic's zone: kept as the wall-clock time the applicant
    # chose, so it stays right when staff move the cohort's dates (intake.arrival_moment makes the moment).
    arrival_time: Mapped[time | None] = mapped_column(sa.Time)
    roommate: Mapped[str | None] = mapped_column(sa.String(10))
    roommate_preference: Mapped[str | None] = mapped_column(sa.String(200))
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=now)
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime, default=now, onupdate=now)


class ChecklistReminder(db.Model):
    """A reminder of what is left before arrival, emailed `days_before` the cohort's start: one per booking and
    threshold (the unique constraint keeps it so even when two runs of the job overlap)."""

    __tablename__ = "checklist_reminder"
    __table_args__ = (
        sa.UniqueConstraint("booking_id", "days_before", name="uq_checklist_reminder_booking_days"),
        sa.CheckConstraint(f"days_before IN ({', '.join(map(str, REMINDER_DAYS))})", name="days_before"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    booking_id: Mapped[int] = mapped_column(sa.ForeignKey("booking.id"), index=True)
    days_before: Mapped[int]
    # The keys of the steps that were left (checklist.Step.key), as the email listed them.
    steps: Mapped[list[str]] = mapped_column(sa.JSON, default=list)
    sent_at: Mapped[datetime] = mapped_column(UTCDateTime, default=now)

