"""The readiness board of a cohort (coordinators and clinicians): one row per booking that holds a seat, one column
per step of the applicant's checklist (arrival.checklist: whatever steps exist, in their order), with filters and
the count of bookings ready and not; the roster export of it (CSV, XLSX) without health data: the clearance's
status is there, never its note. And the clinicians' line on the staff home: bookings still to clear.

Plain functions, no `request`. The board reads the bookings in one query and their clearances in another (the
clearance step reads them from there); each other step reads what its own part needs.
"""

from __future__ import annotations

import io
import re
from dataclasses import dataclass, field, replace
from datetime import timedelta

import sqlalchemy as sa
from flask import url_for
from openpyxl import Workbook
from openpyxl.cell import WriteOnlyCell
from openpyxl.cell.cell import ILLEGAL_CHARACTERS_RE
from openpyxl.styles import Font
from sqlalchemy.orm import contains_eager

from retreat.arrival import checklist, clearance
from retreat.arrival.clearance_models import Clearance
from retreat.arrival.step import Step
from retreat.booking import cohorts
from retreat.booking.models import HOLDING_STATUSES, PAID_STATUSES, SEAT_TAKING_STATUSES, Booking
from retreat.booking.states import BOOKING_STATUS_LABELS, STATUS_ORDER
from retreat.catalog.models import Cohort
from retreat.core import audit, clinic
from retreat.core.clock import now
from retreat.core.spreadsheets import csv_bytes, neutralise
from retreat.core.transactions import unit_of_work
from retreat.extensions import db
from retreat.staff import todo

BOARD_ROLES = ("coordinator", "clinician", "admin")
# The statuses of a booking that holds a seat (a hold that has lapsed does not), in the order the board lists them.
SEAT_STATUSES = tuple(status for status in STATUS_ORDER if status in SEAT_TAKING_STATUSES + HOLDING_STATUSES)
SHOW_CHOICES = {"not_ready": "Not ready", "ready": "Ready"}
EXPORT_FORMATS = ("csv", "xlsx")
XLSX_MIMETYPE = "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet"
CLEAR_WITHIN_DAYS = 30  # the clinicians' to-do: bookings of dates starting this soon, not yet cleared


def holds_a_seat():
    return sa.or_(Booking.status.in_(SEAT_TAKING_STATUSES),
                  sa.and_(Booking.status.in_(HOLDING_STATUSES), Booking.hold_expires_at > now()))


@dataclass(frozen=True)
class Column:
    key: str
    label: str


@dataclass(frozen=True)
class Row:
    booking: Booking
    steps: dict[str, Step]  # by key; a step that does not apply to this booking is absent
    clearance_status: str | None  # "cleared", "follow_up", or None: not yet reviewed

    @property
    def ready(self) -> bool:
        return all(step.done for step in self.steps.values())

    @property
    def missing(self) -> list[Step]:
        return [step for step in self.steps.values() if not step.done]

    @property
    def status_label(self) -> str:
        return BOOKING_STATUS_LABELS[self.booking.status]

    @property
    def clearance_label(self) -> str:
        return clearance.STATUS_LABELS.get(self.clearance_status or "", clearance.NOT_YET_LABEL)


@dataclass(frozen=True)
class Filters:
    show: str = ""  # "", "ready", "not_ready"
    missing: str = ""  # a step's key: rows where that step is not done
    status: str = ""  # a booking status of SEAT_STATUSES

    def keep(self, row: Row) -> bool:
        if self.show and (self.show == "ready") != row.ready:
            return False
        if self.missing and not ((step := row.steps.get(self.missing)) is not None and not step.done):
            return False
        return not (self.status and row.booking.status != self.status)

    @property
    def active(self) -> bool:
        return bool(self.show or self.missing or self.status)

    def as_args(self) -> dict[str, str]:
        return {name: value for name, value in (("show", self.show), ("missing", self.missing),
                                                ("status", self.status)) if value}


@dataclass(frozen=True)
class Board:
    cohort: Cohort
    columns: tuple[Column, ...]
    rows: tuple[Row, ...]  # those the filters keep
    total: int  # bookings holding a seat
    ready: int  # of them, ready
    filters: Filters = field(default_factory=Filters)

    @property
    def not_ready(self) -> int:
        return self.total - self.ready

    def filtered(self, filters: Filters) -> Board:
        """The same board showing only the rows `filters` keeps (the counts stay the cohort's)."""
        return replace(self, rows=tuple(row for row in self.rows if filters.keep(row)), filters=filters)


def _seat_holders(cohort_id: int) -> list[Booking]:
    bookings = db.session.scalars(
        sa.select(Booking).join(Booking.cohort).options(contains_eager(Booking.cohort))
        .where(Booking.cohort_id == cohort_id, holds_a_seat())).all()
    return sorted(bookings, key=lambda b: (STATUS_ORDER.index(b.status), b.applicant_last_name.casefold(),
                                           b.applicant_first_name.casefold(), b.reference))


def board(cohort_id: int, filters: Filters | None = None) -> Board:
    """The cohort's board: every booking holding a seat with its steps; the columns are the steps met on any row,
    in the checklist's order; counts over all rows, rows kept by `filters`."""
    filters = filters or Filters()
    cohort = cohorts.get_cohort(cohort_id)
    bookings = _seat_holders(cohort.id)
    rows: list[Row] = []
    columns: dict[str, str] = {}
    with clearance.preloaded(bookings) as found:
        for booking in bookings:
            steps = {step.key: step for step in checklist.steps(booking)}
            for step in steps.values():
                columns.setdefault(step.key, step.column)
            decided = found.get(booking.id)
            rows.append(Row(booking, steps, decided.status if decided is not None else None))
    whole = Board(cohort, tuple(Column(key, label) for key, label in columns.items()), tuple(rows), len(rows),
                  sum(row.ready for row in rows))
    return whole.filtered(filters) if filters.active else whole


# --- The roster export: no health data ---------------------------------------------------------------------------

LODGING_LABELS = cohorts.LODGING_EXPORT_LABELS


def export_header(columns: tuple[Column, ...]) -> tuple[str, ...]:
    return ("Reference", "Name", "Lodging", "Booking status", *(column.label for column in columns),
            "Ready", "Medical clearance")


def export_rows(the_board: Board) -> list[tuple]:
    """One tuple per row: reference, name, lodging, status, each step Done / Not done (blank: does not apply),
    ready, and the clearance's status (never its note)."""
    out = []
    for row in the_board.rows:
        booking = row.booking
        cells = [booking.reference, booking.applicant_name, LODGING_LABELS.get(booking.lodging, booking.lodging),
                 row.status_label]
        for column in the_board.columns:
            step = row.steps.get(column.key)
            cells.append("" if step is None else ("Done" if step.done else "Not done"))
        cells += ["Ready" if row.ready else "Not ready", row.clearance_label]
        out.append(tuple(cells))
    return out


def export_filename(cohort: Cohort, fmt: str) -> str:
    safe_slug = re.sub(r"[^a-z0-9-]+", "-", cohort.program.slug.lower()).strip("-") or "program"
    return f"readiness-{safe_slug}-{cohort.start_date.isoformat()}.{fmt}"


def _xlsx_bytes(header: tuple[str, ...], rows: list[tuple], sheet_name: str) -> bytes:
    """A workbook of one sheet, text cells neutralised as in the CSV (openpyxl would otherwise write a cell
    starting with = as a formula) and stripped of characters XML cannot carry."""
    book = Workbook(write_only=True)
    sheet = book.create_sheet(sheet_name[:31])
    sheet.freeze_panes = "A2"
    bold = Font(bold=True)
    heading = []
    for name in header:
        cell = WriteOnlyCell(sheet, value=name)
        cell.font = bold
        heading.append(cell)
    sheet.append(heading)
    for row in rows:
        sheet.append([neutralise(ILLEGAL_CHARACTERS_RE.sub("", value)) if isinstance(value, str) else value
                      for value in row])
    buffer = io.BytesIO()
    book.save(buffer)
    return buffer.getvalue()


def export(cohort_id: int, fmt: str, filters: Filters | None = None) -> tuple[str, bytes]:
    """The board (as filtered) as CSV or XLSX: (file name, bytes). Audited, in one unit of work with the rows."""
    if fmt not in EXPORT_FORMATS:
        raise ValueError(f"unknown export format {fmt!r}")
    with unit_of_work():
        the_board = board(cohort_id, filters)
        header, rows = export_header(the_board.columns), export_rows(the_board)
        filename = export_filename(the_board.cohort, fmt)
        content = csv_bytes(header, rows) if fmt == "csv" else _xlsx_bytes(header, rows, "Readiness")
        audit.record("cohort.readiness_export", "cohort", the_board.cohort.id,
                     {"rows": len(rows), "filename": filename, **the_board.filters.as_args()})
    return filename, content


# --- The cohorts with a board, and the clinicians' to-do --------------------------------------------------------

@dataclass(frozen=True)
class CohortLine:
    cohort: Cohort
    seats_held: int
    cleared: int


def upcoming_cohorts() -> list[CohortLine]:
    """Dates not cancelled and not yet over, soonest first, with their bookings holding a seat and how many of those
    are cleared: two queries."""
    first_day = clinic.clinic_date(now())
    found = db.session.scalars(
        sa.select(Cohort).where(Cohort.status != "cancelled", Cohort.end_date >= first_day)
        .order_by(Cohort.start_date, Cohort.id)).all()
    counts = {cohort_id: (held, cleared) for cohort_id, held, cleared in db.session.execute(
        sa.select(Booking.cohort_id, sa.func.count(Booking.id), sa.func.count(Clearance.id))
        .outerjoin(Clearance, sa.and_(Clearance.booking_id == Booking.id, Clearance.status == "cleared"))
        .where(Booking.cohort_id.in_([c.id for c in found]), holds_a_seat())
        .group_by(Booking.cohort_id))}
    return [CohortLine(c, *counts.get(c.id, (0, 0))) for c in found]


def to_clear():
    """Confirmed bookings of dates starting within CLEAR_WITHIN_DAYS days (or started) not yet cleared."""
    first_day = clinic.clinic_date(now())
    cleared = sa.select(Clearance.booking_id).where(Clearance.status == "cleared")
    return (sa.select(sa.func.count()).select_from(Booking).join(Cohort, Cohort.id == Booking.cohort_id)
            .where(Booking.status.in_(PAID_STATUSES), Cohort.status != "cancelled", Cohort.end_date >= first_day,
                   Cohort.start_date <= first_day + timedelta(days=CLEAR_WITHIN_DAYS), Booking.id.not_in(cleared)))


def _clinician_lines() -> list[todo.ToDo]:
    return [todo.ToDo("clearance_due", f"Bookings to clear, dates starting within {CLEAR_WITHIN_DAYS} days",
                      db.session.scalar(to_clear()) or 0, url_for("staff.readiness"),
                      "Confirmed bookings not yet cleared: open their dates' readiness board to record clearance.")]


todo.register("arrival.clearance", roles=clearance.RECORDING_ROLES, order=15, lines=_clinician_lines)
