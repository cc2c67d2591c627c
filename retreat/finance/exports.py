"""Exports of the payment ledger: the contract's CSV and XLSX (shared/API.md, Finance), JSON for the API, and the
bank-statement CSV layouts that QuickBooks Online and Xero import (shared/domain/accounting.md).

Like pretix's exporters: one generator of rows (services.iter_payments, streamed from the database; the JSON of
the API reads the same rows typed, services.iter_ledger) and one writer per format. Every writer is derived from
one declaration of the contract's columns, services.EXPORT_SPEC: the CSV header and cells, the fast CSV line
writer (a function generated from the spec when this module is imported), the XLSX columns (cell types, widths,
number formats) and the JSON keys. The bank layouts write the same rows with small column specs of their own.

CSV and JSON stream chunk by chunk as the rows arrive; XLSX and the bank layouts are written to a temporary file
first (memory up to a few MB, then disk), because a ZIP has to be finished before it is sent and a bank export
only knows at the end whether it is one file or several. Either way memory stays flat, whatever the number of
rows.

Text cells are neutralised against formula injection (retreat.core.spreadsheets); amounts are plain numbers
(`1234.50`, refunds negative) and are never prefixed. A fee or net that is not known is blank, not zero.
"""

from __future__ import annotations

import csv
import functools
import io
import itertools
import json
import linecache
import re
import zipfile
from collections.abc import Callable, Iterable, Iterator, Sequence
from dataclasses import dataclass
from operator import attrgetter
from tempfile import SpooledTemporaryFile
from typing import IO, TypeVar

from retreat.core.spreadsheets import neutralise
from retreat.finance import xlsx
from retreat.finance.formatting import CODE, DATE, INTEGER, MONEY, TEXT, TRIGGERS, Column, dollars
from retreat.finance.services import (
    EXPORT_SPEC,
    KIND_LABELS,
    PROVIDER_LABELS,
    ExportRow,
    LedgerFilters,
    LedgerRow,
    export_basename,
    iter_payments,
)

CSV_MIMETYPE = "text/csv"
XLSX_MIMETYPE = "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet"
ZIP_MIMETYPE = "application/zip"
JSON_MIMETYPE = "application/json"
BANK_FILE_LINES = 1000  # QuickBooks Online and Xero both take at most about 1,000 lines per file
SPOOL_BYTES = 8 * 1024 * 1024  # temporary files stay in memory up to this size, then move to disk
CHUNK_BYTES = 64 * 1024
CSV_BATCH = 1000
T = TypeVar("T")


# --- Writers derived from a column spec -------------------------------------------------------------------

def _same(value):
    return value


# How the csv module is given a cell of each kind: text neutralised, money as decimal dollars; None (an unknown
# fee or net) is written empty.
_CSV_CELL = {TEXT: neutralise, CODE: _same, INTEGER: _same, DATE: _same, MONEY: dollars}


def cells_function(columns: Sequence[Column]) -> Callable[[tuple], tuple]:
    """A row -> its cells for the csv module, for these columns: the plain statement of what csv_line writes."""
    makers = tuple(_CSV_CELL[column.kind] for column in columns)

    def cells(row: tuple) -> tuple:
        return tuple(None if value is None else make(value) for make, value in zip(makers, row, strict=True))
    return cells


_CSV_SPECIAL = re.compile('[",\r\n]')


def _csv_field(text: str) -> str:
    """A text cell, neutralised, then quoted as RFC 4180 (and the csv module) would quote it."""
    if text[:1] in TRIGGERS:
        text = "'" + text
    if _CSV_SPECIAL.search(text):
        return '"' + text.replace('"', '""') + '"'
    return text


# Values that are few and repeat on every row (program names, which often hold a comma, so need quoting): remembered.
_remembered_field = functools.lru_cache(maxsize=1024)(_csv_field)


_GENERATED = itertools.count(1)


def _generated(name: str, source: str, namespace: dict) -> Callable:
    """The function `name` defined by `source`: Python text made from a column spec (never from data), once, as
    collections.namedtuple and dataclasses make theirs. Its text is in `.source` and in tracebacks."""
    filename = f"<{__name__}.{name}, generated from a column spec, #{next(_GENERATED)}>"
    linecache.cache[filename] = (len(source), None, source.splitlines(keepends=True), filename)
    exec(compile(source, filename, "exec"), namespace)
    function = namespace[name]
    function.source = source
    return function


def line_function(columns: Sequence[Column], name: str = "csv_line") -> Callable[[tuple], str]:
    """A row -> one CRLF-ended line of CSV for these columns, exactly as `csv.writer(lineterminator="\\r\\n")`
    writes cells_function(columns)(row), and about twice as fast: a 100,000-row export is measured against the
    database's own dump, and a loop of one call per cell would lose that. So the function is generated from the
    columns: it unpacks the row and returns one f-string. Only free text (TEXT) can need quoting or neutralising:
    all of a row's text is tested at once with one search, and only a row that needs it goes the slow way;
    text that repeats is remembered. Codes, dates, ids and amounts never need either. At least two columns (the
    csv module quotes a lone empty cell, so that the line is not blank)."""
    if len(columns) < 2:
        raise ValueError("a CSV line needs at least two columns")
    fields = [column.field for column in columns]
    free = [column.field for column in columns if column.kind == TEXT and not column.repeats and not column.nullable]
    lines = [f"def {name}(row):", f"    ({', '.join(fields)},) = row"]
    for column in columns:
        if column.kind == TEXT and column.repeats:
            lines.append(f"    {column.field} = " + (f"'' if {column.field} is None else " if column.nullable else "")
                         + f"_remembered_field({column.field})")
        elif column.kind == TEXT and column.nullable:
            lines.append(f"    {column.field} = '' if {column.field} is None else _csv_field({column.field})")
    if free:
        joined = "".join(f"{{{field}}}" for field in free)
        starts = " or ".join(f"{field}[:1] in _TRIGGERS" for field in free)
        lines.append(f'    if _CSV_SPECIAL.search(f"{joined}") or {starts}:')
        lines += [f"        {field} = _csv_field({field})" for field in free]
    cells = []
    for column in columns:
        cell = f"_dollars({column.field})" if column.kind == MONEY else column.field
        if column.nullable and column.kind != TEXT:
            cell = f"'' if {column.field} is None else {cell}"
        cells.append(f"{{{cell}}}")
    lines.append(f'    return f"{",".join(cells)}\\r\\n"')
    return _generated(name, "\n".join(lines) + "\n", {
        "_CSV_SPECIAL": _CSV_SPECIAL, "_TRIGGERS": TRIGGERS, "_csv_field": _csv_field,
        "_remembered_field": _remembered_field, "_dollars": dollars})


# The XLSX cell type of each kind (which brings its number format: dates yyyy-mm-dd, money #,##0.00).
_XLSX_KIND = {TEXT: xlsx.TEXT, CODE: xlsx.TEXT, INTEGER: xlsx.INTEGER, DATE: xlsx.DATE, MONEY: xlsx.CENTS}


def xlsx_columns(columns: Sequence[Column]) -> tuple[xlsx.Column, ...]:
    """The XLSX writer's columns for these: cell type (and number format), width, free text neutralised."""
    return tuple(xlsx.Column(column.header, _XLSX_KIND[column.kind], column.width, neutralise=column.kind == TEXT)
                 for column in columns)


class Writers:
    """Every writer of one column spec, derived from it when made: the CSV header and lines (csv_cells, the plain
    statement, and csv_line, the fast function generated from the spec), the XLSX columns and workbook, and the
    JSON objects (a key per column: its field; dates ISO 8601, money integer cents, None null)."""

    def __init__(self, columns: Sequence[Column], *, sheet_name: str) -> None:
        self.columns = tuple(columns)
        self.header = tuple(column.header for column in self.columns)
        self.csv_cells = cells_function(self.columns)
        self.csv_line = line_function(self.columns)
        self.xlsx_columns = xlsx_columns(self.columns)
        self.sheet_name = sheet_name
        self.json_keys = tuple(column.field for column in self.columns)
        self._json_dates = tuple(column.kind == DATE for column in self.columns)

    def csv_chunks(self, rows: Iterable[tuple], *, bom: bool = False, batch: int = CSV_BATCH) -> Iterator[bytes]:
        """CSV (UTF-8, CRLF line ends, RFC 4180) as chunks of bytes, `batch` rows each. `bom` adds the byte-order
        mark that makes Excel read accents right (for people; automation is better without it)."""
        header = io.StringIO()
        csv.writer(header, lineterminator="\r\n").writerow(self.header)
        yield (("\ufeff" if bom else "") + header.getvalue()).encode()
        pending: list[str] = []
        line = self.csv_line
        for row in rows:
            pending.append(line(row))
            if len(pending) >= batch:
                yield "".join(pending).encode()
                pending.clear()
        if pending:
            yield "".join(pending).encode()

    def write_xlsx(self, rows: Iterable[tuple], fileobj: IO[bytes]) -> int:
        """An XLSX workbook of one sheet: numbers as numbers, dates as dates. Returns the rows written."""
        return xlsx.write_workbook(fileobj, self.xlsx_columns, rows, sheet_name=self.sheet_name)

    def json_object(self, row: tuple) -> dict:
        """A ledger row's values (dates as dates) by their keys; the values it has after the columns' are left to
        the caller."""
        return {key: value.isoformat() if is_date and value is not None else value
                for key, is_date, value in zip(self.json_keys, self._json_dates, row)}  # noqa: B905  (a ledger row has more)


# --- The contract's CSV, XLSX and JSON ----------------------------------------------------------------------

PAYMENTS = Writers(EXPORT_SPEC, sheet_name="Payments")
csv_cells = PAYMENTS.csv_cells  # the plain statement of what csv_line writes faster; the tests hold them equal
csv_line = PAYMENTS.csv_line  # one row as one line of the contract's CSV
XLSX_COLUMNS = PAYMENTS.xlsx_columns
# The JSON of the API: the contract's fields keyed by the rows' field names (money as integer cents, like the rest
# of the API), then the exact time of the movement.
JSON_KEYS = (*PAYMENTS.json_keys, "created_at")


def csv_chunks(rows: Iterable[ExportRow], *, bom: bool = False, batch: int = CSV_BATCH) -> Iterator[bytes]:
    """The contract's CSV as chunks of bytes (Writers.csv_chunks)."""
    return PAYMENTS.csv_chunks(rows, bom=bom, batch=batch)


def write_xlsx(rows: Iterable[ExportRow], fileobj: IO[bytes]) -> int:
    """The contract's columns as an XLSX workbook (sheet "Payments"): numbers as numbers, dates as dates."""
    return PAYMENTS.write_xlsx(rows, fileobj)


def json_payment(row: LedgerRow) -> dict:
    """One payment for the JSON API: a key per column of EXPORT_SPEC, then `created_at`."""
    payment = PAYMENTS.json_object(row)
    payment["created_at"] = row.created_at.isoformat()
    return payment


def json_chunks(rows: Iterable[LedgerRow], filters: LedgerFilters, *, batch: int = CSV_BATCH) -> Iterator[bytes]:
    """`{"from", "to", "payments": [...]}`, streamed."""
    head = {"from": filters.date_from.isoformat() if filters.date_from else None,
            "to": filters.date_to.isoformat() if filters.date_to else None}
    yield (json.dumps(head)[:-1] + ', "payments": [').encode()
    pending: list[str] = []
    first = True
    for row in rows:
        pending.append(json.dumps(json_payment(row)))
        if len(pending) >= batch:
            yield (("" if first else ", ") + ", ".join(pending)).encode()
            first = False
            pending.clear()
    yield (("" if first or not pending else ", ") + ", ".join(pending) + "]}").encode()


# --- Bank-statement layouts: QuickBooks Online and Xero ---------------------------------------------------

def us_date(day: str) -> str:
    """`2027-03-09` -> `03/09/2027`."""
    return f"{day[5:7]}/{day[8:10]}/{day[:4]}"


def _provider(row: ExportRow) -> str:
    return PROVIDER_LABELS.get(row.provider, row.provider)


def _description(row: ExportRow) -> str:
    return (f"{KIND_LABELS[row.kind]} {row.booking_reference} - {row.payer_name} - {row.program} "
            f"({row.cohort_start}) - {_provider(row)} {row.provider_reference}")


def _fee_description(row: ExportRow) -> str:
    return f"{_provider(row)} fee on {KIND_LABELS[row.kind].lower()} {row.booking_reference} ({row.provider_reference})"


def _minus_fee(row: ExportRow) -> int:
    return -row.fee_cents


# How a bank layout writes a cell of each kind: dates MM/DD/YYYY, signed decimal dollars, text neutralised.
_BANK_CELL = {DATE: us_date, MONEY: dollars, TEXT: neutralise}


@dataclass(frozen=True)
class BankColumn:
    """A column of a bank layout: a payment is one line and its known fee, if any, a line of its own after it.
    `payment` and `fee` read the value of each line from the export row; `kind` (DATE, MONEY or TEXT) says how it
    is written."""

    header: str
    kind: str
    payment: Callable[[ExportRow], object]
    fee: Callable[[ExportRow], object]

    def __post_init__(self) -> None:
        if self.kind not in _BANK_CELL:
            raise ValueError(f"bank column {self.header!r}: kind {self.kind!r} is not one of {tuple(_BANK_CELL)}")


_DAY = BankColumn("Date", DATE, attrgetter("date"), attrgetter("date"))
_AMOUNT = BankColumn("Amount", MONEY, attrgetter("amount_cents"), _minus_fee)
_DESCRIPTION = BankColumn("Description", TEXT, _description, _fee_description)


@dataclass(frozen=True)
class BankLayout:
    key: str
    slug: str  # in the file names, so that every file says which layout it follows
    name: str
    columns: tuple[BankColumn, ...]

    @property
    def header(self) -> tuple[str, ...]:
        return tuple(column.header for column in self.columns)

    @property
    def title(self) -> str:
        return f"{self.name} ({', '.join(self.header)})"

    def lines(self, row: ExportRow) -> list[tuple[str, ...]]:
        """The lines of one payment: the payment, then its fee where one is known (and not zero)."""
        lines = [tuple(_BANK_CELL[column.kind](column.payment(row)) for column in self.columns)]
        if row.fee_cents:
            lines.append(tuple(_BANK_CELL[column.kind](column.fee(row)) for column in self.columns))
        return lines


BANK_LAYOUTS = {
    "quickbooks": BankLayout("quickbooks", "quickbooks-online-3-column",
                             "QuickBooks Online bank upload, 3-column layout", (_DAY, _DESCRIPTION, _AMOUNT)),
    "xero": BankLayout("xero", "xero-bank-statement", "Xero bank statement import", (
        _DAY, _AMOUNT, BankColumn("Payee", TEXT, attrgetter("payer_name"), _provider), _DESCRIPTION,
        BankColumn("Reference", TEXT, attrgetter("booking_reference"), attrgetter("booking_reference")))),
}

BANK_NOTES = """\
{title}.

Period: {period} (UTC dates, both days included).
Dates are MM/DD/YYYY. Amounts are signed: money in positive, refunds and fees negative.
One line per movement of money: deposits, balances and refunds made. A refund owed by bank transfer and not
sent yet (status pending) is left out until it is sent.
Where the payment provider reported a fee (Stripe, from the balance transaction), the fee follows its payment
as a line of its own, so that payment less fee is what reaches the bank; Stripe pays out in batches, and a
payout is not a payment. Payments whose fee is not known yet have no fee line.
Each file holds at most {limit:,} lines under its header row and can be imported on its own; a payment and its
fee are never split between two files. Import the files in order: part 01, part 02, ...
"""


@dataclass(frozen=True)
class BankFile:
    filename: str
    mimetype: str
    rows: int  # ledger rows written
    files: int  # CSV files: 1, or those inside the ZIP


def _csv_text(header: tuple[str, ...], lines: Iterable[tuple[str, ...]]) -> bytes:
    buffer = io.StringIO()
    writer = csv.writer(buffer, lineterminator="\r\n")
    writer.writerow(header)
    writer.writerows(lines)
    return buffer.getvalue().encode()


def write_bank(rows: Iterable[ExportRow], layout: BankLayout, basename: str, fileobj: IO[bytes], *,
               period: str = "", limit: int | None = None) -> BankFile:
    """Write the ledger's movements in a bank-statement layout to `fileobj`: one CSV file when they fit in
    `limit` lines (default BANK_FILE_LINES), else a ZIP of several CSV files of at most `limit` lines each and
    a README.txt that names the layout. Only movements that happened (status succeeded) are written."""
    limit = limit or BANK_FILE_LINES
    part: list[tuple[str, ...]] = []
    package: zipfile.ZipFile | None = None
    parts = 0
    count = 0

    def flush() -> None:
        nonlocal package, parts
        if package is None:
            package = zipfile.ZipFile(fileobj, "w", compression=zipfile.ZIP_DEFLATED)
        parts += 1
        package.writestr(f"{basename}_{layout.slug}_part-{parts:02d}.csv", _csv_text(layout.header, part))
        part.clear()

    for row in rows:
        if row.status != "succeeded":
            continue
        lines = layout.lines(row)
        if len(part) + len(lines) > limit:
            flush()
        part.extend(lines)
        count += 1
    if package is None:
        fileobj.write(_csv_text(layout.header, part))
        return BankFile(f"{basename}_{layout.slug}.csv", CSV_MIMETYPE, count, 1)
    flush()
    package.writestr("README.txt", BANK_NOTES.format(title=layout.title, period=period, limit=limit))
    package.close()
    return BankFile(f"{basename}_{layout.slug}.zip", ZIP_MIMETYPE, count, parts)


# --- One call for every format ----------------------------------------------------------------------------

FORMATS = ("csv", "xlsx", "quickbooks", "xero")
FORMAT_LABELS = {
    "csv": "CSV",
    "xlsx": "Excel (XLSX)",
    "quickbooks": "QuickBooks Online (bank upload)",
    "xero": "Xero (bank statement)",
}


@dataclass
class Export:
    filename: str
    mimetype: str
    chunks: Iterator[bytes]


def file_chunks(fileobj: IO[bytes], size: int = CHUNK_BYTES) -> Iterator[bytes]:
    """A file's bytes in chunks; the file is closed at the end (or when the consumer stops early)."""
    try:
        while chunk := fileobj.read(size):
            yield chunk
    finally:
        fileobj.close()


PROGRESS_STEP = 1000


def _counted(rows: Iterable[ExportRow], progress: Callable[[int], None] | None) -> Iterator[ExportRow]:
    if progress is None:
        yield from rows
        return
    since = 0
    for row in rows:
        yield row
        since += 1
        if since == PROGRESS_STEP:
            progress(since)
            since = 0
    if since:
        progress(since)


def _spooled(write: Callable[[IO[bytes]], T]) -> tuple[IO[bytes], T]:
    """A temporary file filled by `write`, rewound, and what `write` returned. The caller closes the file
    (file_chunks does, once it is sent)."""
    spool = SpooledTemporaryFile(max_size=SPOOL_BYTES)  # noqa: SIM115  (outlives this function, see above)
    try:
        result = write(spool)
    except BaseException:
        spool.close()
        raise
    spool.seek(0)
    return spool, result


def build_export(filters: LedgerFilters, export_format: str, *, bom: bool = False,
                 progress: Callable[[int], None] | None = None) -> Export:
    """The ledger rows the filters match, in one of FORMATS. CSV streams as its chunks are read; the others
    are written to a temporary file here, then streamed. `progress(n)` is told every time n more rows are read."""
    rows = _counted(iter_payments(filters), progress)
    basename = export_basename(filters)
    if export_format == "csv":
        return Export(f"{basename}.csv", CSV_MIMETYPE, csv_chunks(rows, bom=bom))
    if export_format == "xlsx":
        spool, _ = _spooled(lambda file: write_xlsx(rows, file))
        return Export(f"{basename}.xlsx", XLSX_MIMETYPE, file_chunks(spool))
    if export_format in BANK_LAYOUTS:
        layout = BANK_LAYOUTS[export_format]
        spool, written = _spooled(lambda file: write_bank(rows, layout, basename, file, period=filters.period))
        return Export(written.filename, written.mimetype, file_chunks(spool))
    raise ValueError(f"Unknown export format {export_format!r}; use one of {', '.join(FORMATS)}.")
