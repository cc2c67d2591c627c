"""Jinja filters and globals for money and dates (the areas add their own labels: see create_app)."""

from datetime import date, datetime

from flask import Flask

from retreat.core.money import format_usd


def long_date(value: date) -> str:
    """`2027-03-01` -> `Mon 1 Mar 2027`."""
    return f"{value:%a} {value.day} {value:%b %Y}"


def date_range(start: date, end: date) -> str:
    if start.year == end.year and start.month == end.month:
        return f"{start.day}–{end.day} {end:%b %Y}"
    if start.year == end.year:
        return f"{start.day} {start:%b} – {end.day} {end:%b %Y}"
    return f"{start.day} {start:%b %Y} – {end.day} {end:%b %Y}"


def weeks(days: int) -> str:
    if days % 7 == 0:
        count = days // 7
        return f"{count} week" + ("s" if count > 1 else "")
    return f"{days} days"


def plural(unit: str, quantity: int) -> str:
    """`session`, 2 -> `sessions`; `half day`, 2 -> `half days`; `night`, 1 -> `night`."""
    return unit if quantity == 1 else unit + "s"


def clinic_time(value: datetime) -> str:
    """TEMPORARY (staffnext branch): the clinic-time filter lands with another branch at merge; this stand-in
    keeps the templates rendering until then."""
    return value.strftime("%-d %b %Y %H:%M UTC")


def register(app: Flask) -> None:
    app.jinja_env.filters.update(
        usd=format_usd,
        long_date=long_date,
        weeks=weeks,
        plural=plural,
        clinic_time=clinic_time,
    )
    app.jinja_env.globals.update(date_range=date_range)
