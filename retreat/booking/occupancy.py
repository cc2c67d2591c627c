"""Occupancy of the coming cohorts, for the coordinators' dashboard: who holds each seat, in two queries.

The categories add up to the seats taken of booking.availability.seats_taken, so free seats here equal the seats
left the public sees: confirmed (confirmed or paid in full), held (a live hold while the applicant books) and
pending review (a live hold while a clinician reviews the screening).
"""

from dataclasses import dataclass
from datetime import date, timedelta

import sqlalchemy as sa

from retreat.booking.availability import free_seats
from retreat.booking.models import HOLDING_STATUSES, SEAT_TAKING_STATUSES, Booking
from retreat.catalog.models import Cohort, Program
from retreat.core.clock import now, today
from retreat.extensions import db

DEFAULT_DAYS = 90


@dataclass(frozen=True)
class CohortOccupancy:
    cohort_id: int
    program_name: str
    program_slug: str
    start_date: date
    end_date: date
    capacity: int
    status: str  # open | closed (cancelled cohorts are left out)
    confirmed: int
    held: int
    pending_review: int

    @property
    def taken(self) -> int:
        return self.confirmed + self.held + self.pending_review

    @property
    def free(self) -> int:
        return free_seats(self.capacity, self.taken)

    @property
    def over_capacity(self) -> int:
        """Seats taken beyond capacity (capacity lowered below the bookings already made)."""
        return max(0, self.taken - self.capacity)

    @property
    def full(self) -> bool:
        return self.free == 0


def upcoming_occupancy(days: int = DEFAULT_DAYS) -> list[CohortOccupancy]:
    """Cohorts that are not cancelled and start from today to `days` days ahead (both included), soonest
    first, with their seats by category."""
    if days < 0:
        raise ValueError("days must not be negative")
    first_day = today()
    cohorts = db.session.execute(
        sa.select(Cohort.id, Program.name, Program.slug, Cohort.start_date, Cohort.end_date, Cohort.capacity,
                  Cohort.status)
        .join(Program, Cohort.program_id == Program.id)
        .where(Cohort.start_date >= first_day, Cohort.start_date <= first_day + timedelta(days=days),
               Cohort.status != "cancelled")
        .order_by(Cohort.start_date, Program.name, Cohort.id)
    ).all()
    if not cohorts:
        return []

    live_hold = Booking.hold_expires_at > now()

    def count_where(condition) -> sa.ColumnElement[int]:
        return sa.func.coalesce(sa.func.sum(sa.case((condition, 1), else_=0)), 0)

    counts = {
        cohort_id: (confirmed, held, pending)
        for cohort_id, confirmed, held, pending in db.session.execute(
            sa.select(
                Booking.cohort_id,
                count_where(Booking.status.in_(SEAT_TAKING_STATUSES)),
                count_where(sa.and_(Booking.status == "held", live_hold)),
                count_where(sa.and_(Booking.status == "pending_review", live_hold)),
            )
            .where(Booking.cohort_id.in_([row.id for row in cohorts]),
                   Booking.status.in_(SEAT_TAKING_STATUSES + HOLDING_STATUSES))
            .group_by(Booking.cohort_id)
        ).all()
    }
    return [
        CohortOccupancy(row.id, row.name, row.slug, row.start_date, row.end_date, row.capacity, row.status,
                        *(int(n) for n in counts.get(row.id, (0, 0, 0))))
        for row in cohorts
    ]
