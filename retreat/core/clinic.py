"""The clinic as applicants meet it: how to reach it, and times in its zone.

Its name, phone, email and address (CLINIC_*) are in the footer of every page, on the contact page, wherever a
page or message asks to contact the clinic (`contact_words()`, the `contact_clinic` macro) and in every email.

Times as people read them are in the clinic's time zone (CLINIC_TIMEZONE), with its abbreviation. Times are
stored and compared in UTC (`clock.now()`); only what is shown to a person is converted, here and nowhere else.
Templates use the `clinic_time` and `clinic_date` filters (retreat/web/filters.py); emails and messages call
`clinic_time()`.
"""

from datetime import UTC, date, datetime
from zoneinfo import ZoneInfo

from flask import current_app, has_app_context

from config import DEFAULT_CLINIC_TIMEZONE


def name() -> str:
    return current_app.config.get("CLINIC_NAME") or "Retreat"


def contact_words() -> str:
    """`contact the clinic (call (828) 555-0142 or email hello@cedarhouse.example)`, for a message's text."""
    config = current_app.config
    ways = [f"{verb} {config[setting]}" for verb, setting in (("call", "CLINIC_PHONE"), ("email", "CLINIC_EMAIL"))
            if config.get(setting)]
    return "contact the clinic" + (f" ({' or '.join(ways)})" if ways else "")


def clinic_zone() -> ZoneInfo:
    """The clinic's zone: the app's CLINIC_TIMEZONE (checked at start), America/New_York outside an app."""
    name = current_app.config.get("CLINIC_TIMEZONE") if has_app_context() else None
    return ZoneInfo(name or DEFAULT_CLINIC_TIMEZONE)


def in_clinic_zone(value: datetime) -> datetime:
    """An aware datetime, or a naive one taken as UTC, as the same moment in the clinic's zone."""
    if value.tzinfo is None:
        value = value.replace(tzinfo=UTC)
    return value.astimezone(clinic_zone())


def clinic_time(value: datetime, *, with_date: bool = True, seconds: bool = False) -> str:
    """`2026-12-07 19:05 UTC` -> `Mon 7 Dec 2026, 2:05 PM EST` (EDT in summer: the abbreviation of that date);
    without the date `2:05 PM EST`; with seconds `2:05:09 PM EST`."""
    local = in_clinic_zone(value)
    hour = local.hour % 12 or 12
    clock = f"{hour}:{local:%M}" + (f":{local:%S}" if seconds else "")
    time_of_day = f"{clock} {'AM' if local.hour < 12 else 'PM'} {local.tzname()}"
    return f"{local:%a} {local.day} {local:%b %Y}, {time_of_day}" if with_date else time_of_day


# How the page names the zone in words; other zones are named by their city ("Auckland time").
ZONE_NAMES = {
    "America/New_York": "Eastern Time", "America/Detroit": "Eastern Time", "America/Chicago": "Central Time",
    "America/Denver": "Mountain Time", "America/Phoenix": "Mountain Time (Arizona)",
    "America/Los_Angeles": "Pacific Time", "America/Anchorage": "Alaska Time", "Pacific/Honolulu": "Hawaii Time",
}


def zone_name() -> str:
    """The clinic's zone in words: `Eastern Time` for America/New_York."""
    key = clinic_zone().key
    return ZONE_NAMES.get(key) or key.rsplit("/", 1)[-1].replace("_", " ") + " time"


def clinic_date(value: datetime) -> date:
    """The calendar date of a moment in the clinic's zone (19:30 on 31 March in New York is 1 April in UTC)."""
    return in_clinic_zone(value).date()


def clinic_iso(value: datetime) -> str:
    """ISO 8601 with the clinic zone's offset, for `<time datetime>`: `2026-12-07T14:05:00-05:00`."""
    return in_clinic_zone(value).isoformat(timespec="seconds")
