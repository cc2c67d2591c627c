"""Spreadsheet exports: CSV that is safe to open in Excel, LibreOffice or Google Sheets.

A spreadsheet program runs a cell that starts with `=`, `+`, `-` or `@` as a formula (and some treat a leading
tab or carriage return the same way), so a name typed as `=HYPERLINK("http://evil.example", "Click")` would
become a live link in a coordinator's spreadsheet. Every text cell that starts with one of those characters is
prefixed with a single quote, which the spreadsheet shows as text (OWASP "CSV injection"). Numbers pass as
they are, so a finance export of -12.50 stays a number.
"""

import csv
import io
from collections.abc import Iterable, Sequence
from datetime import date, datetime
from decimal import Decimal

FORMULA_TRIGGERS = ("=", "+", "-", "@", "\t", "\r")


def neutralise(text: str) -> str:
    """`text`, prefixed with a single quote when a spreadsheet would read it as a formula."""
    return "'" + text if text.startswith(FORMULA_TRIGGERS) else text


def cell(value: object) -> str:
    """One value as CSV text: None is empty, dates are ISO 8601, numbers as they are, text neutralised."""
    if value is None:
        return ""
    if isinstance(value, bool):
        return "yes" if value else "no"
    if isinstance(value, int | float | Decimal):
        return str(value)
    if isinstance(value, datetime):
        return value.strftime("%Y-%m-%d %H:%M:%S")
    if isinstance(value, date):
        return value.isoformat()
    return neutralise(str(value))


def csv_bytes(header: Sequence[str], rows: Iterable[Sequence[object]]) -> bytes:
    """A CSV file (UTF-8 with a byte-order mark, so Excel reads accents right; CRLF line ends, RFC 4180)."""
    buffer = io.StringIO()
    writer = csv.writer(buffer, lineterminator="\r\n")
    writer.writerow([cell(name) for name in header])
    for row in rows:
        writer.writerow([cell(value) for value in row])
    return buffer.getvalue().encode("utf-8-sig")
