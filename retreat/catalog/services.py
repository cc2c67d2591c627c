"""The public catalog: published programs, their upcoming cohorts and seats left, and program estimates.

Seats are booking's to count (booking.availability): it registers its counter here with `count_seats_with`, so
the catalog shows seats left without reading bookings itself.
"""

from collections.abc import Callable
from dataclasses import dataclass, replace
from datetime import date, timedelta

import sqlalchemy as sa
from sqlalchemy.orm import selectinload

from retreat.catalog.models import Cohort, Program
from retreat.core.clock import today
from retreat.core.errors import NotFound, ValidationFailed
from retreat.core.read_cache import read_cache
from retreat.extensions import db
from retreat.pricing import services as pricing
from retreat.pricing.editing import price_list_saved, price_samples_wanted
from retreat.pricing.estimator import Configuration
from retreat.pricing.rules import LODGING_KINDS

PUBLISHED_PROGRAMS_KEY = "catalog:published"


@dataclass(frozen=True)
class CohortView:
    id: int
    start_date: date
    end_date: date
    capacity: int
    seats_left: int
    status: str  # open | full | closed, as the public sees it


@dataclass(frozen=True)
class ProgramView:
    slug: str
    name: str
    summary: str
    description: str
    location: str
    duration_days: int
    ketamine_route: str
    dosing_sessions: int
    therapy_modality: str
    integration_sessions: int
    intensive_sessions: int
    lodging_options: tuple[str, ...]
    price_min_cents: int
    price_max_cents: int
    cohorts: tuple[CohortView, ...]  # upcoming, soonest first

    @property
    def nights(self) -> int:
        return self.duration_days - 1

    @property
    def next_open_cohort(self) -> CohortView | None:
        return next((cohort for cohort in self.cohorts if cohort.status == "open"), None)

    def configuration(self, lodging: str) -> Configuration:
        return Configuration(
            duration_days=self.duration_days, ketamine_route=self.ketamine_route,
            dosing_sessions=self.dosing_sessions, therapy_modality=self.therapy_modality,
            integration_sessions=self.integration_sessions, intensive_sessions=self.intensive_sessions,
            lodging=lodging,
        )


SeatCounter = Callable[[list[int]], dict[int, int]]
_seat_counter: SeatCounter | None = None


def count_seats_with(counter: SeatCounter) -> None:
    """Register what counts the seats taken per cohort (booking.availability.seats_taken does, when imported)."""
    global _seat_counter
    _seat_counter = counter


def seats_taken(cohort_ids: list[int]) -> dict[int, int]:
    """Seats taken per cohort, as booking counts them (confirmed bookings and live holds)."""
    if _seat_counter is None:
        raise RuntimeError("No seat counter is registered: import retreat.booking.availability (create_app does).")
    return _seat_counter(cohort_ids)


def free_seats(capacity: int, taken: int) -> int:
    """Capacity minus seats taken, never below zero (capacity may have been lowered below the bookings)."""
    return max(0, capacity - taken)


def last_day_of(start_date: date, duration_days: int) -> date:
    """The last day of a cohort starting on `start_date` of a program of `duration_days`: a cohort lasts exactly
    its program's length, as its price counts that program's nights (booking.cohorts keeps to it)."""
    return start_date + timedelta(days=duration_days - 1)


def lasts_its_program(cohort: Cohort, duration_days: int) -> bool:
    return cohort.end_date == last_day_of(cohort.start_date, duration_days)


def _public_status(cohort: Cohort, left: int) -> str:
    if cohort.status != "open":
        return "closed"
    return "full" if left == 0 else "open"


def _program_views(programs: list[Program]) -> list[ProgramView]:
    """Build the public view of programs in two queries: their upcoming cohorts, and the seats taken."""
    first_day = today()
    upcoming = {  # a cohort saved before its dates had to last the program's length is not shown (nor booked)
        program.id: [c for c in program.cohorts if c.start_date >= first_day and c.status != "cancelled"
                     and lasts_its_program(c, program.duration_days)]
        for program in programs
    }
    taken = seats_taken([cohort.id for cohorts in upcoming.values() for cohort in cohorts])
    views = []
    for program in programs:
        options = tuple(program.lodging_options) or ("none",)
        cohorts = []
        for cohort in upcoming[program.id]:
            left = free_seats(cohort.capacity, taken.get(cohort.id, 0))
            cohorts.append(CohortView(cohort.id, cohort.start_date, cohort.end_date, cohort.capacity, left,
                                      _public_status(cohort, left)))
        view = ProgramView(
            slug=program.slug, name=program.name, summary=program.summary, description=program.description,
            location=program.location, duration_days=program.duration_days,
            ketamine_route=program.ketamine_route, dosing_sessions=program.dosing_sessions,
            therapy_modality=program.therapy_modality, integration_sessions=program.integration_sessions,
            intensive_sessions=program.intensive_sessions, lodging_options=options,
            price_min_cents=0, price_max_cents=0, cohorts=tuple(cohorts),
        )
        low, high = pricing.price_range([view.configuration(lodging) for lodging in options])
        views.append(replace(view, price_min_cents=low, price_max_cents=high))
    return views


def published_programs() -> tuple[ProgramView, ...]:
    """Published programs for the public catalog, cheapest first. Cached per process for a few seconds."""
    def load() -> tuple[ProgramView, ...]:
        rows = db.session.scalars(
            sa.select(Program).where(Program.published).options(selectinload(Program.cohorts))
        ).all()
        return tuple(sorted(_program_views(list(rows)), key=lambda p: (p.price_min_cents, p.name)))

    return read_cache().get(PUBLISHED_PROGRAMS_KEY, load)


def find_published_program(slug: object) -> ProgramView | None:
    return next((program for program in published_programs() if program.slug == slug), None)


def programs_like(configuration: Configuration) -> tuple[ProgramView, ...]:
    """Published programs with a configuration's ketamine route, therapy modality and length (their sessions and
    lodging may differ): where a custom estimate leads."""
    return tuple(program for program in published_programs()
                 if (program.ketamine_route, program.therapy_modality, program.duration_days)
                 == (configuration.ketamine_route, configuration.therapy_modality, configuration.duration_days))


def published_program(slug: str) -> ProgramView:
    """One published program by its slug, or NotFound."""
    program = find_published_program(slug)
    if program is None:
        raise NotFound("There is no published program with this name.")
    return program


def forget_cached_catalog() -> None:
    """Call after any change that shows in the public catalog (programs, cohorts, bookings; prices: the
    price_list_saved signal below). The price sheet stays: a seat taken does not change it, and reading it again
    was a tenth of a booking's work."""
    read_cache().forget(PUBLISHED_PROGRAMS_KEY)


def forget_cached_prices() -> None:
    """Call after a new price list version: the cached price sheet, and the catalog's price ranges, are of the
    old one."""
    read_cache().forget(pricing.CURRENT_PRICE_SHEET_KEY)
    forget_cached_catalog()


@price_list_saved.connect
def _forget_old_prices(sender) -> None:
    forget_cached_prices()


@price_samples_wanted.connect
def _published_configurations(sender) -> list[tuple[str, list[Configuration]]]:
    """What a price change is previewed on: each published program with each of its lodging options."""
    return [(program.name, [program.configuration(lodging) for lodging in program.lodging_options])
            for program in published_programs()]


def estimate_for_program(slug: object, lodging: object) -> pricing.IssuedEstimate:
    """Issue the estimate of a published program with one of its lodging options."""
    errors: dict[str, list[str]] = {}
    program = find_published_program(slug)
    if program is None:
        errors["program"] = ["Choose one of the programs in the catalog."]
    try:
        pricing.check_lodging_offered(lodging, program.lodging_options if program else LODGING_KINDS)
    except ValidationFailed as refusal:
        errors.update(refusal.fields)
    if errors:
        raise ValidationFailed(errors)
    return pricing.issue_estimate(program.configuration(lodging), program_slug=program.slug)
