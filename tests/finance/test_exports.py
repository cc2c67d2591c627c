"""The exports: the contract's CSV and XLSX read back with the csv module and openpyxl and checked against the
ledger, total by total; formula cells neutralised in every format; streaming in flat memory."""

import csv
import inspect
import io
import tracemalloc
from datetime import UTC, date, datetime
from decimal import Decimal

import openpyxl
import pytest

from retreat.finance import exports
from retreat.finance import services as finance
from retreat.finance.services import EXPORT_COLUMNS, ExportRow, LedgerFilters
from tests.finance.support import (
    MARCH,
    ledger_sums,
    make_booking,
    make_cohort,
    make_program,
    pay,
    utc,
)

MARCH_FILTERS = LedgerFilters(date_from=MARCH[0], date_to=MARCH[1])
HEADER = ["date", "payment_id", "booking_reference", "payer_name", "payer_email", "program", "cohort_start",
          "kind", "provider", "provider_reference", "status", "currency", "amount", "fee", "net"]


def export_bytes(filters: LedgerFilters, export_format: str, **options) -> tuple[exports.Export, bytes]:
    built = exports.build_export(filters, export_format, **options)
    return built, b"".join(built.chunks)


def cents(text) -> int:
    return int(Decimal(str(text)) * 100)


def read_csv(content: bytes) -> list[dict[str, str]]:
    text = content.decode("utf-8-sig")
    assert "\r\n" in text, "RFC 4180 line ends"
    return list(csv.DictReader(io.StringIO(text, newline="")))


def read_xlsx(content: bytes) -> tuple[list[str], list[tuple]]:
    workbook = openpyxl.load_workbook(io.BytesIO(content))
    sheet = workbook.active
    assert sheet.title == "Payments"
    rows = list(sheet.iter_rows(values_only=True))
    return list(rows[0]), rows[1:]


# --- The contract's columns -------------------------------------------------------------------------------

def test_export_columns_are_the_contract():
    assert list(EXPORT_COLUMNS) == HEADER


def test_csv_round_trip_matches_the_ledger(ledger):
    built, content = export_bytes(MARCH_FILTERS, "csv")
    assert built.filename == "retreat-payments_2027-03-01_to_2027-03-31.csv"
    assert built.mimetype == "text/csv"
    assert not content.startswith(b"\xef\xbb\xbf"), "no byte-order mark unless asked for"
    assert content.splitlines()[0].decode() == ",".join(HEADER)
    rows = read_csv(content)
    expected = ledger_sums(ledger)

    assert [row["payment_id"] for row in rows] == [str(ledger.payments[k].id) for k in (
        "jane_deposit", "evil_deposit", "evil_refund", "signs_refund", "jane_balance")]
    assert len(rows) == expected["count"]
    assert sum(cents(row["amount"]) for row in rows) == expected["amount"]
    assert sum(cents(row["amount"]) for row in rows if cents(row["amount"]) > 0) == expected["gross"]
    assert sum(cents(row["amount"]) for row in rows if cents(row["amount"]) < 0) == expected["refunds"]
    assert sum(cents(row["fee"]) for row in rows if row["fee"]) == expected["fees"]
    assert sum(cents(row["net"]) for row in rows if row["net"]) == expected["net_known"]
    totals = finance.totals(MARCH_FILTERS)
    assert sum(cents(r["amount"]) for r in rows) - sum(cents(r["fee"]) for r in rows if r["fee"]) == totals.net_cents

    by_reference = {row["provider_reference"]: row for row in rows}
    assert by_reference["pi_dep"] == {
        "date": "2027-03-01", "payment_id": str(ledger.payments["jane_deposit"].id),
        "booking_reference": "RT-AAAA22", "payer_name": "Jane Doe", "payer_email": "jane@example.org",
        "program": "IV Ketamine with EMDR, One Week", "cohort_start": "2027-05-03", "kind": "deposit",
        "provider": "stripe", "provider_reference": "pi_dep", "status": "succeeded", "currency": "usd",
        "amount": "994.00", "fee": "29.12", "net": "964.88"}
    assert (by_reference["pi_bal"]["fee"], by_reference["pi_bal"]["net"]) == ("", ""), "unknown is blank"
    assert by_reference["pi_bal"]["date"] == "2027-03-31"
    assert (by_reference["re_1"]["amount"], by_reference["re_1"]["fee"], by_reference["re_1"]["net"]) == (
        "-250.00", "0.00", "-250.00"), "refunds negative, never neutralised; a zero fee is 0.00"
    assert by_reference["refund-evil"]["status"] == "pending"


def test_csv_for_people_starts_with_a_byte_order_mark(ledger):
    _, content = export_bytes(MARCH_FILTERS, "csv", bom=True)
    assert content.startswith(b"\xef\xbb\xbf")
    assert len(read_csv(content)) == 5


def test_xlsx_round_trip_matches_the_ledger(ledger):
    built, content = export_bytes(MARCH_FILTERS, "xlsx")
    assert built.filename == "retreat-payments_2027-03-01_to_2027-03-31.xlsx"
    assert built.mimetype == exports.XLSX_MIMETYPE
    header, rows = read_xlsx(content)
    assert header == HEADER
    expected = ledger_sums(ledger)
    column = {name: index for index, name in enumerate(HEADER)}

    def money(row, name):
        value = row[column[name]]
        return None if value is None else cents(value)

    assert len(rows) == expected["count"]
    assert sum(money(row, "amount") for row in rows) == expected["amount"]
    assert sum(money(row, "amount") for row in rows if money(row, "amount") > 0) == expected["gross"]
    assert sum(money(row, "amount") for row in rows if money(row, "amount") < 0) == expected["refunds"]
    assert sum(money(row, "fee") or 0 for row in rows) == expected["fees"]
    assert sum(money(row, "net") for row in rows if money(row, "net") is not None) == expected["net_known"]

    first = rows[0]
    assert isinstance(first[column["date"]], datetime) and first[column["date"]].date() == date(2027, 3, 1)
    assert first[column["cohort_start"]].date() == date(2027, 5, 3)
    assert first[column["payment_id"]] == ledger.payments["jane_deposit"].id
    assert isinstance(first[column["amount"]], float) and first[column["amount"]] == 994.0
    assert first[column["booking_reference"]] == "RT-AAAA22"
    balance = next(row for row in rows if row[column["provider_reference"]] == "pi_bal")
    assert balance[column["fee"]] is None and balance[column["net"]] is None, "unknown is blank, not zero"
    refund = next(row for row in rows if row[column["provider_reference"]] == "re_1")
    assert refund[column["amount"]] == -250.0 and refund[column["fee"]] == 0


def test_xlsx_cells_are_typed_and_formatted(ledger):
    _, content = export_bytes(MARCH_FILTERS, "xlsx")
    sheet = openpyxl.load_workbook(io.BytesIO(content)).active
    assert sheet.freeze_panes == "A2"
    assert sheet["A1"].font.b, "a bold header"
    assert sheet["A2"].is_date and sheet["A2"].number_format == "yyyy\\-mm\\-dd"
    assert sheet["M2"].data_type == "n" and sheet["M2"].number_format == "#,##0.00"
    assert sheet["D2"].data_type == "s"


def test_an_empty_period_exports_the_header_only(app):
    empty = LedgerFilters(date_from=date(2027, 1, 1), date_to=date(2027, 1, 31))
    assert read_csv(export_bytes(empty, "csv")[1]) == []
    header, rows = read_xlsx(export_bytes(empty, "xlsx")[1])
    assert header == HEADER and rows == []


# --- Formula injection --------------------------------------------------------------------------------------

NEUTRALISED = [
    # (first name as typed, what every export shows)
    ('=HYPERLINK("http://evil.example","Click")', '\'=HYPERLINK("http://evil.example","Click")'),
    ("+1", "'+1"),
    ("-2", "'-2"),
    ("@SUM(A1)", "'@SUM(A1)"),
    ("\tTab", "'\tTab"),
    ("\rReturn", "'\rReturn"),
    (" =1+2", "'=1+2"),  # names are trimmed of spaces first
    ("=1+1", "'=1+1"),
    ("Ann", "Ann"),
    ("O'Brien", "O'Brien"),
    ("Zoë", "Zoë"),
]


@pytest.fixture
def formula_ledger(app):
    program = make_program("=cmd|' /C calc'!A0")
    cohort = make_cohort(program)
    for number, (name, _) in enumerate(NEUTRALISED):
        booking = make_booking(cohort, f"RT-FORM{number:02d}", name, "", email=f"{name[:1]}x{number}@example.org")
        pay(booking, "deposit", 10_000 + number, "offline", f"-{number}+ref", utc(2027, 3, 2, 10, number))
    from retreat.extensions import db
    db.session.commit()


def test_formula_cells_are_neutralised_in_csv(formula_ledger):
    rows = read_csv(export_bytes(MARCH_FILTERS, "csv")[1])
    assert [row["payer_name"] for row in rows] == [shown for _, shown in NEUTRALISED]
    assert {row["program"] for row in rows} == {"'=cmd|' /C calc'!A0"}
    assert [row["provider_reference"] for row in rows] == [f"'-{n}+ref" for n in range(len(NEUTRALISED))]
    assert [row["payer_email"][0] for row in rows] == ["'" if name[0] in "=+-@\t\r" else name[0]
                                                     for name, _ in NEUTRALISED]
    assert [row["amount"] for row in rows] == [f"{100 + n / 100:.2f}" for n in range(len(NEUTRALISED))]


def test_formula_cells_are_neutralised_in_xlsx(formula_ledger):
    header, rows = read_xlsx(export_bytes(MARCH_FILTERS, "xlsx")[1])
    name = header.index("payer_name")
    assert [row[name] for row in rows] == [shown for _, shown in NEUTRALISED]
    assert {row[header.index("program")] for row in rows} == {"'=cmd|' /C calc'!A0"}
    assert all(not str(cell).startswith(("=", "+", "-", "@")) for row in rows for cell in row
               if isinstance(cell, str))


@pytest.mark.parametrize("layout", ["quickbooks", "xero"])
def test_formula_cells_are_neutralised_in_bank_layouts(formula_ledger, layout):
    rows = list(csv.reader(io.StringIO(export_bytes(MARCH_FILTERS, layout)[1].decode(), newline="")))
    amount = rows[0].index("Amount")
    for row in rows[1:]:
        for index, cell in enumerate(row):
            if index == amount:
                assert Decimal(cell) > 0
            else:
                assert not cell.startswith(("=", "+", "-", "@", "\t", "\r")), (layout, row)
    if layout == "xero":
        assert [row[2] for row in rows[1:]] == [shown for _, shown in NEUTRALISED]


# --- Streaming ----------------------------------------------------------------------------------------------

def synthetic_rows(count: int):
    for number in range(count):
        yield ExportRow("2027-03-01", number, f"RT-{number:06d}", f"Payer {number}", f"p{number}@example.org",
                        "IV Ketamine with EMDR, One Week", "2027-05-03", "deposit", "stripe",
                        f"pi_{number:012d}", "succeeded", "usd", 99_400 + number, 2_912 if number % 2 else None,
                        96_488 + number if number % 2 else None)


def test_the_exporter_is_a_generator_that_reads_nothing_until_asked(app):
    rows = finance.iter_payments(LedgerFilters())
    assert inspect.isgenerator(rows)
    assert inspect.getgeneratorstate(rows) == inspect.GEN_CREATED
    assert list(rows) == []
    assert inspect.isgenerator(exports.csv_chunks(iter([])))


def test_csv_streams_in_chunks_as_rows_arrive():
    consumed = []

    def rows():
        for row in synthetic_rows(2_500):
            consumed.append(row.payment_id)
            yield row

    chunks = exports.csv_chunks(rows(), batch=1000)
    assert next(chunks).decode() == ",".join(HEADER) + "\r\n" and consumed == []
    first = next(chunks)
    assert len(consumed) == 1000 and first.count(b"\r\n") == 1000
    assert [c.count(b"\r\n") for c in chunks] == [1000, 500]


class Sink(io.RawIOBase):
    """A write-only, unseekable file that keeps nothing (like a socket)."""

    def __init__(self):
        self.size = 0

    def writable(self):
        return True

    def write(self, data):
        self.size += len(data)
        return len(data)


@pytest.mark.parametrize("writer", ["csv", "xlsx"])
def test_memory_stays_flat_whatever_the_number_of_rows(writer):
    """A small stand-in for the 100,000-row benchmark (bench/finance_export.py): the peak memory of writing
    1,200 and 6,000 rows is about the same (a chunk of 1,000 rows), not five times more."""

    def peak(count: int) -> int:
        tracemalloc.start()
        try:
            if writer == "csv":
                for _ in exports.csv_chunks(synthetic_rows(count)):
                    pass
            else:
                exports.write_xlsx(synthetic_rows(count), Sink())
            return tracemalloc.get_traced_memory()[1]
        finally:
            tracemalloc.stop()

    small, large = peak(1_200), peak(6_000)
    assert large < small + 256 * 1024, (small, large)
    assert large < 8 * 1024 * 1024


def test_an_export_stopped_early_leaves_the_connection_usable(ledger):
    """A download the client abandons closes the generator midway; the session goes on working."""
    rows = finance.iter_payments(LedgerFilters(), batch=2)
    assert next(rows).provider_reference == "demo_1"
    rows.close()
    assert finance.count_payments(LedgerFilters()) == 8
    assert len(list(finance.iter_payments(LedgerFilters(), batch=3))) == 8
    chunks = exports.build_export(LedgerFilters(), "csv").chunks
    next(chunks)
    chunks.close()
    assert finance.totals(LedgerFilters()).count == 8


def test_a_long_export_streams_every_row_once_in_order(app):
    """Thousands of rows read in batches: none lost at a batch's edge, none twice, oldest first."""
    import sqlalchemy as sa

    from retreat.extensions import db
    from retreat.payments.models import Payment
    booking = make_booking(make_cohort(make_program()), "RT-LONG22")
    db.session.execute(sa.insert(Payment), [
        {"booking_id": booking.id, "kind": "deposit", "provider": "offline", "provider_reference": f"ref-{n}",
         "status": "succeeded", "currency": "usd", "amount_cents": 100 + n, "note": "",
         "created_at": datetime(2027, 3, 1 + n % 28, n % 24, tzinfo=UTC)} for n in range(2_501)])
    db.session.commit()
    rows = list(finance.iter_payments(LedgerFilters(date_from=MARCH[0], date_to=MARCH[1]), batch=1000))
    assert len(rows) == 2_501 and len({row.payment_id for row in rows}) == 2_501
    assert sum(row.amount_cents for row in rows) == sum(100 + n for n in range(2_501))
    keys = [(row.date, row.provider_reference) for row in rows]
    assert [day for day, _ in keys] == sorted(day for day, _ in keys)
    content = b"".join(exports.csv_chunks(iter(rows)))
    assert content.count(b"\r\n") == 2_502


def test_without_chunked_streaming_postgresql_exports_through_a_server_side_cursor(ledger, monkeypatch):
    """An older libpq (before 17) cannot stream in chunks: the export then reads through SQLAlchemy."""
    monkeypatch.setattr(finance, "_psycopg_streams_in_chunks", lambda: False)
    rows = list(finance.iter_payments(LedgerFilters(date_from=MARCH[0], date_to=MARCH[1]), batch=2))
    assert [row.provider_reference for row in rows] == ["pi_dep", "@SUM(A1)", "refund-evil", "re_1", "pi_bal"]
    assert rows[0].date == "2027-03-01" and rows[0].cohort_start == "2027-05-03"
