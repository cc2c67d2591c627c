"""What an applicant can book now, and at what price: each published program with dates ahead, the price each of
its lodging options would freeze into a booking today, and its open and full cohorts. The dates page, the booking
form and the waitlist form show these; the seats themselves are re-checked under the cohort lock when booking."""

from dataclasses import dataclass, replace
from datetime import date

from retreat.booking.creation import balance_due_date
from retreat.catalog import services as catalog
from retreat.catalog.services import CohortView, ProgramView
from retreat.core.clock import today
from retreat.pricing import estimator
from retreat.pricing import services as pricing


@dataclass(frozen=True)
class ProgramOffer:
    """A published program with the estimate of each lodging it offers (the price a booking would freeze now)
    and its dates still ahead."""

    program: ProgramView
    prices: tuple[estimator.Estimate, ...]
    cohorts: tuple[CohortView, ...]

    def price(self, lodging: str) -> estimator.Estimate | None:
        return next((price for price in self.prices if price.configuration.lodging == lodging), None)

    @property
    def default_lodging(self) -> str:
        return "shared" if self.price("shared") else self.prices[0].configuration.lodging

    @property
    def price_from_cents(self) -> int:
        """The lowest price of its lodging options."""
        return min(price.total_cents for price in self.prices)

    @property
    def open_cohorts(self) -> tuple[CohortView, ...]:
        return tuple(cohort for cohort in self.cohorts if cohort.status == "open")

    def with_full(self, cohort_id: int) -> "ProgramOffer":
        """This offer with one cohort marked full (it just refused a seat; the cached catalog may not know yet)."""
        cohorts = tuple(replace(c, status="full", seats_left=0) if c.id == cohort_id else c for c in self.cohorts)
        return replace(self, cohorts=cohorts)

    def balance_due(self, cohort: CohortView) -> date | None:
        """The due date a booking made today freezes; None when it pays the whole price at booking."""
        return balance_due_date(self.prices[0], cohort.start_date)

    @property
    def has_close_cohort(self) -> bool:
        """Some open dates start so soon that a booking pays the whole price at once."""
        return any(self.balance_due(cohort) is None for cohort in self.open_cohorts)


def prices_of(program: ProgramView) -> tuple[estimator.Estimate, ...]:
    """The estimate of each lodging the program offers; a configuration that needs a custom quote cannot be
    booked online (services refuse it) and is left out."""
    sheet = pricing.current_price_sheet()
    estimates = (estimator.estimate(program.configuration(lodging), sheet) for lodging in program.lodging_options)
    return tuple(estimate for estimate in estimates if not estimate.custom_quote_required)


def offers() -> list[ProgramOffer]:
    """Programs with dates after today that are not closed (open ones to book, full ones to wait for)."""
    offers = []
    for program in catalog.published_programs():
        cohorts = tuple(c for c in program.cohorts if c.start_date > today() and c.status in ("open", "full"))
        prices = prices_of(program)
        if cohorts and prices:
            offers.append(ProgramOffer(program, prices, cohorts))
    return offers


def chosen_first(offers: list[ProgramOffer], slug: str | None) -> list[ProgramOffer]:
    """The offers with the chosen program's first (if it is one of them), the others in their order."""
    return sorted(offers, key=lambda offer: offer.program.slug != slug)


def find_cohort(offers: list[ProgramOffer], cohort_id: object) -> tuple[ProgramOffer, CohortView] | None:
    """The offer and cohort of an id (as the int the services take), if it is one of the offers'."""
    for offer in offers:
        for cohort in offer.cohorts:
            if cohort.id == cohort_id:
                return offer, cohort
    return None
