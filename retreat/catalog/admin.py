"""The coordinator's side of the catalog: programs, cohorts, capacity, cancellation and rosters.

Plain functions, no `request`. Each change validates everything first (raising ValidationFailed that names
every field at fault, or DomainError for a refused transition), then writes, adds its audit entry and commits
once; a refusal leaves nothing written. Changes to a cohort run under `catalog.services.lock_cohort`, the same
locked transaction bookings use, so a count of seats taken cannot change under them.

Bookings are read here, never changed: cancelling a cohort marks the cohort only, and lists the applicants the
clinic must contact. The booking state machine (refunds, moving applicants) belongs to the booking area.
"""

import hashlib
import re
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import date, datetime, timedelta

import sqlalchemy as sa
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import selectinload

from retreat.booking.models import BOOKING_STATUSES, HOLDING_STATUSES, SEAT_TAKING_STATUSES, Booking
from retreat.catalog import services as catalog
from retreat.catalog.models import Cohort, Program
from retreat.core import audit
from retreat.core.clock import now, today
from retreat.core.errors import DomainError, NotFound, ValidationFailed
from retreat.core.spreadsheets import csv_bytes
from retreat.core.transactions import unit_of_work
from retreat.extensions import db
from retreat.pricing.estimator import validate_configuration
from retreat.pricing.rules import LODGING_KINDS, Bounds

# --- The rules, as data ---


@dataclass(frozen=True)
class TextRule:
    max_length: int
    required_message: str | None = None  # None: the field may be empty


TEXT_RULES = {
    "name": TextRule(160, "Give the program a name."),
    "slug": TextRule(80, "Give the program's web address name."),
    "summary": TextRule(400, "Give a one or two sentence summary."),
    "description": TextRule(5000),
    "location": TextRule(160),
}
# Validated by pricing.estimator.validate_configuration, the same rules as every estimate.
CONFIGURATION_FIELDS = ("duration_days", "ketamine_route", "dosing_sessions", "therapy_modality",
                        "integration_sessions", "intensive_sessions")
PROGRAM_FIELDS = (*TEXT_RULES, *CONFIGURATION_FIELDS, "lodging_options")
# Shown as a field name only in audit details; their text can be long.
LONG_TEXT_FIELDS = ("summary", "description")
# Invisible control characters (a NUL would even be refused by PostgreSQL); tabs and line breaks are fine.
CONTROL_CHARACTERS = re.compile(r"[\x00-\x08\x0b\x0c\x0e-\x1f\x7f]")
CONTROL_CHARACTERS_MESSAGE = "Remove the invisible control characters from this text (they often come with pasting)."
SLUG_PATTERN = re.compile(r"[a-z0-9]+(?:-[a-z0-9]+)*")
SLUG_RULE = "Use lowercase letters, digits and single hyphens between them, for example iv-emdr-one-week."

CAPACITY = Bounds(1, 200)
# Guards against typing slips in dates (a year of 2207, an end date a month out).
START_HORIZON_DAYS = 3 * 365
MAX_COHORT_DAYS = 31

ACTIVE_BOOKING_STATUSES = SEAT_TAKING_STATUSES + HOLDING_STATUSES
BOOKING_STATUS_LABELS = {
    "held": "Seat held",
    "pending_review": "Awaiting clinician review",
    "confirmed": "Confirmed",
    "paid_in_full": "Paid in full",
    "cancelled": "Cancelled",
    "declined": "Declined",
    "expired": "Hold expired",
}
assert set(BOOKING_STATUS_LABELS) == set(BOOKING_STATUSES)
# Roster order: the people coming first, then those waiting on something, then the rest.
STATUS_ORDER = ("paid_in_full", "confirmed", "pending_review", "held", "cancelled", "declined", "expired")
COHORT_STATUS_LABELS = {
    "open": "Open to bookings", "closed": "Closed to new bookings", "cancelled": "Cancelled",
}

# Allowed cohort status changes: action -> (statuses it may start from, status it leads to, audit action).
_PAST = {"close": "closed", "reopen": "reopened", "cancel": "cancelled"}
COHORT_TRANSITIONS = {
    "close": (("open",), "closed", "cohort.close"),
    "reopen": (("closed",), "open", "cohort.reopen"),
    "cancel": (("open", "closed"), "cancelled", "cohort.cancel"),
}


def _plural(count: int, one: str, many: str) -> str:
    return f"{count} {one if count == 1 else many}"


# --- Reading: what the console shows ---


@dataclass(frozen=True)
class CohortSummary:
    cohort: Cohort
    taken: int  # confirmed plus live holds, as bookings count them

    @property
    def seats_left(self) -> int:
        return catalog.free_seats(self.cohort.capacity, self.taken)

    @property
    def is_past(self) -> bool:
        return self.cohort.end_date < today()


@dataclass(frozen=True)
class ProgramSummary:
    program: Program
    cohorts: tuple[CohortSummary, ...]  # every cohort, soonest first

    @property
    def upcoming(self) -> tuple[CohortSummary, ...]:
        return tuple(c for c in self.cohorts if not c.is_past and c.cohort.status != "cancelled")


def _summaries(programs: list[Program]) -> list[ProgramSummary]:
    taken = catalog.seats_taken([cohort.id for program in programs for cohort in program.cohorts])
    return [
        ProgramSummary(program, tuple(CohortSummary(c, taken.get(c.id, 0)) for c in program.cohorts))
        for program in programs
    ]


def list_programs_for_staff() -> list[ProgramSummary]:
    """Every program, published first then by name, with its cohorts and seats taken (two queries)."""
    programs = db.session.scalars(
        sa.select(Program).options(selectinload(Program.cohorts))
        .order_by(Program.published.desc(), Program.name, Program.id)
    ).all()
    return _summaries(list(programs))


def get_program(program_id: int) -> Program:
    program = db.session.get(Program, program_id)
    if program is None:
        raise NotFound("There is no such program.")
    return program


def program_for_staff(program_id: int) -> ProgramSummary:
    return _summaries([get_program(program_id)])[0]


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
        return catalog.free_seats(self.cohort.capacity, self.taken)

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
    return CohortDetail(cohort, catalog.seats_taken([cohort.id]).get(cohort.id, 0), by_status, live_holds)


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

    @property
    def status_label(self) -> str:
        return BOOKING_STATUS_LABELS.get(self.status, self.status)

    @property
    def hold_expired(self) -> bool:
        return (self.status in HOLDING_STATUSES and self.hold_expires_at is not None
                and self.hold_expires_at <= now())


# The columns are named one by one, so a health column added to Booking later never reaches a roster.
_ROSTER_COLUMNS = (Booking.reference, Booking.applicant_first_name, Booking.applicant_last_name,
                   Booking.applicant_email, Booking.applicant_phone, Booking.status, Booking.lodging,
                   Booking.created_at, Booking.hold_expires_at)


def _roster_rows(cohort_id: int, statuses: tuple[str, ...] = BOOKING_STATUSES) -> list[RosterRow]:
    rows = db.session.execute(
        sa.select(*_ROSTER_COLUMNS).where(Booking.cohort_id == cohort_id, Booking.status.in_(statuses))
    ).all()
    roster = [RosterRow(*row) for row in rows]
    roster.sort(key=lambda r: (STATUS_ORDER.index(r.status), r.last_name.casefold(), r.first_name.casefold(),
                               r.reference))
    return roster


def roster(cohort_id: int) -> list[RosterRow]:
    """Every booking of a cohort: the people coming first, then pending ones, then cancelled and the like."""
    return _roster_rows(get_cohort(cohort_id).id)


ROSTER_HEADER = ("Reference", "First name", "Last name", "Email", "Phone", "Booking status", "Lodging",
                 "Booked at (UTC)")
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
             LODGING_EXPORT_LABELS.get(r.lodging, r.lodging), r.created_at)
            for r in rows
        ))
        filename = roster_filename(cohort)
        audit.record("cohort.roster_export", "cohort", cohort.id, {"rows": len(rows), "filename": filename})
    return filename, content


# --- Programs ---


def suggest_slug(name: str) -> str:
    """A web address name from a program name: `IV Ketamine & EMDR` -> `iv-ketamine-emdr`."""
    slug = re.sub(r"[^a-z0-9]+", "-", name.casefold()).strip("-")
    return slug[:TEXT_RULES["slug"].max_length].rstrip("-")


def _slug_taken(slug: str, other_than: int | None) -> bool:
    query = sa.select(Program.id).where(Program.slug == slug)
    if other_than is not None:
        query = query.where(Program.id != other_than)
    return db.session.scalar(query) is not None


def _clean_program(values: Mapping[str, object], program: Program | None) -> dict:
    """Check every field of a program at once; return the clean values or raise ValidationFailed."""
    errors: dict[str, list[str]] = {}
    clean: dict[str, object] = {}

    def refuse(field: str, reason: str) -> None:
        errors.setdefault(field, []).append(reason)

    for field, rule in TEXT_RULES.items():
        value = values.get(field)
        if value is None:
            value = ""
        if not isinstance(value, str):
            refuse(field, "Give text.")
            continue
        value = value.strip()
        if field == "slug" and not value and program is None and isinstance(values.get("name"), str):
            value = suggest_slug(values["name"])
        if CONTROL_CHARACTERS.search(value):
            refuse(field, CONTROL_CHARACTERS_MESSAGE)
        elif not value and rule.required_message:
            refuse(field, rule.required_message)
        elif len(value) > rule.max_length:
            refuse(field, f"Keep it to {rule.max_length} characters or fewer (it has {len(value)}).")
        clean[field] = value

    slug = clean.get("slug")
    if slug and "slug" not in errors:
        if not SLUG_PATTERN.fullmatch(slug):
            refuse("slug", SLUG_RULE)
        elif program is not None and program.published and slug != program.slug:
            refuse("slug", "Unpublish the program before changing its web address name: links and estimates "
                           "already shared use the current one.")
        elif _slug_taken(slug, program.id if program else None):
            refuse("slug", f"Another program uses “{slug}” already; choose another.")

    try:
        configuration = validate_configuration(
            {field: values.get(field) for field in CONFIGURATION_FIELDS} | {"lodging": "none"})
    except ValidationFailed as refusal:
        for field, reasons in refusal.fields.items():
            for reason in reasons:
                refuse(field, reason)
    else:
        clean.update({field: getattr(configuration, field) for field in CONFIGURATION_FIELDS})

    lodging = values.get("lodging_options")
    if isinstance(lodging, str) or not isinstance(lodging, list | tuple | set | frozenset):
        refuse("lodging_options", "Choose the lodging options this program offers.")
    elif not lodging:
        refuse("lodging_options", "Choose at least one lodging option.")
    elif unknown := sorted(str(kind) for kind in lodging if kind not in LODGING_KINDS):
        refuse("lodging_options", f"Unknown lodging option: {', '.join(unknown)}. "
                                  f"Choose from {', '.join(LODGING_KINDS)}.")
    else:
        clean["lodging_options"] = [kind for kind in LODGING_KINDS if kind in lodging]  # display order

    if errors:
        raise ValidationFailed(errors)
    return clean


def program_problems(values: Mapping[str, object], program_id: int | None = None) -> dict[str, list[str]]:
    """What is wrong with these values for a new program (or for `program_id`), saving nothing. Lets a form
    that failed to parse some fields still show every other problem at once."""
    program = get_program(program_id) if program_id is not None else None
    try:
        _clean_program(values, program)
    except ValidationFailed as refusal:
        return refusal.fields
    return {}


@contextmanager
def _unique_slug(slug: str, program_id: int | None) -> Iterator[None]:
    """Around a program's write: a slug taken by a concurrent save (the unique index refuses it between our
    check and our write) becomes a refusal on the slug field, with everything rolled back."""
    try:
        yield
    except IntegrityError:
        db.session.rollback()
        if _slug_taken(slug, program_id):
            raise ValidationFailed({"slug": [f"Another program uses “{slug}” already; choose another."]}) \
                from None
        raise


def create_program(values: Mapping[str, object]) -> Program:
    """A new program, unpublished: add its dates, then publish it."""
    clean = _clean_program(values, None)
    program = Program(published=False, **clean)
    with _unique_slug(program.slug, None):
        db.session.add(program)
        db.session.flush()
        audit.record("program.create", "program", program.id, {
            "slug": program.slug, "name": program.name,
            **{field: clean[field] for field in CONFIGURATION_FIELDS},
            "lodging_options": clean["lodging_options"],
        })
        db.session.commit()
    catalog.forget_cached_catalog()
    return program


def update_program(program_id: int, values: Mapping[str, object]) -> dict[str, object]:
    """Save a program's fields; returns what changed ({} when nothing did: no write, no audit entry).

    Bookings already made keep their price and lodging, and cohort dates do not move: a new duration applies
    to cohorts created afterwards.
    """
    program = get_program(program_id)
    clean = _clean_program(values, program)
    changes = {}
    for field, value in clean.items():
        if getattr(program, field) != value:
            changes[field] = "changed" if field in LONG_TEXT_FIELDS else {"from": getattr(program, field),
                                                                         "to": value}
    if not changes:
        db.session.rollback()
        return {}
    with _unique_slug(clean["slug"], program.id):
        for field in changes:
            setattr(program, field, clean[field])
        audit.record("program.update", "program", program.id, {"changes": changes})
        db.session.commit()
    catalog.forget_cached_catalog()
    return changes


def set_published(program_id: int, published: bool) -> bool:
    """Publish or unpublish a program; returns False when it already was (no write, no audit entry).

    Unpublishing hides the program and its dates from the public catalog; bookings already made stay as they
    are.
    """
    program = get_program(program_id)
    if program.published == published:
        db.session.rollback()
        return False
    program.published = published
    audit.record("program.publish" if published else "program.unpublish", "program", program.id,
                 {"slug": program.slug})
    db.session.commit()
    catalog.forget_cached_catalog()
    return True


# --- Cohorts ---


def default_end_date(start_date: date, duration_days: int) -> date:
    return start_date + timedelta(days=duration_days - 1)


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
    """Start from today on (unless it is the cohort's current start), end on or after start. An empty end date
    means start + duration - 1."""

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
    if end_date is None:
        end_date = default_end_date(start_date, duration_days)
    elif not is_date(end_date):
        refuse("end_date", "Give a date, or leave it empty.")
        return None
    if end_date < start_date:
        refuse("end_date", "The last day cannot come before the first day.")
    elif (end_date - start_date).days + 1 > MAX_COHORT_DAYS:
        refuse("end_date", f"A cohort lasts at most {MAX_COHORT_DAYS} days; check the last day.")
    if errors.get("start_date") or errors.get("end_date"):
        return None
    return start_date, end_date


def cohort_problems(program_id: int, start_date: object, end_date: object,
                    capacity: object) -> dict[str, list[str]]:
    """What is wrong with these values for a new cohort of the program, saving nothing."""
    errors: dict[str, list[str]] = {}
    _check_dates(start_date, end_date, get_program(program_id).duration_days, errors=errors)
    _check_capacity(capacity, errors)
    return errors


def create_cohort(program_id: int, start_date: object, end_date: object, capacity: object) -> Cohort:
    """A new cohort of a program, open to bookings. An empty end date means start + duration - 1."""
    program = get_program(program_id)
    errors: dict[str, list[str]] = {}
    dates = _check_dates(start_date, end_date, program.duration_days, errors=errors)
    seats = _check_capacity(capacity, errors)
    if errors:
        raise ValidationFailed(errors)
    cohort = Cohort(program=program, start_date=dates[0], end_date=dates[1], capacity=seats, status="open")
    db.session.add(cohort)
    db.session.flush()
    audit.record("cohort.create", "cohort", cohort.id, {
        "program": program.slug, "start_date": dates[0].isoformat(), "end_date": dates[1].isoformat(),
        "capacity": seats,
    })
    db.session.commit()
    catalog.forget_cached_catalog()
    return cohort


@contextmanager
def _locked(cohort_id: int) -> Iterator[Cohort]:
    """The cohort, in the locked write transaction bookings use; a refusal rolls back and lets the lock go."""
    try:
        yield catalog.lock_cohort(cohort_id)
    except BaseException:
        db.session.rollback()
        raise


def _refuse_if_cancelled(cohort: Cohort) -> None:
    if cohort.status == "cancelled":
        raise DomainError("This cohort is cancelled; it can no longer change.", code="cohort_cancelled")


def _active_bookings(cohort_id: int) -> int:
    return db.session.scalar(
        sa.select(sa.func.count()).select_from(Booking)
        .where(Booking.cohort_id == cohort_id, Booking.status.in_(ACTIVE_BOOKING_STATUSES))
    )


def update_cohort(cohort_id: int, start_date: object, end_date: object) -> dict[str, dict]:
    """Change a cohort's dates; returns what changed ({} when nothing did).

    Refused while applicants are booked (held, awaiting review, confirmed or paid): their plans and balance
    due dates depend on the dates, and moving them is the booking workflow's job.
    """
    with _locked(cohort_id) as cohort:
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
                f"{_plural(booked, 'applicant is', 'applicants are')} booked on these dates, so they cannot "
                "change here: their plans and balance due dates depend on them. If the dates must move, "
                "cancel them (which lists whom to contact) and add new dates."]})
        if not changes:
            db.session.rollback()
            return {}
        cohort.start_date, cohort.end_date = dates
        audit.record("cohort.update", "cohort", cohort.id, {"changes": changes})
        db.session.commit()
    catalog.forget_cached_catalog()
    return changes


def set_capacity(cohort_id: int, capacity: object) -> dict[str, int]:
    """Raise or lower a cohort's seats. Seats taken are counted under the cohort lock, so no booking can slip
    in between the count and the change; lowering below them is refused. Seats raised are then offered to the
    cohort's waitlist (in a transaction of their own). Returns {"from", "to"} ({} when unchanged)."""
    errors: dict[str, list[str]] = {}
    seats = _check_capacity(capacity, errors)
    if errors:
        raise ValidationFailed(errors)
    with _locked(cohort_id) as cohort:
        _refuse_if_cancelled(cohort)
        taken = catalog.seats_taken([cohort.id]).get(cohort.id, 0)
        if seats < taken:
            raise ValidationFailed({"capacity": [
                f"{_plural(taken, 'seat is', 'seats are')} taken; capacity cannot go below {taken}."]})
        previous = cohort.capacity
        if seats == previous:
            db.session.rollback()
            return {}
        cohort.capacity = seats
        audit.record("cohort.capacity", "cohort", cohort.id,
                     {"from": previous, "to": seats, "seats_taken": taken})
        db.session.commit()
    catalog.forget_cached_catalog()
    if seats > previous:
        from retreat.booking import services as booking_services  # function level: booking imports catalog
        booking_services.offer_seats_of(cohort_id)
    return {"from": previous, "to": seats}


def _transition(cohort_id: int, action: str, details: dict | None = None) -> Cohort:
    allowed_from, status, audit_action = COHORT_TRANSITIONS[action]
    with _locked(cohort_id) as cohort:
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
        db.session.commit()
    catalog.forget_cached_catalog()
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
    """Cancel a cohort: it leaves the catalog and takes no bookings. Its bookings are NOT changed here: the
    applicants returned must be contacted by the clinic, and refunds are offered through the booking flow.

    With `expected_fingerprint` (from the preview the coordinator confirmed), a booking made or changed since
    refuses the cancellation (PreviewOutdated) so the list can be checked again.
    """
    reason = (reason or "").strip()
    if len(reason) > 500:
        raise ValidationFailed({"reason": ["Keep the reason to 500 characters or fewer."]})
    if CONTROL_CHARACTERS.search(reason):
        raise ValidationFailed({"reason": [CONTROL_CHARACTERS_MESSAGE]})
    allowed_from, status, audit_action = COHORT_TRANSITIONS["cancel"]
    with _locked(cohort_id) as cohort:
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
        db.session.commit()
    catalog.forget_cached_catalog()
    from retreat.booking import services as booking_services  # function level: booking imports catalog
    booking_services.release_waitlist(cohort_id)
    return preview
