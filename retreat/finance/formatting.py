"""Cell formatting shared by the export writers, tuned for exports of 100,000 rows."""

from retreat.core.money import decimal_dollars
from retreat.core.spreadsheets import FORMULA_TRIGGERS

EXACT_BELOW = 10**15  # cents; below this, formatting cents / 100 with two decimals is exact (see dollars)
TRIGGERS = frozenset(FORMULA_TRIGGERS)


def dollars(cents: int) -> str:
    """`-123450` -> `-1234.50`, like core.money.decimal_dollars and about five times faster, which a 100,000-row
    export notices. Exact: cents / 100 is the double nearest the true value, off by far less than half a cent
    for any amount below EXACT_BELOW cents, so rounding it to two decimals gives the true value back."""
    if -EXACT_BELOW < cents < EXACT_BELOW:
        return "%.2f" % (cents / 100)  # noqa: UP031  (the fastest of the formatting spellings here)
    return decimal_dollars(cents)
