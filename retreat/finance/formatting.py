"""What a column of an export is, and the cell formatting its writers share, tuned for exports of 100,000 rows.

A Column says everything the writers need to know about one column: its name (the CSV header and XLSX first
row), the row field it is made from (also its key in the API's JSON), its kind, which says how a cell is made in
each format, its width in XLSX, and the SQL it is read from. services.EXPORT_SPEC declares the contract's
columns with it, once; the rows, the queries and every writer in exports.py are derived from that declaration
(pretix's exporters: one row generator, many writers).
"""

from __future__ import annotations

import keyword
from dataclasses import dataclass
from typing import Any

from retreat.core.money import decimal_dollars
from retreat.core.spreadsheets import FORMULA_TRIGGERS

EXACT_BELOW = 10**15  # cents; below this, formatting cents / 100 with two decimals is exact (see dollars)
TRIGGERS = frozenset(FORMULA_TRIGGERS)

# How a cell is made, by kind of column:
# Free text (names, emails, references): neutralised against formula injection (core.spreadsheets) in CSV and
# XLSX, quoted in CSV where it must be; as it is in JSON.
TEXT = "text"
# One of the few plain words a CHECK constraint of the database allows (a payment's kind, provider, status):
# written as it is everywhere, for it never starts like a formula and never needs quoting.
CODE = "code"
# A whole number (an id): as it is; a number cell in XLSX.
INTEGER = "integer"
# ISO 8601 text in the export rows (`2027-03-01`, as the database writes it), a date in the ledger rows: as it is
# in CSV, a date cell (yyyy-mm-dd) in XLSX, ISO 8601 text in JSON.
DATE = "date"
# Integer cents: decimal dollars in CSV (`1234.50`, refunds negative, never neutralised), a number formatted
# #,##0.00 in XLSX, integer cents in JSON. A nullable one (fee, net: None is not known) is blank, null in JSON.
MONEY = "money"
KINDS = (TEXT, CODE, INTEGER, DATE, MONEY)


@dataclass(frozen=True)
class Column:
    """One column of an export (see the module's docstring)."""

    header: str  # the contract's name: CSV header, XLSX first row
    kind: str  # one of KINDS
    width: float = 14  # in XLSX, in characters
    field: str = ""  # the rows' field and the API's JSON key; the header if not given
    nullable: bool = False  # may be None (not known): a blank cell, null in JSON
    repeats: bool = False  # few values on many rows (a program's name): the CSV writer remembers how it wrote each
    source: Any = None  # the SQL expression the rows read it from

    def __post_init__(self) -> None:
        if not self.field:
            object.__setattr__(self, "field", self.header)
        if self.kind not in KINDS:
            raise ValueError(f"column {self.header!r}: unknown kind {self.kind!r}; use one of {KINDS}")
        # The fast writers name their variables after the fields (exports.py): plain identifiers only.
        if not self.field.isidentifier() or keyword.iskeyword(self.field) or self.field.startswith("_"):
            raise ValueError(f"column {self.header!r}: field {self.field!r} must be a plain Python name")


def dollars(cents: int) -> str:
    """`-123450` -> `-1234.50`, like core.money.decimal_dollars and about five times faster, which a 100,000-row
    export notices. Exact: cents / 100 is the double nearest the true value, off by far less than half a cent
    for any amount below EXACT_BELOW cents, so rounding it to two decimals gives the true value back."""
    if -EXACT_BELOW < cents < EXACT_BELOW:
        return "%.2f" % (cents / 100)  # noqa: UP031  (the fastest of the formatting spellings here)
    return decimal_dollars(cents)
