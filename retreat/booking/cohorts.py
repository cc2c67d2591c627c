"""The coordinator's side of cohorts: their dates, seats, status and cancellation, the roster, and the bookings of
a cancelled cohort cancelled and refunded.

Plain functions, no `request`. Each change validates everything first (raising ValidationFailed that names every
field at fault, or DomainError for a refused transition), then writes and adds its audit entry in one unit of work;
a refusal leaves nothing written. Changes to a cohort run holding it (availability.changing_cohort), as bookings
do, so a count of seats taken cannot change under them; seats freed or raised are offered to the waitlist in the
same unit.
"""

import hashlib
import re
from dataclasses import dataclass
from datetime import date, datetime, timedelta

import sqlalchemy as sa
from flask import current_app

from retreat.booking import availability, console, payments, staffing
from retreat.booking.models import (
    ACTIVE_STATUSES,
    BOOKING_STATUSES,
    HOLDING_STATUSES,
    SEAT_TAKING_STATUSES,
    Booking,
)
from retreat.booking.rooms_models import Room, RoomPlacement
from retreat.booking.states import BOOKING_STATUS_LABELS, STATUS_ORDER
from retreat.booking.waitlist import offer_freed_seats, release_waitlist
from retreat.catalog import programs
from retreat.catalog import services as catalog
from retreat.catalog.models import Cohort
from retreat.catalog.programs import CONTROL_CHARACTERS, CONTROL_CHARACTERS_MESSAGE, plural
from retreat.core import audit
from retreat.core.clock import now, today
from retreat.core.errors import DomainError, NotFound, ValidationFailed
from retreat.core.spreadsheets import csv_bytes
from retreat.core.transactions import after_commit, unit_of_work
from retreat.extensions import db
from retreat.payments import ledger
from retreat.pricing.rules import Bounds
from retreat.web.filters import long_date

CAPACITY = Bounds(1, 200)


START_HORIZON_DAYS = 3 * 365


ACTIVE_BOOKING_STATUSES = SEAT_TAKING_STATUSES + HOLDING_STATUSES


COHORT_STATUS_LABELS = {
    "open": "Open to bookings", "closed": "Closed to new bookings", "cancelled": "Cancelled",
}


_PAST = {"close": "closed", "reopen": "reopened", "cancel": "cancelled"}


COHORT_TRANSITIONS = {
    "close": (("open",), "closed", "cohort.close"),
    "reopen": (("closed",), "open", "cohort.reopen"),
    "cancel": (("open", "closed"), "cancelled", "cohort.cancel"),
}


def get_cohort(cohort_id: int) -> Cohort:
    cohort = db.session.get(Cohort, cohort_id)
    if cohort is None:
        raise NotFound("There is no such cohort.")
    return cohort


@dataclass(frozen=True)
class CohortDetail:
    cohort: Cohort
    taken: int
    by_status: dict[str, int]  # active bookings per status, in STATUS_ORDER
    live_holds: int  # held or awaiting review, hold not yet expired

    @property
    def seats_left(self) -> int:
        return availability.free_seats(self.cohort.capacity, self.taken)

    @property
    def active_bookings(self) -> int:
        return sum(self.by_status.values())


def cohort_for_staff(cohort_id: int) -> CohortDetail:
    cohort = get_cohort(cohort_id)
    counts = dict(db.session.execute(
        sa.select(Booking.status, sa.func.count()).where(
            Booking.cohort_id == cohort.id, Booking.status.in_(ACTIVE_BOOKING_STATUSES)
        ).group_by(Booking.status)
    ).all())
    live_holds = db.session.scalar(
        sa.select(sa.func.count()).select_from(Booking).where(
            Booking.cohort_id == cohort.id, Booking.status.in_(HOLDING_STATUSES),
            Booking.hold_expires_at > now(),
        )
    )
    by_status = {status: counts[status] for status in STATUS_ORDER if counts.get(status)}
    return CohortDetail(cohort, availability.seats_taken([cohort.id]).get(cohort.id, 0), by_status, live_holds)


@dataclass(frozen=True)
class RosterRow:
    """What the roster shows of a booking: who, how to reach them, where it stands. Never health data."""

    reference: str
    first_name: str
    last_name: str
    email: str
    phone: str
    status: str
    lodging: str
    created_at: datetime
    hold_expires_at: datetime | None
    total_cents: int = 0
    received_cents: int = 0
    room: str | None = None  # the room of a guest with a paid seat, once placed (booking.rooms)

    @property
    def status_label(self) -> str:
        return BOOKING_STATUS_LABELS.get(self.status, self.status)

    @property
    def hold_expired(self) -> bool:
        return (self.status in HOLDING_STATUSES and self.hold_expires_at is not None
                and self.hold_expires_at <= now())

    @property
    def owed_cents(self) -> int:
        return payments.owed_cents(status=self.status, total_cents=self.total_cents,
                                   received_cents=self.received_cents, hold_expires_at=self.hold_expires_at)


_ROSTER_COLUMNS = (Booking.reference, Booking.applicant_first_name, Booking.applicant_last_name,
                   Booking.applicant_email, Booking.applicant_phone, Booking.status, Booking.lodging,
                   Booking.created_at, Booking.hold_expires_at, Booking.total_cents)


def _roster_rows(cohort_id: int, statuses: tuple[str, ...] = BOOKING_STATUSES) -> list[RosterRow]:
    money = ledger.money_by_booking()
    placed = (sa.select(RoomPlacement.booking_id, Room.name).join(Room, Room.id == RoomPlacement.room_id)
              .subquery())
    rows = db.session.execute(
        sa.select(*_ROSTER_COLUMNS, sa.func.coalesce(money.c.received_cents, 0),
                  sa.case((Booking.status.in_(SEAT_TAKING_STATUSES), placed.c.name), else_=None))
        .outerjoin(money, money.c.booking_id == Booking.id)
        .outerjoin(placed, placed.c.booking_id == Booking.id)
        .where(Booking.cohort_id == cohort_id, Booking.status.in_(statuses))
    ).all()
    roster = [RosterRow(*row) for row in rows]
    roster.sort(key=lambda r: (STATUS_ORDER.index(r.status), r.last_name.casefold(), r.first_name.casefold(),
                               r.reference))
    return roster


def roster(cohort_id: int) -> list[RosterRow]:
    """Every booking of a cohort: the people coming first, then pending ones, then cancelled and the like."""
    return _roster_rows(get_cohort(cohort_id).id)


ROSTER_HEADER = ("Reference", "First name", "Last name", "Email", "Phone", "Booking status", "Lodging",
                 "Booked at (UTC)", "Room")


LODGING_EXPORT_LABELS = {"none": "No lodging", "shared": "Shared room", "private": "Private room"}


def roster_filename(cohort: Cohort) -> str:
    safe_slug = re.sub(r"[^a-z0-9-]+", "-", cohort.program.slug.lower()).strip("-") or "program"
    return f"roster-{safe_slug}-{cohort.start_date.isoformat()}.csv"


def export_roster(cohort_id: int) -> tuple[str, bytes]:
    """The roster as CSV (file name, bytes), formula cells neutralised; the export is audited, in one unit of work
    with the rows it names (the write lock first, so exports side by side never fail to upgrade a read lock)."""
    with unit_of_work():
        cohort = get_cohort(cohort_id)
        rows = _roster_rows(cohort.id)
        content = csv_bytes(ROSTER_HEADER, (
            (r.reference, r.first_name, r.last_name, r.email, r.phone, r.status_label,
             LODGING_EXPORT_LABELS.get(r.lodging, r.lodging), r.created_at, r.room or "")
            for r in rows
        ))
        filename = roster_filename(cohort)
        audit.record("cohort.roster_export", "cohort", cohort.id, {"rows": len(rows), "filename": filename})
    return filename, content


def end_date_for(start_date: date, duration_days: int) -> date:
    """The last day of a cohort of a program of `duration_days` starting on `start_date`: a cohort lasts exactly
    its program's length (the price counts that program's nights)."""
    return catalog.last_day_of(start_date, duration_days)


def fits_program(cohort: Cohort) -> bool:
    """Whether a cohort's dates last its program's length (a cohort saved before the rule may not)."""
    return catalog.lasts_its_program(cohort, cohort.program.duration_days)


def _check_capacity(capacity: object, errors: dict[str, list[str]]) -> int | None:
    if capacity is None:
        errors.setdefault("capacity", []).append("Give the number of seats.")
    elif isinstance(capacity, bool) or not isinstance(capacity, int):
        errors.setdefault("capacity", []).append("Give a whole number of seats.")
    elif capacity not in CAPACITY:
        errors.setdefault("capacity", []).append(
            f"A cohort has {CAPACITY.low} to {CAPACITY.high} seats.")
    else:
        return capacity
    return None


def _check_dates(start_date: object, end_date: object, duration_days: int, *, keep_start: date | None = None,
                 errors: dict[str, list[str]]) -> tuple[date, date] | None:
    """Start from today on (unless it is the cohort's current start). The last day follows from the program's
    length: None means start + duration - 1, and any other last day is refused by name."""

    def refuse(field: str, reason: str) -> None:
        errors.setdefault(field, []).append(reason)

    def is_date(value: object) -> bool:
        return isinstance(value, date) and not isinstance(value, datetime)

    if start_date is None:
        refuse("start_date", "Give the first day.")
        return None
    if not is_date(start_date):
        refuse("start_date", "Give a date.")
        return None
    first_day = today()
    if start_date != keep_start:
        if start_date < first_day:
            refuse("start_date", "Choose a first day from today on.")
        elif start_date > first_day + timedelta(days=START_HORIZON_DAYS):
            refuse("start_date", f"Choose a first day within the next {START_HORIZON_DAYS // 365} years.")
    last_day = end_date_for(start_date, duration_days)
    if end_date is not None and not is_date(end_date):
        refuse("end_date", "Give a date, or leave it empty.")
    elif end_date is not None and end_date != last_day:
        refuse("end_date", f"The program lasts {duration_days} days, so dates starting {long_date(start_date)} "
                           f"end on {long_date(last_day)}. Leave the last day empty to have it set for you.")
    if errors.get("start_date") or errors.get("end_date"):
        return None
    return start_date, last_day


def cohort_problems(program_id: int, start_date: object, end_date: object,
                    capacity: object) -> dict[str, list[str]]:
    """What is wrong with these values for a new cohort of the program, saving nothing."""
    errors: dict[str, list[str]] = {}
    _check_dates(start_date, end_date, programs.get_program(program_id).duration_days, errors=errors)
    _check_capacity(capacity, errors)
    return errors


def create_cohort(program_id: int, start_date: object, end_date: object, capacity: object) -> Cohort:
    """A new cohort of a program, open to bookings, lasting the program's length: an empty end date means
    start + duration - 1, and any other end date is refused. It has no therapists yet, so the seats-per-therapist
    cap (booking.staffing) applies once some are assigned."""
    program = programs.get_program(program_id)
    errors: dict[str, list[str]] = {}
    dates = _check_dates(start_date, end_date, program.duration_days, errors=errors)
    seats = _check_capacity(capacity, errors)
    if errors:
        raise ValidationFailed(errors)
    with unit_of_work():
        cohort = Cohort(program=program, start_date=dates[0], end_date=dates[1], capacity=seats, status="open")
        db.session.add(cohort)
        db.session.flush()
        audit.record("cohort.create", "cohort", cohort.id, {
            "program": program.slug, "start_date": dates[0].isoformat(), "end_date": dates[1].isoformat(),
            "capacity": seats,
        })
        after_commit(catalog.forget_cached_catalog)
    return cohort


def _refuse_if_cancelled(cohort: Cohort) -> None:
    if cohort.status == "cancelled":
        raise DomainError("This cohort is cancelled; it can no longer change.", code="cohort_cancelled")


def _active_bookings(cohort_id: int) -> int:
    return db.session.scalar(
        sa.select(sa.func.count()).select_from(Booking)
        .where(Booking.cohort_id == cohort_id, Booking.status.in_(ACTIVE_BOOKING_STATUSES))
    )


def update_cohort(cohort_id: int, start_date: object, end_date: object = None) -> dict[str, dict]:
    """Change a cohort's dates; returns what changed ({} when nothing did). The last day follows from the
    program's length (a cohort saved before that rule is brought to it by saving its first day).

    Refused while applicants are booked (held, awaiting review, confirmed or paid): their plans and balance
    due dates depend on the dates, and moving them is the booking workflow's job.
    """
    with availability.changing_cohort(cohort_id) as cohort:
        _refuse_if_cancelled(cohort)
        errors: dict[str, list[str]] = {}
        dates = _check_dates(start_date, end_date, cohort.program.duration_days, keep_start=cohort.start_date,
                             errors=errors)
        if errors:
            raise ValidationFailed(errors)
        changes = {field: {"from": getattr(cohort, field).isoformat(), "to": value.isoformat()}
                   for field, value in zip(("start_date", "end_date"), dates, strict=True)
                   if getattr(cohort, field) != value}
        if changes and (booked := _active_bookings(cohort.id)):
            field = "start_date" if "start_date" in changes else "end_date"
            raise ValidationFailed({field: [
                f"{plural(booked, 'applicant is', 'applicants are')} booked on these dates, so they cannot "
                "change here: their plans and balance due dates depend on them. If the dates must move, "
                "cancel them (which lists whom to contact) and add new dates."]})
        if changes:
            cohort.start_date, cohort.end_date = dates
            audit.record("cohort.update", "cohort", cohort.id, {"changes": changes})
    return changes


def set_capacity(cohort_id: int, capacity: object) -> dict[str, int]:
    """Raise or lower a cohort's seats. Seats taken are counted under the cohort lock, so no booking can slip
    in between the count and the change; lowering below them is refused. Seats raised are then offered to the
    cohort's waitlist in the same unit of work. A staffed cohort's seats are not raised above what its therapists
    can care for (booking.staffing). Returns {"from", "to"} ({} when unchanged)."""
    errors: dict[str, list[str]] = {}
    seats = _check_capacity(capacity, errors)
    if errors:
        raise ValidationFailed(errors)
    with availability.changing_cohort(cohort_id) as cohort:
        _refuse_if_cancelled(cohort)
        taken = availability.seats_taken([cohort.id]).get(cohort.id, 0)
        if seats < taken:
            raise ValidationFailed({"capacity": [
                f"{plural(taken, 'seat is', 'seats are')} taken; capacity cannot go below {taken}."]})
        previous = cohort.capacity
        staffing.refuse_capacity_over_cap(cohort.id, seats, previous)
        if seats == previous:
            return {}
        cohort.capacity = seats
        audit.record("cohort.capacity", "cohort", cohort.id,
                     {"from": previous, "to": seats, "seats_taken": taken})
        if seats > previous:
            offer_freed_seats(cohort)
    return {"from": previous, "to": seats}


def _transition(cohort_id: int, action: str, details: dict | None = None) -> Cohort:
    allowed_from, status, audit_action = COHORT_TRANSITIONS[action]
    with availability.changing_cohort(cohort_id) as cohort:
        if cohort.status not in allowed_from:
            state = COHORT_STATUS_LABELS[cohort.status].lower()
            raise DomainError(f"This cohort is {state}; it cannot be {_PAST[action]}.",
                              code="cohort_transition_refused")
        if action == "reopen" and cohort.end_date < today():
            raise DomainError("This cohort has ended; it cannot be reopened to bookings.",
                              code="cohort_transition_refused")
        previous = cohort.status
        cohort.status = status
        audit.record(audit_action, "cohort", cohort.id, {"from": previous, "to": status, **(details or {})})
    return cohort


def close_cohort(cohort_id: int) -> Cohort:
    """Close a cohort to new bookings; bookings already made stay."""
    return _transition(cohort_id, "close")


def reopen_cohort(cohort_id: int) -> Cohort:
    return _transition(cohort_id, "reopen")


@dataclass(frozen=True)
class CancellationPreview:
    cohort: Cohort
    affected: tuple[RosterRow, ...]  # bookings held, awaiting review, confirmed or paid

    @property
    def by_status(self) -> dict[str, int]:
        counts: dict[str, int] = {}
        for row in self.affected:
            counts[row.status] = counts.get(row.status, 0) + 1
        return {status: counts[status] for status in STATUS_ORDER if status in counts}

    @property
    def fingerprint(self) -> str:
        """Identifies this list of affected bookings, so a cancellation confirms what the coordinator saw."""
        listed = "\n".join(sorted(f"{row.reference}:{row.status}" for row in self.affected))
        return hashlib.sha256(listed.encode()).hexdigest()[:20]


def cohort_cancellation_preview(cohort_id: int) -> CancellationPreview:
    """What cancelling a cohort would touch: its bookings held, awaiting review, confirmed or paid."""
    cohort = get_cohort(cohort_id)
    return CancellationPreview(cohort, tuple(_roster_rows(cohort.id, ACTIVE_BOOKING_STATUSES)))


class PreviewOutdated(DomainError):
    status = 409
    code = "cancellation_preview_outdated"


def cancel_cohort(cohort_id: int, *, expected_fingerprint: str | None = None,
                  reason: str = "") -> CancellationPreview:
    """Cancel a cohort: it leaves the catalog and takes no bookings, and its waitlist is told and closed, in one
    unit of work. Its bookings are NOT changed here: the applicants returned must be contacted by the clinic, and
    their bookings are then cancelled and refunded (cancel_cohort_bookings).

    With `expected_fingerprint` (from the preview the coordinator confirmed), a booking made or changed since
    refuses the cancellation (PreviewOutdated) so the list can be checked again.
    """
    reason = (reason or "").strip()
    if len(reason) > 500:
        raise ValidationFailed({"reason": ["Keep the reason to 500 characters or fewer."]})
    if CONTROL_CHARACTERS.search(reason):
        raise ValidationFailed({"reason": [CONTROL_CHARACTERS_MESSAGE]})
    allowed_from, status, audit_action = COHORT_TRANSITIONS["cancel"]
    with availability.changing_cohort(cohort_id) as cohort:
        if cohort.status not in allowed_from:
            raise DomainError("This cohort is cancelled already.", code="cohort_transition_refused")
        preview = CancellationPreview(cohort, tuple(_roster_rows(cohort.id, ACTIVE_BOOKING_STATUSES)))
        if expected_fingerprint is not None and expected_fingerprint != preview.fingerprint:
            raise PreviewOutdated("The bookings of this cohort changed since the list was shown. Check the "
                                  "updated list before cancelling.")
        details = {"from": cohort.status, "to": status, "affected": preview.by_status,
                   "references": [row.reference for row in preview.affected]}
        if reason:
            details["reason"] = reason
        cohort.status = status
        audit.record(audit_action, "cohort", cohort.id, details)
        release_waitlist(cohort.id)
    return preview


# --- A cancelled cohort's bookings ---


COHORT_CANCELLED_REASON = "cohort cancelled by the clinic"


@dataclass(frozen=True)
class ActiveBooking:
    reference: str
    applicant_name: str
    status: str
    paid_cents: int


@dataclass(frozen=True)
class CohortRefunds:
    """What cancelling a cancelled cohort's remaining bookings would refund."""

    bookings: tuple[ActiveBooking, ...]

    @property
    def paid_cents(self) -> int:
        return sum(b.paid_cents for b in self.bookings)


def cohort_refunds(cohort_id: int) -> CohortRefunds:
    paid = console.paid_by_booking()
    rows = db.session.execute(
        sa.select(Booking.reference, Booking.applicant_first_name + " " + Booking.applicant_last_name,
                  Booking.status, sa.func.coalesce(paid.c.paid_cents, 0))
        .outerjoin(paid, paid.c.booking_id == Booking.id)
        .where(Booking.cohort_id == cohort_id, Booking.status.in_(ACTIVE_STATUSES))
        .order_by(Booking.applicant_last_name, Booking.applicant_first_name, Booking.reference)
    ).all()
    return CohortRefunds(tuple(ActiveBooking(*row) for row in rows))


@dataclass(frozen=True)
class CohortBookingResult:
    reference: str
    applicant_name: str
    refund_cents: int | None  # None: not cancelled (see `error`)
    owed_by_transfer_cents: int = 0
    error: str | None = None
    refund_pending_cents: int = 0

    @property
    def cancelled(self) -> bool:
        return self.error is None


def cancel_cohort_bookings(cohort_id: int, *, staff) -> list[CohortBookingResult]:
    """Cancel every still-active booking of a cohort the clinic cancelled, refunding everything paid. Each
    booking in a transaction of its own, its refunds asked of the provider after it commits: a provider that fails
    leaves that refund pending for the retry job (the booking is cancelled all the same). The run is audited on
    the cohort."""
    cohort = db.session.get(Cohort, cohort_id)
    if cohort is None:
        raise NotFound("There is no such cohort.")
    if cohort.status != "cancelled":
        raise DomainError("Cancel the dates first: their bookings are refunded after that.",
                          code="cohort_not_cancelled", status=409)
    to_cancel = cohort_refunds(cohort.id).bookings
    db.session.rollback()
    results = []
    for active in to_cancel:
        try:
            cancelled = console.cancel_for_staff(active.reference, by="clinic", reason=COHORT_CANCELLED_REASON,
                                                 staff=staff)
        except DomainError as refusal:
            results.append(CohortBookingResult(active.reference, active.applicant_name, None, error=refusal.message))
        except Exception:  # one booking's unexpected failure must not stop the others
            current_app.logger.exception("Cancelling booking %s of cancelled cohort %s failed", active.reference,
                                         cohort_id)
            results.append(CohortBookingResult(active.reference, active.applicant_name, None,
                                               error="An unexpected error stopped it; it is logged."))
        else:
            results.append(CohortBookingResult(active.reference, active.applicant_name,
                                               cancelled.quote.refund_cents, cancelled.owed_by_transfer_cents,
                                               refund_pending_cents=cancelled.refund_pending_cents))
    if results:
        with unit_of_work():
            audit.record("cohort.cancel_bookings", "cohort", cohort_id, {
                "cancelled": {r.reference: r.refund_cents for r in results if r.cancelled},
                "failed": {r.reference: r.error for r in results if not r.cancelled},
            }, actor=staff)
    return results
