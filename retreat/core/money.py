"""Money is integer cents everywhere; these helpers only convert for display and exports."""

CURRENCY = "usd"


def ceil_div(numerator: int, denominator: int) -> int:
    """Integer division rounding up, exact for any size of integer."""
    return -(-numerator // denominator)


def format_usd(cents: int, *, show_cents: bool | None = None) -> str:
    """`123450` -> `$1,234.50`; whole dollars drop the cents unless asked for them."""
    sign = "-" if cents < 0 else ""
    dollars, remainder = divmod(abs(cents), 100)
    if show_cents is None:
        show_cents = remainder != 0
    text = f"{dollars:,}" + (f".{remainder:02d}" if show_cents else "")
    return f"{sign}${text}"


def decimal_dollars(cents: int) -> str:
    """`-123450` -> `-1234.50`: a plain number for CSV and accounting imports."""
    sign = "-" if cents < 0 else ""
    dollars, remainder = divmod(abs(cents), 100)
    return f"{sign}{dollars}.{remainder:02d}"
