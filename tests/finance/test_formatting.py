"""The fast cell formatting of the exports equals the plain, obviously right one (property tests)."""

import csv
import io
import re
from datetime import date

import openpyxl
import pytest
from hypothesis import example, given
from hypothesis import strategies as st

from retreat.core.money import decimal_dollars
from retreat.core.spreadsheets import neutralise
from retreat.finance import exports, xlsx
from retreat.finance.formatting import EXACT_BELOW, dollars
from retreat.finance.services import ExportRow

TEXT = st.text(alphabet=st.characters(blacklist_categories=("Cs",)), max_size=30)
CENTS = st.integers(min_value=-(10**14), max_value=10**14)


@given(CENTS)
@example(0)
@example(1)
@example(-1)
@example(5)
@example(-5)
@example(99)
@example(-99)
@example(123_450)
@example(-123_450)
@example(EXACT_BELOW - 1)
@example(-(EXACT_BELOW - 1))
@example(EXACT_BELOW)
@example(10**20 + 7)
def test_dollars_is_decimal_dollars(cents):
    assert dollars(cents) == decimal_dollars(cents)


def _row(reference, name, email, program, provider_reference, amount, fee):
    return ExportRow("2027-03-01", 7, reference, name, email, program, "2027-05-03", "refund", "stripe",
                     provider_reference, "succeeded", "usd", amount, fee, None if fee is None else amount - fee)


@given(TEXT, TEXT, TEXT, TEXT, TEXT, CENTS, st.none() | CENTS)
@example('=HYPERLINK("http://evil.example","Click")', "a,b", 'say "hi"', "line\nbreak", "\r-1", -250, 0)
@example("", " ", "+", "@", "-", 1, None)
def test_the_fast_csv_line_is_what_the_csv_module_writes(reference, name, email, program, provider_reference,
                                                         amount, fee):
    row = _row(reference, name, email, program, provider_reference, amount, fee)
    buffer = io.StringIO()
    csv.writer(buffer, lineterminator="\r\n").writerow(exports.csv_cells(row))
    assert exports.csv_line(row) == buffer.getvalue()
    [parsed] = csv.reader(io.StringIO(exports.csv_line(row), newline=""))
    assert parsed[2:6] + [parsed[9]] == [neutralise(text) for text in
                                         (reference, name, email, program, provider_reference)]


@pytest.mark.parametrize("text", [
    "plain", " leading space", "trailing space ", "tab\tinside", "a & b < c > d", "quote \" and ' apostrophe",
    "line\nbreak", "carriage\rreturn", "nul\x00and\x1fcontrol", "emoji 🌿 and ünïcödé", "x" * 40_000, "\ufffe",
])
def test_xlsx_text_cells_survive_a_round_trip(text):
    buffer = io.BytesIO()
    xlsx.write_workbook(buffer, [xlsx.Column("text"), xlsx.Column("when", xlsx.DATE),
                                 xlsx.Column("money", xlsx.CENTS), xlsx.Column("n", xlsx.INTEGER)],
                        [(text, "2027-03-01", -250, 3), (None, date(2027, 3, 2), None, None)], sheet_name="A/B:C")
    workbook = openpyxl.load_workbook(io.BytesIO(buffer.getvalue()))
    sheet = workbook.active
    assert sheet.title == "A B C"
    expected = re.sub("[\x00-\x08\x0b\x0c\x0e-\x1f\ufffe\uffff]", "", text)[:xlsx.MAX_CELL_TEXT]
    assert sheet["A2"].value == expected
    assert sheet["B2"].value.date() == date(2027, 3, 1) and sheet["B3"].value.date() == date(2027, 3, 2)
    assert sheet["C2"].value == -2.5 and sheet["C3"].value is None
    assert sheet["D2"].value == 3 and sheet["A3"].value is None


def test_column_letters():
    assert [xlsx.column_letter(n) for n in (0, 14, 25, 26, 27, 51, 52, 701, 702)] == [
        "A", "O", "Z", "AA", "AB", "AZ", "BA", "ZZ", "AAA"]


def test_xlsx_neutralises_the_text_columns_that_ask_for_it():
    buffer = io.BytesIO()
    texts = ["=1+1", "+1", "-2", "@SUM(A1)", "\tTab", "\rReturn", "Ann", "", "Zoë"]
    xlsx.write_workbook(buffer, [xlsx.Column("safe", neutralise=True), xlsx.Column("as typed")],
                        [(text, text) for text in texts])
    sheet = openpyxl.load_workbook(io.BytesIO(buffer.getvalue())).active
    assert [row for row in sheet.iter_rows(min_row=2, values_only=True)] == [
        (neutralise(text) or None, text or None) for text in texts]
    with pytest.raises(ValueError, match="only text columns"):
        xlsx.write_workbook(io.BytesIO(), [xlsx.Column("n", xlsx.INTEGER, neutralise=True)], [])
