"""The payment ledger as finance reads it: filtered rows, totals, a chart by week or month, each booking's money
history, the month close, and the one generator of rows that every export writes.

Every query selects the columns it needs, joining payment -> booking -> cohort -> program; no ORM object with
health data is loaded and the screening table is never joined. Nothing here writes, except `record_export`,
the audit entry of an export.

Dates are UTC calendar dates: a payment belongs to the day of its `created_at` in UTC, and a range
`date_from`..`date_to` includes both days.
"""

from __future__ import annotations

from collections import namedtuple
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, date, datetime, time, timedelta

import sqlalchemy as sa
from sqlalchemy.ext.compiler import compiles
from sqlalchemy.sql.functions import FunctionElement

from retreat.booking import services as booking_services
from retreat.booking.models import HOLDING_STATUSES, Booking, is_plausible_reference
from retreat.catalog.models import Cohort, Program
from retreat.core import audit
from retreat.core.clock import today
from retreat.core.errors import NotFound, ValidationFailed
from retreat.core.transactions import unit_of_work
from retreat.core.types import UTCDateTime
from retreat.extensions import db
from retreat.finance.formatting import CODE, DATE, INTEGER, MONEY, TEXT, Column
from retreat.payments import flags, ledger
from retreat.payments.models import PAYMENT_KINDS, PAYMENT_PROVIDERS, PAYMENT_STATUSES, Payment, PendingRefund

# Who may read the ledger and export it (the console, the API, its tokens).
ACCESS_ROLES = ("finance", "admin")

KIND_LABELS = {"deposit": "Deposit", "balance": "Balance", "installment": "Installment", "refund": "Refund"}
PROVIDER_LABELS = {"stripe": "Stripe", "offline": "Bank transfer", "demo": "Demo"}
STATUS_LABELS = {"succeeded": "Succeeded", "pending": "Pending"}
# Bookings that still owe money: the deposit is paid, the balance not yet.
STREAM_BATCH = 2000
# Dates outside these are refused: no payment is that old, and a range must not run off the calendar.
MIN_DATE = date(1900, 1, 1)
MAX_DATE = date(2999, 12, 31)


class utc_date(FunctionElement):
    """The UTC calendar date of a UTCDateTime column, in SQL (so that grouping by day happens in the database).
    SQLite stores the UTC wall time, so date() is enough; PostgreSQL converts timestamptz to UTC first."""

    type = sa.Date()
    name = "utc_date"
    inherit_cache = True


@compiles(utc_date)
def _utc_date_default(element, compiler, **kw):
    return f"CAST({compiler.process(element.clauses, **kw)} AS DATE)"


@compiles(utc_date, "sqlite")
def _utc_date_sqlite(element, compiler, **kw):
    return f"date({compiler.process(element.clauses, **kw)})"


@compiles(utc_date, "postgresql")
def _utc_date_postgresql(element, compiler, **kw):
    return f"CAST(({compiler.process(element.clauses, **kw)}) AT TIME ZONE 'UTC' AS DATE)"


class date_text(FunctionElement):
    """A date as ISO 8601 text, `2027-03-01`, made by the database: the export rows carry their dates as text,
    so that neither SQLAlchemy nor the writers convert 100,000 dates to objects and back. For a UTCDateTime
    column it is the UTC date."""

    type = sa.String()
    name = "date_text"
    inherit_cache = True


@compiles(date_text)
def _date_text_default(element, compiler, **kw):
    return f"CAST(CAST({compiler.process(element.clauses, **kw)} AS DATE) AS VARCHAR(10))"


@compiles(date_text, "sqlite")
def _date_text_sqlite(element, compiler, **kw):
    return f"date({compiler.process(element.clauses, **kw)})"


@compiles(date_text, "postgresql")
def _date_text_postgresql(element, compiler, **kw):
    column = compiler.process(element.clauses, **kw)
    [clause] = element.clauses.clauses
    if isinstance(clause.type, sa.DateTime | UTCDateTime):
        column = f"({column}) AT TIME ZONE 'UTC'"
    return f"to_char({column}, 'YYYY-MM-DD')"


def utc_midnight(day: date) -> datetime:
    return datetime.combine(day, time.min, tzinfo=UTC)


# --- Filters ----------------------------------------------------------------------------------------------

@dataclass(frozen=True)
class LedgerFilters:
    """What the ledger shows and an export contains. None means any."""

    date_from: date | None = None
    date_to: date | None = None
    program_id: int | None = None
    cohort_id: int | None = None
    provider: str | None = None
    kind: str | None = None
    status: str | None = None

    def check(self) -> LedgerFilters:
        """Refuse filters that cannot match by design (a reversed range, an unknown kind); returns self."""
        errors: dict[str, list[str]] = {}
        for name, value in (("from", self.date_from), ("to", self.date_to)):
            if value is not None and not MIN_DATE <= value <= MAX_DATE:
                errors[name] = [f"Give a date from {MIN_DATE.year} to {MAX_DATE.year}."]
        if not errors and self.date_from and self.date_to and self.date_from > self.date_to:
            errors["to"] = ["The last day must not be before the first day."]
        for name, allowed in (("provider", PAYMENT_PROVIDERS), ("kind", PAYMENT_KINDS),
                              ("status", PAYMENT_STATUSES)):
            value = getattr(self, name)
            if value is not None and value not in allowed:
                errors[name] = [f"Choose one of {', '.join(allowed)}."]
        if errors:
            raise ValidationFailed(errors)
        return self

    def describe(self) -> dict[str, str | int]:
        """The filters set, for the audit log and file names."""
        described: dict[str, str | int] = {}
        for name in ("date_from", "date_to", "program_id", "cohort_id", "provider", "kind", "status"):
            value = getattr(self, name)
            if value is not None:
                described[name] = value.isoformat() if isinstance(value, date) else value
        return described

    @property
    def period(self) -> str:
        start = self.date_from.isoformat() if self.date_from else "start"
        end = self.date_to.isoformat() if self.date_to else "today"
        return f"{start}..{end}"


def _where(filters: LedgerFilters) -> list[sa.ColumnElement[bool]]:
    conditions: list[sa.ColumnElement[bool]] = []
    if filters.date_from:
        conditions.append(Payment.created_at >= utc_midnight(filters.date_from))
    if filters.date_to:
        conditions.append(Payment.created_at < utc_midnight(filters.date_to + timedelta(days=1)))
    if filters.program_id is not None:
        conditions.append(Cohort.program_id == filters.program_id)
    if filters.cohort_id is not None:
        conditions.append(Booking.cohort_id == filters.cohort_id)
    if filters.provider:
        conditions.append(Payment.provider == filters.provider)
    if filters.kind:
        conditions.append(Payment.kind == filters.kind)
    if filters.status:
        conditions.append(Payment.status == filters.status)
    return conditions


def _joined(statement: sa.Select) -> sa.Select:
    return (statement.join(Booking, Payment.booking_id == Booking.id)
            .join(Cohort, Booking.cohort_id == Cohort.id)
            .join(Program, Cohort.program_id == Program.id))


def _filtered(statement: sa.Select, filters: LedgerFilters) -> sa.Select:
    return _joined(statement.select_from(Payment)).where(*_where(filters))


# --- The rows of the exports ------------------------------------------------------------------------------

def _payer_name() -> sa.ColumnElement[str]:
    return sa.func.trim(Booking.applicant_first_name + " " + Booking.applicant_last_name)


# The export contract (shared/API.md, Finance), declared once: its columns in order, each with its name (the CSV
# header and XLSX first row), its kind (how each format writes a cell: formatting.py), its XLSX width, the row
# field (also the API's JSON key) and the SQL it is read from. The export rows and the ledger rows, the queries,
# and the CSV, XLSX and JSON writers (exports.py) are all derived from it: adding or renaming a column is an edit
# here (and in the contract).
EXPORT_SPEC: tuple[Column, ...] = (
    Column("date", DATE, 11, source=Payment.created_at),  # the payment's UTC date
    Column("payment_id", INTEGER, 11, source=Payment.id),
    Column("booking_reference", TEXT, 17, source=Booking.reference),
    Column("payer_name", TEXT, 24, source=_payer_name()),
    Column("payer_email", TEXT, 30, source=Booking.applicant_email),
    Column("program", TEXT, 40, repeats=True, source=Program.name),
    Column("cohort_start", DATE, 12, source=Cohort.start_date),
    Column("kind", CODE, 9, source=Payment.kind),
    Column("provider", CODE, 9, source=Payment.provider),
    Column("provider_reference", TEXT, 30, source=Payment.provider_reference),
    Column("status", CODE, 10, source=Payment.status),
    Column("currency", TEXT, 8, source=Payment.currency),  # from the payment provider; no constraint holds it
    Column("amount", MONEY, 12, field="amount_cents", source=Payment.amount_cents),
    Column("fee", MONEY, 10, field="fee_cents", nullable=True, source=Payment.fee_cents),
    Column("net", MONEY, 12, field="net_cents", nullable=True, source=Payment.net_cents),
)
EXPORT_COLUMNS = tuple(column.header for column in EXPORT_SPEC)

# One money movement for the exports, a field per column of EXPORT_SPEC in its order: dates as ISO 8601 text
# (`date` the payment's UTC date), money in integer cents, fee and net None where unknown.
ExportRow = namedtuple("ExportRow", [column.field for column in EXPORT_SPEC])
# One money movement for the console and the JSON API: the same fields with dates as dates, then the exact time
# of the movement and whether it is flagged (money that named the booking but is not counted as its own:
# payments.flags).
LedgerRow = namedtuple("LedgerRow", [*ExportRow._fields, "created_at", "flagged"], defaults=(False,))


def _is_datetime(expression) -> bool:
    return isinstance(expression.type, sa.DateTime | UTCDateTime)


def _export_columns():
    """The SELECT list of the export rows: dates as text made by the database (date_text)."""
    return tuple(date_text(column.source) if column.kind == DATE else column.source for column in EXPORT_SPEC)


def _row_columns():
    """The SELECT list of the ledger rows: dates as dates (a timestamp's UTC date), then the time and flag."""
    return (*(utc_date(column.source) if column.kind == DATE and _is_datetime(column.source) else column.source
              for column in EXPORT_SPEC), Payment.created_at, Payment.flagged)


def _ledger_rows(statement: sa.Select) -> list[LedgerRow]:
    return [LedgerRow._make(row) for row in db.session.execute(statement)]


def _ordered(columns, filters: LedgerFilters) -> sa.Select:
    return _filtered(sa.select(*columns), filters).order_by(Payment.created_at, Payment.id)


def _stream(statement: sa.Select, make, batch: int):
    result = db.session.connection().execute(statement.execution_options(yield_per=batch))
    try:
        for row in result:
            yield make(row)
    finally:
        result.close()


def _stream_plain(statement: sa.Select, make, batch: int):
    """Rows of plain values (text, integers, NULL) read straight from the driver's cursor, `batch` at a time:
    SQLAlchemy binds the parameters and runs the query, and the rows are fetched from its DBAPI cursor
    (`CursorResult.cursor`), skipping SQLAlchemy's Row objects, which would convert nothing here (a tenth of
    a long export's time). SQLite's cursor steps through the result as it is read: flat memory. No
    stream_results option: with it SQLAlchemy would buffer rows ahead from the same cursor."""
    result = db.session.connection().execute(statement)
    try:
        cursor = result.cursor
        while batch_rows := cursor.fetchmany(batch):
            yield from map(make, batch_rows)
    finally:
        result.close()


def _stream_psycopg(statement: sa.Select, make, batch: int):
    """PostgreSQL through psycopg's streaming (`Cursor.stream`, in chunks of `batch` rows): the server sends the
    rows as it makes them while this process formats those already here, where a server-side cursor would wait
    for each batch in turn; a long export takes about two thirds of the time, in the same flat memory. Only for
    rows of plain values (text, integers, NULL), which psycopg hands out as SQLAlchemy would. The parameters go
    as SQLAlchemy collected them: aware UTC datetimes, integers and text, which psycopg adapts itself."""
    connection = db.session.connection()
    compiled = statement.compile(dialect=connection.dialect)
    cursor = connection.connection.driver_connection.cursor()
    try:
        for row in cursor.stream(str(compiled), compiled.construct_params(), size=batch):
            yield make(row)
    finally:
        cursor.close()


def iter_payments(filters: LedgerFilters, *, batch: int = STREAM_BATCH) -> Iterator[ExportRow]:
    """The one generator of rows every export writes: each payment the filters match, oldest first, streamed
    from the database `batch` rows at a time, so that an export of any length runs in flat memory. Read with no
    conversion per value: the database hands out the dates as text.

    A generator: nothing is read until the first row is asked for."""
    statement = _ordered(_export_columns(), filters)
    driver = db.session.connection().dialect.driver
    if driver == "psycopg" and _psycopg_streams_in_chunks():
        yield from _stream_psycopg(statement, ExportRow._make, batch)
    elif driver == "psycopg":
        yield from _stream(statement, ExportRow._make, batch)  # a server-side cursor
    else:
        yield from _stream_plain(statement, ExportRow._make, batch)


def _psycopg_streams_in_chunks() -> bool:
    """Chunked streaming needs libpq 17 or later (psycopg[binary] bundles one; a system libpq may be older)."""
    import psycopg
    return psycopg.pq.version() >= 170000


def iter_ledger(filters: LedgerFilters, *, batch: int = STREAM_BATCH) -> Iterator[LedgerRow]:
    """The same payments with typed dates and the exact time (the JSON API), streamed through SQLAlchemy (a
    server-side cursor on PostgreSQL), which converts the values."""
    return _stream(_ordered(_row_columns(), filters), LedgerRow._make, batch)


def count_payments(filters: LedgerFilters) -> int:
    return db.session.scalar(_filtered(sa.select(sa.func.count(Payment.id)), filters)) or 0


def export_basename(filters: LedgerFilters) -> str:
    """`retreat-payments_2027-03-01_to_2027-03-31`, naming the period of an export file."""
    start = filters.date_from.isoformat() if filters.date_from else "start"
    end = filters.date_to.isoformat() if filters.date_to else today().isoformat()
    return f"retreat-payments_{start}_to_{end}"


def record_export(filters: LedgerFilters, export_format: str, rows: int, *, actor=None,
                  via: str = "console") -> None:
    """The audit entry of an export: who exported which period, in which format, through what. Committed in a
    unit of work of its own (the write lock first: exports run side by side), before the rows stream."""
    with unit_of_work():
        audit.record("finance.export", "payments", filters.period,
                     {"format": export_format, "rows": rows, "via": via, **filters.describe()}, actor=actor)


# --- The console: a page of rows, totals, the chart -------------------------------------------------------

PAGE_SIZE = 50


def ledger_page(filters: LedgerFilters, page: int = 1, per_page: int = PAGE_SIZE) -> tuple[list[LedgerRow], bool]:
    """One page of the ledger, newest first, and whether more follow."""
    statement = (_filtered(sa.select(*_row_columns()), filters)
                 .order_by(Payment.created_at.desc(), Payment.id.desc())
                 .offset((page - 1) * per_page).limit(per_page + 1))
    rows = _ledger_rows(statement)
    return rows[:per_page], len(rows) > per_page


@dataclass(frozen=True)
class Totals:
    count: int = 0
    gross_cents: int = 0  # deposits and balances
    refunds_cents: int = 0  # negative
    fees_cents: int = 0  # known fees only
    pending_cents: int = 0  # movements not made yet (a refund owed by bank transfer)
    fees_unknown: int = 0  # Stripe payments whose fee is not known yet

    @property
    def net_cents(self) -> int:
        """What the clinic keeps: money in, less refunds, less the fees known."""
        return self.gross_cents + self.refunds_cents - self.fees_cents


def _sum_where(condition, value) -> sa.ColumnElement[int]:
    return sa.func.coalesce(sa.func.sum(sa.case((condition, value), else_=0)), 0)


def _totals_columns():
    unknown_fee = sa.and_(Payment.provider == "stripe", sa.or_(Payment.fee_cents.is_(None),
                                                              Payment.net_cents.is_(None)))
    return (
        sa.func.count(Payment.id),
        _sum_where(Payment.amount_cents > 0, Payment.amount_cents),
        _sum_where(Payment.amount_cents < 0, Payment.amount_cents),
        sa.func.coalesce(sa.func.sum(Payment.fee_cents), 0),
        _sum_where(Payment.status == "pending", Payment.amount_cents),
        _sum_where(unknown_fee, 1),
    )


def totals(filters: LedgerFilters) -> Totals:
    row = db.session.execute(_filtered(sa.select(*_totals_columns()), filters)).one()
    return Totals(*(int(value) for value in row))


@dataclass(frozen=True)
class Bucket:
    start: date
    end: date
    label: str
    in_cents: int  # deposits and balances
    refunds_cents: int  # negative

    @property
    def net_cents(self) -> int:
        return self.in_cents + self.refunds_cents


CHART_PERIODS = ("week", "month", "year")
MAX_BUCKETS = 60


def _bucket_start(day: date, period: str) -> date:
    if period == "week":
        return day - timedelta(days=day.weekday())
    if period == "month":
        return day.replace(day=1)
    return day.replace(month=1, day=1)


def _next_bucket(start: date, period: str) -> date:
    if period == "week":
        return start + timedelta(days=7)
    if period == "month":
        return (start.replace(day=28) + timedelta(days=4)).replace(day=1)
    return start.replace(year=start.year + 1)


def _bucket_label(start: date, period: str) -> str:
    if period == "week":
        return f"Week of {start.day} {start:%b %Y}"
    if period == "month":
        return f"{start:%b %Y}"
    return str(start.year)


def chart(filters: LedgerFilters, period: str = "week") -> tuple[str, list[Bucket]]:
    """Money in and refunds per week (weeks start on Monday), month or year over the filters' range, empty
    periods included. Too many weeks for a readable chart become months, too many months years. Returns the
    period used and the buckets, oldest first."""
    if period not in CHART_PERIODS:
        raise ValueError(f"period must be one of {CHART_PERIODS}")
    day = utc_date(Payment.created_at)
    per_day = db.session.execute(
        _filtered(sa.select(day, _sum_where(Payment.amount_cents > 0, Payment.amount_cents),
                            _sum_where(Payment.amount_cents < 0, Payment.amount_cents)), filters)
        .group_by(day).order_by(day)
    ).all()
    if not per_day and not (filters.date_from and filters.date_to):
        return period, []
    first = filters.date_from or per_day[0][0]
    last = filters.date_to or per_day[-1][0]
    if per_day:
        first, last = min(first, per_day[0][0]), max(last, per_day[-1][0])
    index = CHART_PERIODS.index(period)
    while index < len(CHART_PERIODS) - 1 and _count_buckets(first, last, CHART_PERIODS[index]) > MAX_BUCKETS:
        index += 1
    period = CHART_PERIODS[index]
    if _count_buckets(first, last, period) > MAX_BUCKETS:  # decades of range: the years with payments only
        first, last = (per_day[0][0], per_day[-1][0]) if per_day else (last, last)
        first = max(first, _bucket_start(last, period).replace(year=last.year - MAX_BUCKETS + 1))
    sums: dict[date, list[int]] = {}
    for day_value, money_in, refunds in per_day:
        start = _bucket_start(day_value, period)
        bucket = sums.setdefault(start, [0, 0])
        bucket[0] += int(money_in)
        bucket[1] += int(refunds)
    buckets = []
    start = _bucket_start(first, period)
    while start <= last:
        following = _next_bucket(start, period)
        money_in, refunds = sums.get(start, (0, 0))
        buckets.append(Bucket(start, following - timedelta(days=1), _bucket_label(start, period), money_in,
                              refunds))
        start = following
    return period, buckets


def _count_buckets(first: date, last: date, period: str) -> int:
    if period == "week":
        return (_bucket_start(last, "week") - _bucket_start(first, "week")).days // 7 + 1
    if period == "month":
        return (last.year - first.year) * 12 + last.month - first.month + 1
    return last.year - first.year + 1


@dataclass(frozen=True)
class Choices:
    programs: list[tuple[int, str]]
    cohorts: list[tuple[int, str, date]]  # id, program name, first day


def filter_choices() -> Choices:
    """Programs and cohorts to filter by, names and dates only."""
    programs = [(row.id, row.name) for row in db.session.execute(
        sa.select(Program.id, Program.name).order_by(Program.name, Program.id))]
    cohorts = [(row.id, row.name, row.start_date) for row in db.session.execute(
        sa.select(Cohort.id, Program.name, Cohort.start_date).join(Program, Cohort.program_id == Program.id)
        .order_by(Cohort.start_date.desc(), Program.name, Cohort.id))]
    return Choices(programs, cohorts)


# --- One booking's money ----------------------------------------------------------------------------------

@dataclass(frozen=True)
class BookingFacts:
    id: int
    reference: str
    status: str
    payer_name: str
    payer_email: str
    program: str
    cohort_start: date
    cohort_end: date
    total_cents: int
    deposit_cents: int
    balance_cents: int
    balance_due_date: date | None
    payment_provider: str
    hold_expires_at: datetime | None = None


@dataclass(frozen=True)
class BookingMoney:
    booking: BookingFacts
    payments: list[LedgerRow]  # every movement naming the booking, flagged ones included (marked)
    refunds_to_send: list[PendingRefund]  # refunds decided and not made by the provider yet
    flags: list[flags.FlagView]  # money flagged for finance that named this booking

    def _sum(self, condition) -> int:
        return sum(p.amount_cents for p in self.payments if not p.flagged and condition(p))

    @property
    def paid_cents(self) -> int:
        """Money received for the booking (flagged money is not the booking's)."""
        return self._sum(lambda p: p.status == "succeeded" and p.amount_cents > 0)

    @property
    def refunded_cents(self) -> int:
        """Refunds made (negative)."""
        return self._sum(lambda p: p.status == "succeeded" and p.amount_cents < 0)

    @property
    def pending_refund_cents(self) -> int:
        """Refunds owed by bank transfer, not sent yet (negative)."""
        return self._sum(lambda p: p.status == "pending")

    @property
    def to_send_cents(self) -> int:
        """Refunds decided that the payment provider has not made yet (negative): retried automatically."""
        return -sum(r.amount_cents for r in self.refunds_to_send)

    @property
    def flagged_cents(self) -> int:
        return sum(p.amount_cents for p in self.payments if p.flagged)

    @property
    def net_paid_cents(self) -> int:
        """Paid less refunded, refunds owed by bank transfer or still to send counting as returned (as
        payments.ledger.paid_cents has it)."""
        return self.paid_cents + self.refunded_cents + self.pending_refund_cents + self.to_send_cents

    @property
    def fees_cents(self) -> int:
        return sum(p.fee_cents or 0 for p in self.payments)

    @property
    def received_cents(self) -> int:
        """Deposits and balances received, before refunds (as payments.ledger.received_cents counts them)."""
        return self._sum(lambda p: p.kind != "refund")

    @property
    def owed_cents(self) -> int:
        """What the applicant still owes: booking.services.owed_cents, the one rule every page shows."""
        booking = self.booking
        return booking_services.owed_cents(status=booking.status, total_cents=booking.total_cents,
                                           received_cents=self.received_cents,
                                           hold_expires_at=booking.hold_expires_at)


def booking_money(reference: str) -> BookingMoney:
    """A booking's price and every movement of its money, oldest first; NotFound for an unknown reference."""
    reference = reference.strip().upper()
    if not is_plausible_reference(reference):
        raise NotFound("There is no booking with this reference.")
    facts = db.session.execute(
        sa.select(Booking.id, Booking.reference, Booking.status, _payer_name(), Booking.applicant_email,
                  Program.name, Cohort.start_date,
                  Cohort.end_date, Booking.total_cents, Booking.deposit_cents, Booking.balance_cents,
                  Booking.balance_due_date, Booking.payment_provider, Booking.hold_expires_at)
        .join(Cohort, Booking.cohort_id == Cohort.id).join(Program, Cohort.program_id == Program.id)
        .where(Booking.reference == reference[:20])
    ).one_or_none()
    if facts is None:
        raise NotFound("There is no booking with this reference.")
    booking = BookingFacts(*facts)
    statement = (_joined(sa.select(*_row_columns()).select_from(Payment))
                 .where(Payment.booking_id == booking.id).order_by(Payment.created_at, Payment.id))
    payments = _ledger_rows(statement)
    to_send = list(db.session.scalars(
        sa.select(PendingRefund).where(PendingRefund.booking_id == booking.id, PendingRefund.status == "pending")
        .order_by(PendingRefund.created_at, PendingRefund.id)))
    return BookingMoney(booking, payments, to_send, flags.flags(open_only=False, booking_id=booking.id))


# --- Month close ------------------------------------------------------------------------------------------

@dataclass(frozen=True)
class KindLine:
    kind: str
    count: int
    amount_cents: int
    fees_cents: int


@dataclass(frozen=True)
class OwedBalance:
    reference: str
    payer_name: str
    program: str
    cohort_start: date
    due_date: date  # the balance's due date; for a hold, the day the hold ends (the deposit is due by then)
    total_cents: int
    paid_cents: int  # received, before refunds
    owed_cents: int  # booking.services.owed_cents
    status: str = "confirmed"


@dataclass(frozen=True)
class MonthClose:
    month: date  # its first day
    last_day: date
    lines: list[KindLine]  # succeeded deposits, balances and refunds of the month
    by_provider: list[KindLine]  # the same, per provider (kind holds the provider)
    pending: KindLine  # refunds owed by bank transfer, recorded this month and not sent yet
    totals: Totals
    owed: list[OwedBalance]  # today, earliest due first
    stripe_reconciled: KindLine
    stripe_unreconciled: list[LedgerRow]
    today: date
    flagged: KindLine = KindLine("flagged", 0, 0, 0)  # money flagged for finance this month (in the lines above)
    open_flags: list[flags.FlagView] = ()  # flagged money not reviewed yet, any month
    refunds_to_send: list[PendingRefund] = ()  # refunds the payment provider has not made yet, any month

    @property
    def filters(self) -> LedgerFilters:
        return LedgerFilters(date_from=self.month, date_to=self.last_day)

    @property
    def owed_cents(self) -> int:
        return sum(balance.owed_cents for balance in self.owed)

    @property
    def overdue(self) -> list[OwedBalance]:
        return [balance for balance in self.owed if balance.due_date < self.today]

    @property
    def previous(self) -> date:
        return (self.month - timedelta(days=1)).replace(day=1)

    @property
    def next(self) -> date:
        return self.last_day + timedelta(days=1)


def parse_month(text: str | None) -> date:
    """`2027-03` -> date(2027, 3, 1); empty means this month. ValidationFailed otherwise."""
    if not text:
        return today().replace(day=1)
    try:
        year, month = (int(part) for part in text.strip().split("-"))
        first = date(year, month, 1)
    except (ValueError, TypeError):
        raise ValidationFailed({"month": ["Give a month as YYYY-MM, for example 2027-03."]}) from None
    if not MIN_DATE < first < MAX_DATE.replace(day=1):
        raise ValidationFailed({"month": [f"Give a month from {MIN_DATE.year} to {MAX_DATE.year}."]})
    return first


def month_close(month: date) -> MonthClose:
    month = month.replace(day=1)
    last_day = _next_bucket(month, "month") - timedelta(days=1)
    filters = LedgerFilters(date_from=month, date_to=last_day)
    fee = sa.func.coalesce(sa.func.sum(Payment.fee_cents), 0)
    grouped = db.session.execute(
        _filtered(sa.select(Payment.kind, Payment.provider, Payment.status, sa.func.count(Payment.id),
                            sa.func.sum(Payment.amount_cents), fee), filters)
        .group_by(Payment.kind, Payment.provider, Payment.status)
    ).all()
    by_kind = {kind: [0, 0, 0] for kind in PAYMENT_KINDS}
    by_provider: dict[str, list[int]] = {}
    pending = [0, 0, 0]
    for kind, provider, status, count, amount, fees in grouped:
        if status != "succeeded":
            target = pending
        else:
            target = by_kind[kind]
            line = by_provider.setdefault(provider, [0, 0, 0])
            line[0] += count
            line[1] += int(amount)
            line[2] += int(fees)
        target[0] += count
        target[1] += int(amount)
        target[2] += int(fees)

    reconciled = sa.and_(Payment.fee_cents.is_not(None), Payment.net_cents.is_not(None))
    stripe = LedgerFilters(date_from=month, date_to=last_day, provider="stripe")
    done = db.session.execute(
        _filtered(sa.select(sa.func.count(Payment.id), sa.func.coalesce(sa.func.sum(Payment.amount_cents), 0),
                            sa.func.coalesce(sa.func.sum(Payment.fee_cents), 0)), stripe).where(reconciled)
    ).one()
    unreconciled = _ledger_rows(_filtered(sa.select(*_row_columns()), stripe).where(sa.not_(reconciled))
                                .order_by(Payment.created_at, Payment.id))
    return MonthClose(
        month=month, last_day=last_day,
        lines=[KindLine(kind, *by_kind[kind]) for kind in PAYMENT_KINDS],
        by_provider=[KindLine(provider, *values) for provider, values in sorted(by_provider.items())],
        pending=KindLine("refund", *pending),
        totals=totals(filters),
        owed=balances_owed(),
        stripe_reconciled=KindLine("stripe", int(done[0]), int(done[1]), int(done[2])),
        stripe_unreconciled=unreconciled,
        today=today(),
        flagged=flagged_in(filters),
        open_flags=flags.flags(open_only=True),
        refunds_to_send=refunds_to_send(),
    )


def flagged_in(filters: LedgerFilters) -> KindLine:
    """Payments flagged for finance in a period (refunds of them not counted): count and amount."""
    row = db.session.execute(
        _filtered(sa.select(sa.func.count(Payment.id), sa.func.coalesce(sa.func.sum(Payment.amount_cents), 0)),
                  filters).where(Payment.flagged.is_(True), Payment.kind != "refund")).one()
    return KindLine("flagged", int(row[0]), int(row[1]), 0)


def refunds_to_send() -> list[PendingRefund]:
    """Every refund decided and not made by the payment provider yet, oldest first."""
    return list(db.session.scalars(
        sa.select(PendingRefund).where(PendingRefund.status == "pending")
        .order_by(PendingRefund.created_at, PendingRefund.id)))


def balances_owed() -> list[OwedBalance]:
    """Every booking that owes money now, by the one rule (booking.services.owed_cents, as the manage, staff and
    finance booking pages show it): a live hold owes its price, a confirmed booking its balance; a cancelled,
    declined or expired booking or a lapsed hold owes nothing. Earliest due first."""
    paid = ledger.money_by_booking()
    received = sa.func.coalesce(paid.c.received_cents, 0)
    rows = db.session.execute(
        sa.select(Booking.reference, _payer_name(), Program.name, Cohort.start_date, Booking.balance_due_date,
                  Booking.total_cents, received, Booking.status, Booking.hold_expires_at)
        .join(Cohort, Booking.cohort_id == Cohort.id).join(Program, Cohort.program_id == Program.id)
        .outerjoin(paid, paid.c.booking_id == Booking.id)
        .where(Booking.status.in_(booking_services.OWING_STATUSES), Booking.total_cents > received)
        .order_by(Booking.reference)
    ).all()
    owed = []
    for reference, payer, program, start, due, total, got, status, hold_until in rows:
        cents = booking_services.owed_cents(status=status, total_cents=total, received_cents=int(got),
                                            hold_expires_at=hold_until)
        if cents > 0:
            if status in HOLDING_STATUSES or due is None:
                due = hold_until.date() if hold_until is not None else (due or start)
            owed.append(OwedBalance(reference, payer, program, start, due, int(total), int(got), cents, status))
    owed.sort(key=lambda balance: (balance.due_date, balance.reference))
    return owed
