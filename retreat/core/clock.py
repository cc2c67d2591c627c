"""The one source of the current time, so tests can move it (time-machine)."""

from datetime import UTC, date, datetime


def now() -> datetime:
    """The current time, timezone-aware, in UTC."""
    return datetime.now(UTC)


def today() -> date:
    """Today's date in UTC."""
    return now().date()
