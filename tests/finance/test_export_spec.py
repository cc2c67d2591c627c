"""One column spec (services.EXPORT_SPEC) drives every export format: the CSV header, the XLSX first row (its cell
types, widths and number formats) and the API's JSON keys all come from it and are the contract's; the fast CSV
line, generated from a spec, is what the csv module writes, for tricky rows of the contract and for any spec."""

import csv
import io
import re
from datetime import UTC, date, datetime

import openpyxl
import pytest
from hypothesis import example, given
from hypothesis import strategies as st

from retreat.core.money import decimal_dollars
from retreat.core.spreadsheets import neutralise
from retreat.finance import exports
from retreat.finance.formatting import CODE, DATE, INTEGER, KINDS, MONEY, TEXT, Column
from retreat.finance.services import EXPORT_COLUMNS, EXPORT_SPEC, ExportRow, LedgerRow
from retreat.payments.models import PAYMENT_KINDS, PAYMENT_PROVIDERS, PAYMENT_STATUSES

# shared/API.md, Finance: the CSV header row and XLSX first row, in this order.
CONTRACT = ["date", "payment_id", "booking_reference", "payer_name", "payer_email", "program", "cohort_start",
            "kind", "provider", "provider_reference", "status", "currency", "amount", "fee", "net"]
# The API's JSON: the same fields, money as integer cents, and the exact time.
JSON_CONTRACT = [*CONTRACT[:12], "amount_cents", "fee_cents", "net_cents", "created_at"]

# Text that CSV must quote or a spreadsheet would run as a formula, and text beyond ASCII.
TRICKY = st.text(alphabet=st.sampled_from("=+-@\t\r\n,\"' aZ1éë🌿ß;|") | st.characters(blacklist_categories=("Cs",)),
                 max_size=12)
CENTS = st.integers(min_value=-(10**16), max_value=10**16)


def xlsx_sheet(writers: exports.Writers, rows):
    buffer = io.BytesIO()
    writers.write_xlsx(rows, buffer)
    return openpyxl.load_workbook(io.BytesIO(buffer.getvalue())).active


def ledger_row(export_row) -> LedgerRow:
    """The typed twin of an export row (dates as dates), as services.iter_ledger reads it."""
    values = [date.fromisoformat(value) if column.kind == DATE else value
              for column, value in zip(EXPORT_SPEC, export_row, strict=True)]
    return LedgerRow(*values, datetime(2027, 3, 1, 9, 30, tzinfo=UTC))


DEPOSIT = ExportRow("2027-03-01", 7, "RT-AAAA22", "Jane Doe", "jane@example.org", "IV Ketamine with EMDR, One Week",
                    "2027-05-03", "deposit", "stripe", "pi_dep", "succeeded", "usd", 99_400, 2_912, 96_488)


# --- One spec, the contract's columns, in every format --------------------------------------------------------

def test_the_spec_is_the_contract_and_the_rows_follow_it():
    assert [column.header for column in EXPORT_SPEC] == CONTRACT
    assert list(EXPORT_COLUMNS) == CONTRACT
    assert list(ExportRow._fields) == [column.field for column in EXPORT_SPEC] == JSON_CONTRACT[:-1]
    assert LedgerRow._fields == (*ExportRow._fields, "created_at", "flagged")
    assert LedgerRow(*DEPOSIT, datetime(2027, 3, 1, tzinfo=UTC)).flagged is False


def test_csv_header_xlsx_first_row_and_json_keys_come_from_the_spec():
    csv_header = next(exports.csv_chunks(iter([]))).decode()
    assert csv_header == ",".join(CONTRACT) + "\r\n"

    sheet = xlsx_sheet(exports.PAYMENTS, [DEPOSIT])
    assert [cell.value for cell in sheet[1]] == CONTRACT
    for letter_cell, column in zip(sheet[2], EXPORT_SPEC, strict=True):
        letter = letter_cell.column_letter
        assert sheet.column_dimensions[letter].width == column.width, column.header
        cell = sheet[f"{letter}2"]
        if column.kind == DATE:
            assert cell.is_date and cell.number_format == "yyyy\\-mm\\-dd", column.header
        elif column.kind == MONEY:
            assert cell.data_type == "n" and cell.number_format == "#,##0.00", column.header
        elif column.kind == INTEGER:
            assert cell.data_type == "n" and cell.number_format == "General", column.header
        else:
            assert cell.data_type == "s" and cell.number_format == "General", column.header

    payment = exports.json_payment(ledger_row(DEPOSIT))
    assert list(payment) == JSON_CONTRACT == list(exports.JSON_KEYS)
    assert payment == {
        "date": "2027-03-01", "payment_id": 7, "booking_reference": "RT-AAAA22", "payer_name": "Jane Doe",
        "payer_email": "jane@example.org", "program": "IV Ketamine with EMDR, One Week", "cohort_start": "2027-05-03",
        "kind": "deposit", "provider": "stripe", "provider_reference": "pi_dep", "status": "succeeded",
        "currency": "usd", "amount_cents": 99_400, "fee_cents": 2_912, "net_cents": 96_488,
        "created_at": "2027-03-01T09:30:00+00:00"}


def test_the_json_keys_are_the_openapi_schemas():
    from retreat.api.schemas import FinancePaymentSchema
    assert list(FinancePaymentSchema().fields) == list(exports.JSON_KEYS)


def test_the_openapi_document_lists_the_spec_columns(client):
    """The API document names the CSV/XLSX columns in its description (retreat/api/openapi.py writes them out):
    a column added or renamed in the spec and not there fails here."""
    operation = client.get("/api/v1/openapi.json").get_json()["paths"]["/api/v1/finance/payments"]["get"]
    assert f"columns {', '.join(EXPORT_COLUMNS)}:" in operation["description"]


def test_a_column_renamed_or_added_in_a_spec_is_in_every_format():
    """Adding or renaming a column is one edit of the spec: every writer follows."""
    renamed = [Column("day", DATE, 12, field="date") if column.header == "date" else column for column in EXPORT_SPEC]
    spec = [*renamed, Column("note", TEXT, 33, nullable=True)]
    writers = exports.Writers(spec, sheet_name="Test")
    headers = ["day", *CONTRACT[1:], "note"]
    row = (*DEPOSIT, "=1+1, said \"she\"")

    content = b"".join(writers.csv_chunks([row, (*DEPOSIT, None)])).decode()
    lines = list(csv.reader(io.StringIO(content, newline="")))
    assert lines[0] == headers
    assert lines[1][-1] == "'=1+1, said \"she\"" and lines[2][-1] == ""
    assert lines[1][:-1] == lines[2][:-1] == next(csv.reader([exports.csv_line(DEPOSIT)]))

    sheet = xlsx_sheet(writers, [row])
    assert [cell.value for cell in sheet[1]] == headers
    assert sheet["P2"].value == "'=1+1, said \"she\"" and sheet.column_dimensions["P"].width == 33
    assert sheet["A2"].is_date and sheet.column_dimensions["A"].width == 12

    assert list(writers.json_object((*ledger_row(DEPOSIT)[:15], "a note"))) == [*JSON_CONTRACT[:-1], "note"]


def test_code_columns_hold_only_plain_words_the_database_allows():
    """CODE cells are written as they are, never neutralised nor quoted: only columns whose values a CHECK
    constraint limits to plain words may be CODE (currency, which comes from the payment provider, is TEXT)."""
    allowed = {"kind": PAYMENT_KINDS, "provider": PAYMENT_PROVIDERS, "status": PAYMENT_STATUSES}
    assert {column.field for column in EXPORT_SPEC if column.kind == CODE} == set(allowed)
    assert all(re.fullmatch("[a-z_]+", value) for values in allowed.values() for value in values)


# --- The fast CSV line is what the csv module writes ---------------------------------------------------------

def rows_of(reference, name, email, program, provider_reference, currency, amount, fee):
    return ExportRow("2027-03-01", 7, reference, name, email, program, "2027-05-03", "refund", "stripe",
                     provider_reference, "succeeded", currency, amount, fee, None if fee is None else amount - fee)


@given(TRICKY, TRICKY, TRICKY, TRICKY, TRICKY, TRICKY, CENTS, st.none() | CENTS)
@example('=HYPERLINK("http://evil.example","Click")', "a,b", 'say "hi"', "line\nbreak", "\r-1", "=1,", -250, 0)
@example("", " ", "+", "@", "-", "\t", 1, None)
@example("Zoë", "O'Brien", "ünï@example.org", "IV, One Week", "pi_1", "usd", -(10**16), -(10**15))
def test_the_fast_csv_line_is_what_the_csv_module_writes_of_the_contracts_cells(
        reference, name, email, program, provider_reference, currency, amount, fee):
    row = rows_of(reference, name, email, program, provider_reference, currency, amount, fee)
    # The contract's cells, stated here by hand: text neutralised, money in decimal dollars, unknown blank.
    expected = ["2027-03-01", "7", neutralise(reference), neutralise(name), neutralise(email), neutralise(program),
                "2027-05-03", "refund", "stripe", neutralise(provider_reference), "succeeded", neutralise(currency),
                decimal_dollars(amount), "" if fee is None else decimal_dollars(fee),
                "" if fee is None else decimal_dollars(amount - fee)]
    written = io.StringIO()
    csv.writer(written, lineterminator="\r\n").writerow(expected)
    assert exports.csv_line(row) == written.getvalue()

    plain = io.StringIO()
    csv.writer(plain, lineterminator="\r\n").writerow(exports.csv_cells(row))
    assert plain.getvalue() == written.getvalue()
    assert list(csv.reader(io.StringIO(exports.csv_line(row), newline=""))) == [expected]


def _value(kind: str) -> st.SearchStrategy:
    return {TEXT: TRICKY, CODE: st.from_regex("[a-z_]{1,10}", fullmatch=True),
            INTEGER: st.integers(min_value=-(10**12), max_value=10**12), DATE: st.dates().map(date.isoformat),
            MONEY: CENTS}[kind]


@st.composite
def spec_and_row(draw):
    count = draw(st.integers(min_value=2, max_value=7))
    columns = [Column(f"c{n}", draw(st.sampled_from(KINDS)), nullable=draw(st.booleans()), repeats=draw(st.booleans()))
               for n in range(count)]
    row = tuple(draw(st.none() | _value(column.kind)) if column.nullable else draw(_value(column.kind))
                for column in columns)
    return columns, row


@given(spec_and_row())
def test_for_any_spec_the_generated_line_is_what_the_csv_module_writes(spec):
    columns, row = spec
    written = io.StringIO()
    csv.writer(written, lineterminator="\r\n").writerow(exports.cells_function(columns)(row))
    assert exports.line_function(columns)(row) == written.getvalue()


def test_a_csv_line_needs_two_columns():
    with pytest.raises(ValueError, match="two columns"):
        exports.line_function([Column("only", TEXT)])


@pytest.mark.parametrize(("column", "message"), [
    (lambda: Column("x", "number"), "unknown kind"),
    (lambda: Column("two words", TEXT), "plain Python name"),
    (lambda: Column("x", TEXT, field="class"), "plain Python name"),
    (lambda: Column("x", TEXT, field="_row"), "plain Python name"),
])
def test_a_column_the_writers_cannot_make_is_refused(column, message):
    with pytest.raises(ValueError, match=message):
        column()
