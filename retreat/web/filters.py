"""Jinja filters and globals for money and dates (the areas add their own labels: see create_app)."""

import re
from datetime import date, datetime

import phonenumbers
from flask import Flask
from markupsafe import Markup

from retreat.core import clinic as clinic_zone_time
from retreat.core import clock
from retreat.core.money import format_usd


def long_date(value: date) -> str:
    """`2027-03-01` -> `Mon 1 Mar 2027`."""
    return f"{value:%a} {value.day} {value:%b %Y}"


def claim_date(value: date, short: bool = False) -> str:
    """A date as US claim forms (and superbills) write it: `03/27/1984`, short `03/27/84`."""
    return f"{value:%m/%d/%y}" if short else f"{value:%m/%d/%Y}"


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


def clinic_time(value: datetime | None, with_date: bool = True, seconds: bool = False) -> str:
    """A moment as people read it: `Mon 7 Dec 2026, 2:05 PM EST`, in the clinic's zone (`2:05 PM EST` without the
    date). None shows as `—`."""
    if value is None:
        return "—"
    return clinic_zone_time.clinic_time(value, with_date=with_date, seconds=seconds)


def clinic_date(value: datetime) -> date:
    """The moment's date in the clinic's zone (a `date`: print it, or pipe it to `long_date`)."""
    return clinic_zone_time.clinic_date(value)


def clinic_time_tag(value: datetime) -> Markup:
    """`<time datetime="2026-12-07T14:05:00-05:00">Mon 7 Dec 2026, 2:05 PM EST</time>`."""
    return Markup('<time datetime="{}">{}</time>').format(clinic_zone_time.clinic_iso(value), clinic_time(value))


def tel_href(phone: str | int) -> str:
    """`(828) 555-0142` -> `tel:+18285550142` (a US number unless it says otherwise); `988` -> `tel:988`."""
    text = str(phone or "")
    try:
        number = phonenumbers.parse(text, "US")
        if phonenumbers.is_possible_number(number):
            return "tel:" + phonenumbers.format_number(number, phonenumbers.PhoneNumberFormat.E164)
    except phonenumbers.NumberParseException:
        pass
    return "tel:" + re.sub(r"[^0-9+]", "", text)


def register(app: Flask) -> None:
    app.jinja_env.filters.update(
        usd=format_usd,
        long_date=long_date,
        claim_date=claim_date,
        weeks=weeks,
        plural=plural,
        clinic_time=clinic_time,
        clinic_date=clinic_date,
        clinic_time_tag=clinic_time_tag,
        clinic_iso=clinic_zone_time.clinic_iso,
        tel_href=tel_href,
    )
    # `today()`: the day a booking's money rules count from (core.clock.today), for pages that apply them.
    app.jinja_env.globals.update(date_range=date_range, clinic_zone_name=clinic_zone_time.zone_name,
                                 today=clock.today)
