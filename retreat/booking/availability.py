"""Seats: how many a cohort has left, and the one lock under which seats are counted and taken.

Seats taken = confirmed bookings + holds that have not expired, so a lapsed hold frees its seat at once. Every
change that counts or moves seats (a booking, a cancellation, a capacity change, the waitlist) runs in
`changing_cohort(cohort_id)`: one unit of work holding the cohort's lock (PostgreSQL: a row lock; SQLite: the
database write lock, taken by the unit of work's BEGIN IMMEDIATE), which clears the cached catalog once it commits.

The public catalog (catalog.services) shows seats left through the counter registered here: catalog sits below
booking and does not read bookings itself.
"""

import functools
from collections.abc import Iterator
from contextlib import contextmanager

import sqlalchemy as sa

from retreat.booking.models import HOLDING_STATUSES, SEAT_TAKING_STATUSES, Booking
from retreat.catalog import services as catalog
from retreat.catalog.models import Cohort
from retreat.core.clock import now
from retreat.core.errors import NotFound
from retreat.core.transactions import after_commit, begin_locked_write, in_unit_of_work, unit_of_work
from retreat.extensions import db


@functools.cache
def _seats_taken_statement() -> sa.Select:
    """Built once: a statement made anew on each call costs more Python than the query (SQLAlchemy builds its
    expression and its cache key every time; a statement kept keeps its key)."""
    takes_seat = sa.or_(
        Booking.status.in_(SEAT_TAKING_STATUSES),
        sa.and_(Booking.status.in_(HOLDING_STATUSES), Booking.hold_expires_at > sa.bindparam("moment")),
    )
    return (sa.select(Booking.cohort_id, sa.func.count())
            .where(Booking.cohort_id.in_(sa.bindparam("cohort_ids", expanding=True)), takes_seat)
            .group_by(Booking.cohort_id))


def seats_taken(cohort_ids: list[int]) -> dict[int, int]:
    """Seats taken per cohort: confirmed bookings plus holds that have not expired."""
    if not cohort_ids:
        return {}
    rows = db.session.execute(_seats_taken_statement(), {"cohort_ids": list(cohort_ids), "moment": now()})
    return dict(rows.all())


catalog.count_seats_with(seats_taken)


def free_seats(capacity: int, taken: int) -> int:
    """Capacity minus seats taken, never below zero (capacity may have been lowered below the bookings)."""
    return catalog.free_seats(capacity, taken)


def seats_left(cohort: Cohort) -> int:
    return free_seats(cohort.capacity, seats_taken([cohort.id]).get(cohort.id, 0))


@functools.cache
def _lock_statement() -> sa.Select:
    return (sa.select(Cohort).where(Cohort.id == sa.bindparam("cohort_id")).with_for_update()
            .execution_options(populate_existing=True))


def lock_cohort(cohort_id: int) -> Cohort:
    """Hold this cohort for the rest of the current unit of work: the row lock on PostgreSQL (SQLite's unit holds
    the database write lock already). The cohort is read afresh. NotFound for an unknown cohort."""
    if not in_unit_of_work():
        begin_locked_write()  # a caller outside a unit (a test, a script) still gets a locked write
    cohort = db.session.scalar(_lock_statement(), {"cohort_id": cohort_id})
    if cohort is None:
        raise NotFound("There is no such cohort.")
    return cohort


@contextmanager
def changing_cohort(cohort_id: int) -> Iterator[Cohort]:
    """One unit of work holding the cohort's lock (or a part of the caller's unit, which then holds it too):
    yields the cohort, commits with the caller's unit, and then clears the cached catalog (seats changed)."""
    with unit_of_work():
        cohort = lock_cohort(cohort_id)
        after_commit(catalog.forget_cached_catalog)
        yield cohort
