"""Exports of the payment ledger: the contract's CSV and XLSX (shared/API.md, Finance), JSON for the API, and the
bank-statement CSV layouts that QuickBooks Online and Xero import (shared/domain/accounting.md).

Like pretix's exporters: one generator of rows (services.iter_payments, streamed from the database; the JSON of
the API reads the same rows typed, services.iter_ledger) and one writer per format. CSV and JSON stream chunk by
chunk as the rows arrive; XLSX and the bank layouts are written
to a temporary file first (memory up to a few MB, then disk), because a ZIP has to be finished before it is
sent and a bank export only knows at the end whether it is one file or several. Either way memory stays flat,
whatever the number of rows.

Text cells are neutralised against formula injection (retreat.core.spreadsheets); amounts are plain numbers
(`1234.50`, refunds negative) and are never prefixed. A fee or net that is not known is blank, not zero.
"""

from __future__ import annotations

import csv
import functools
import io
import json
import re
import zipfile
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass
from tempfile import SpooledTemporaryFile
from typing import IO, TypeVar

from retreat.core.spreadsheets import neutralise
from retreat.finance import xlsx
from retreat.finance.formatting import TRIGGERS, dollars
from retreat.finance.services import (
    EXPORT_COLUMNS,
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


# --- The contract's CSV -----------------------------------------------------------------------------------

def csv_cells(row: ExportRow) -> tuple:
    """One row as the contract's CSV cells, for the csv module: text neutralised (as core.spreadsheets does),
    amounts plain numbers, an unknown fee or net None (written empty). The plain statement of what csv_line
    writes faster; the tests hold the two equal."""
    (day, payment_id, reference, name, email, program, cohort_start, kind, provider, provider_reference, status,
     currency, amount, fee, net) = row
    return (day, payment_id,
            "'" + reference if reference[:1] in TRIGGERS else reference,
            "'" + name if name[:1] in TRIGGERS else name,
            "'" + email if email[:1] in TRIGGERS else email,
            "'" + program if program[:1] in TRIGGERS else program,
            cohort_start, kind, provider,
            "'" + provider_reference if provider_reference[:1] in TRIGGERS else provider_reference,
            status, currency, dollars(amount),
            None if fee is None else dollars(fee),
            None if net is None else dollars(net))


_CSV_SPECIAL = re.compile('[",\r\n]')


def _csv_field(text: str) -> str:
    """A text cell, neutralised, then quoted as RFC 4180 (and the csv module) would quote it."""
    if text[:1] in TRIGGERS:
        text = "'" + text
    if _CSV_SPECIAL.search(text):
        return '"' + text.replace('"', '""') + '"'
    return text


# Program names are few and repeat on every row (and often hold a comma, so need quoting): remembered.
_program_field = functools.lru_cache(maxsize=1024)(_csv_field)


def csv_line(row: ExportRow) -> str:
    """One row as a line of the contract's CSV, exactly as `csv.writer(lineterminator="\\r\\n")` writes
    csv_cells(row) (the tests hold the two equal), about twice as fast: a 100,000-row export is measured
    against the database's own dump. Only the five free-text cells can need quoting or neutralising; dates,
    ids, the kind, provider, status and currency (constrained by the database) and amounts never do."""
    (day, payment_id, reference, name, email, program, cohort_start, kind, provider, provider_reference, status,
     currency, amount, fee, net) = row
    program = _program_field(program)
    if (_CSV_SPECIAL.search(f"{reference}{name}{email}{provider_reference}")
            or reference[:1] in TRIGGERS or name[:1] in TRIGGERS or email[:1] in TRIGGERS
            or provider_reference[:1] in TRIGGERS):
        reference, name, email, provider_reference = (
            _csv_field(reference), _csv_field(name), _csv_field(email), _csv_field(provider_reference))
    return (f"{day},{payment_id},{reference},{name},{email},{program},{cohort_start},{kind},{provider},"
            f"{provider_reference},{status},{currency},{dollars(amount)},{'' if fee is None else dollars(fee)},"
            f"{'' if net is None else dollars(net)}\r\n")


def csv_chunks(rows: Iterable[ExportRow], *, bom: bool = False, batch: int = CSV_BATCH) -> Iterator[bytes]:
    """The contract's CSV (UTF-8, CRLF line ends, RFC 4180) as chunks of bytes, `batch` rows each. `bom` adds the
    byte-order mark that makes Excel read accents right (for people; automation is better without it)."""
    header = io.StringIO()
    csv.writer(header, lineterminator="\r\n").writerow(EXPORT_COLUMNS)
    yield (("\ufeff" if bom else "") + header.getvalue()).encode()
    pending: list[str] = []
    for row in rows:
        pending.append(csv_line(row))
        if len(pending) >= batch:
            yield "".join(pending).encode()
            pending.clear()
    if pending:
        yield "".join(pending).encode()


# --- The contract's XLSX ----------------------------------------------------------------------------------

XLSX_COLUMNS = (
    xlsx.Column("date", xlsx.DATE, 11), xlsx.Column("payment_id", xlsx.INTEGER, 11),
    xlsx.Column("booking_reference", width=17), xlsx.Column("payer_name", width=24),
    xlsx.Column("payer_email", width=30), xlsx.Column("program", width=40),
    xlsx.Column("cohort_start", xlsx.DATE, 12), xlsx.Column("kind", width=9), xlsx.Column("provider", width=9),
    xlsx.Column("provider_reference", width=30), xlsx.Column("status", width=10),
    xlsx.Column("currency", width=8), xlsx.Column("amount", xlsx.CENTS, 12), xlsx.Column("fee", xlsx.CENTS, 10),
    xlsx.Column("net", xlsx.CENTS, 12),
)
assert tuple(column.header for column in XLSX_COLUMNS) == EXPORT_COLUMNS


def xlsx_cells(row: ExportRow) -> tuple:
    """One row as typed XLSX cells, text neutralised (inlined, as in csv_cells)."""
    (day, payment_id, reference, name, email, program, cohort_start, kind, provider, provider_reference, status,
     currency, amount, fee, net) = row
    return (day, payment_id,
            "'" + reference if reference[:1] in TRIGGERS else reference,
            "'" + name if name[:1] in TRIGGERS else name,
            "'" + email if email[:1] in TRIGGERS else email,
            "'" + program if program[:1] in TRIGGERS else program,
            cohort_start, kind, provider,
            "'" + provider_reference if provider_reference[:1] in TRIGGERS else provider_reference,
            status, currency, amount, fee, net)


def write_xlsx(rows: Iterable[ExportRow], fileobj: IO[bytes]) -> int:
    """The contract's columns as an XLSX workbook (sheet "Payments"): numbers as numbers, dates as dates."""
    return xlsx.write_workbook(fileobj, XLSX_COLUMNS, (xlsx_cells(row) for row in rows), sheet_name="Payments")


# --- JSON (the API) ---------------------------------------------------------------------------------------

def json_payment(row: LedgerRow) -> dict:
    """One payment for the JSON API: the contract's fields, money as integer cents like the rest of the API."""
    return {
        "date": row.date.isoformat(), "payment_id": row.payment_id, "booking_reference": row.booking_reference,
        "payer_name": row.payer_name, "payer_email": row.payer_email, "program": row.program,
        "cohort_start": row.cohort_start.isoformat(), "kind": row.kind, "provider": row.provider,
        "provider_reference": row.provider_reference, "status": row.status, "currency": row.currency,
        "amount_cents": row.amount_cents, "fee_cents": row.fee_cents, "net_cents": row.net_cents,
        "created_at": row.created_at.isoformat(),
    }


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


def _description(row: ExportRow) -> str:
    return (f"{KIND_LABELS[row.kind]} {row.booking_reference} - {row.payer_name} - {row.program} "
            f"({row.cohort_start}) - {PROVIDER_LABELS.get(row.provider, row.provider)} "
            f"{row.provider_reference}")


def _fee_description(row: ExportRow) -> str:
    return (f"{PROVIDER_LABELS.get(row.provider, row.provider)} fee on {KIND_LABELS[row.kind].lower()} "
            f"{row.booking_reference} ({row.provider_reference})")


def quickbooks_lines(row: ExportRow) -> list[tuple[str, ...]]:
    lines = [(us_date(row.date), neutralise(_description(row)), dollars(row.amount_cents))]
    if row.fee_cents:
        lines.append((us_date(row.date), neutralise(_fee_description(row)), dollars(-row.fee_cents)))
    return lines


def xero_lines(row: ExportRow) -> list[tuple[str, ...]]:
    lines = [(us_date(row.date), dollars(row.amount_cents), neutralise(row.payer_name),
              neutralise(_description(row)), neutralise(row.booking_reference))]
    if row.fee_cents:
        lines.append((us_date(row.date), dollars(-row.fee_cents),
                      PROVIDER_LABELS.get(row.provider, row.provider), neutralise(_fee_description(row)),
                      neutralise(row.booking_reference)))
    return lines


@dataclass(frozen=True)
class BankLayout:
    key: str
    slug: str  # in the file names, so that every file says which layout it follows
    title: str
    header: tuple[str, ...]
    lines: Callable[[ExportRow], list[tuple[str, ...]]]


BANK_LAYOUTS = {
    "quickbooks": BankLayout("quickbooks", "quickbooks-online-3-column",
                             "QuickBooks Online bank upload, 3-column layout (Date, Description, Amount)",
                             ("Date", "Description", "Amount"), quickbooks_lines),
    "xero": BankLayout("xero", "xero-bank-statement",
                       "Xero bank statement import (Date, Amount, Payee, Description, Reference)",
                       ("Date", "Amount", "Payee", "Description", "Reference"), xero_lines),
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
