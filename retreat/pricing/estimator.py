"""The estimator: pure functions from a configuration and a price sheet to an itemised estimate.

No database, no request: everything it needs comes in as arguments, so it is tested exhaustively.
"""

import dataclasses
import functools
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import date, timedelta

from retreat.core.errors import ValidationFailed
from retreat.core.money import ceil_div
from retreat.pricing import rules

CATEGORY_LABELS = {
    "intake": "Medical assessment",
    "dosing": "Ketamine sessions",
    "integration": "Integration therapy",
    "intensive": "Therapy intensives",
    "lodging": "Lodging",
}


@dataclass(frozen=True)
class PriceItem:
    code: str
    label: str
    unit: str
    unit_cents: int
    hsa_fsa_eligible: bool
    # The CPT/HCPCS codes a superbill prints for this item ("" when none fits); where payers differ, the
    # alternatives are separated by "/" (esketamine "G2082/G2083") and the first is the one printed.
    superbill_codes: str = ""

    @property
    def cpt_code(self) -> str:
        return self.superbill_codes.split("/", 1)[0].strip()


@dataclass(frozen=True, eq=False)
class PriceSheet:
    """An immutable copy of one price list version. Compared and hashed by identity: each is loaded once per
    process (retreat.core.read_cache), which lets `estimate` remember its results."""

    version: int
    deposit_percent: int
    deposit_minimum_cents: int
    balance_due_days_before_start: int
    band_min_cents: int
    band_max_cents: int
    items: Mapping[str, PriceItem]


@dataclass(frozen=True)
class Configuration:
    duration_days: int
    ketamine_route: str
    dosing_sessions: int
    therapy_modality: str
    integration_sessions: int
    intensive_sessions: int
    lodging: str

    @property
    def nights(self) -> int:
        return 0 if self.lodging == "none" else self.duration_days - 1


@dataclass(frozen=True)
class LineItem:
    code: str
    label: str
    quantity: int
    unit: str
    unit_cents: int
    total_cents: int
    hsa_fsa_eligible: bool
    cpt_code: str = ""  # the CPT/HCPCS code of a superbill (PriceItem.cpt_code), "" when none

    @property
    def category(self) -> str:
        return self.code.split("_", 1)[0]


@dataclass(frozen=True)
class Estimate:
    configuration: Configuration
    price_list_version: int
    line_items: tuple[LineItem, ...]
    total_cents: int
    deposit_cents: int
    balance_cents: int
    hsa_fsa_eligible_cents: int
    custom_quote_required: bool
    balance_due_days_before_start: int

    @property
    def list_cents(self) -> int:
        """The price before any discount: the sum of the line items."""
        return sum(item.total_cents for item in self.line_items)

    @property
    def discount_cents(self) -> int:
        return self.list_cents - self.total_cents

    def balance_due_date(self, cohort_start: date) -> date:
        return cohort_start - timedelta(days=self.balance_due_days_before_start)

    def takes_whole_price(self, cohort_start: date, booked_on: date) -> bool:
        """A booking made on `booked_on` for dates starting `cohort_start` pays the whole price at once: its balance
        would fall due that day or before."""
        return self.balance_due_date(cohort_start) <= booked_on

    def spending_by_category(self) -> list[tuple[str, int, int]]:
        """(label, cents, whole percent) per kind of cost, in line-item order: where the money goes.

        Percentages are rounded by largest remainder, so they always add up to 100.
        """
        totals: dict[str, int] = {}
        for item in self.line_items:
            totals[item.category] = totals.get(item.category, 0) + item.total_cents
        parts = [(category, cents) for category, cents in totals.items() if cents]
        if not self.total_cents:
            return [(CATEGORY_LABELS[category], cents, 0) for category, cents in parts]
        floors = [cents * 100 // self.total_cents for _, cents in parts]
        by_remainder = sorted(range(len(parts)), key=lambda i: -(parts[i][1] * 100 % self.total_cents))
        for i in by_remainder[: 100 - sum(floors)]:
            floors[i] += 1
        return [(CATEGORY_LABELS[category], cents, percent)
                for (category, cents), percent in zip(parts, floors, strict=True)]


def validate_configuration(values: Mapping[str, object]) -> Configuration:
    """Check a configuration against the rules of domain/pricing.md; raise ValidationFailed naming each field."""
    errors: dict[str, list[str]] = {}

    def refuse(field: str, reason: str) -> None:
        errors.setdefault(field, []).append(reason)

    def integer(field: str) -> int | None:
        value = values.get(field)
        if value is None:
            refuse(field, "This field is required.")
            return None
        if isinstance(value, bool) or not isinstance(value, int):
            refuse(field, "Give a whole number.")
            return None
        return value

    def choice(field: str, allowed: tuple[str, ...]) -> str | None:
        value = values.get(field)
        if value is None:
            refuse(field, "This field is required.")
            return None
        if value not in allowed:
            refuse(field, f"Choose one of: {', '.join(allowed)}.")
            return None
        return value

    duration = integer("duration_days")
    route = choice("ketamine_route", rules.KETAMINE_ROUTES)
    dosing = integer("dosing_sessions")
    modality = choice("therapy_modality", rules.THERAPY_MODALITIES)
    integration = integer("integration_sessions")
    intensives = integer("intensive_sessions")
    lodging = choice("lodging", rules.LODGING_KINDS)

    if duration is not None and duration not in rules.DURATION_DAYS:
        refuse("duration_days",
               f"A retreat lasts {rules.DURATION_DAYS.low} to {rules.DURATION_DAYS.high} days.")
    if dosing is not None and route is not None:
        bounds = rules.DOSING_SESSIONS_BY_ROUTE[route]
        if dosing not in bounds:
            refuse("dosing_sessions",
                   f"{rules.ROUTE_LABELS[route]} programs have {bounds.low} to {bounds.high} dosing sessions.")
    if integration is not None:
        if dosing is not None and "dosing_sessions" not in errors and integration < dosing:
            refuse("integration_sessions",
                   f"Plan at least one integration session per dosing session ({dosing} or more).")
        elif integration > rules.INTEGRATION_SESSIONS_MAX:
            refuse("integration_sessions",
                   f"A retreat has at most {rules.INTEGRATION_SESSIONS_MAX} integration sessions.")
        elif integration < 0:
            refuse("integration_sessions", "Give a number of sessions, zero or more.")
    if intensives is not None and intensives not in rules.INTENSIVE_SESSIONS:
        refuse("intensive_sessions",
               f"Choose {rules.INTENSIVE_SESSIONS.low} or {rules.INTENSIVE_SESSIONS.high} half-day intensives.")

    if errors:
        raise ValidationFailed(errors)
    return Configuration(duration, route, dosing, modality, integration, intensives, lodging)


def deposit_for(total_cents: int, prices: PriceSheet) -> int:
    """The deposit rule: a percentage of the total rounded up to the whole dollar, at least the minimum,
    never more than the total."""
    percent_in_dollars = ceil_div(total_cents * prices.deposit_percent, 100 * 100)
    return min(total_cents, max(prices.deposit_minimum_cents, percent_in_dollars * 100))


@functools.lru_cache(maxsize=4096)
def estimate(configuration: Configuration, prices: PriceSheet) -> Estimate:
    """Itemise a valid configuration under a price sheet (pure, so its results are remembered)."""
    quantities = [
        ("intake", 1),
        (f"dosing_{configuration.ketamine_route}", configuration.dosing_sessions),
        (f"integration_{configuration.therapy_modality}", configuration.integration_sessions),
        (f"intensive_{configuration.therapy_modality}", configuration.intensive_sessions),
    ]
    if configuration.lodging != "none":
        quantities.append((f"lodging_{configuration.lodging}", configuration.nights))

    line_items = []
    for code, quantity in quantities:
        price = prices.items[code]
        line_items.append(LineItem(
            code=code, label=price.label, quantity=quantity, unit=price.unit, unit_cents=price.unit_cents,
            total_cents=price.unit_cents * quantity, hsa_fsa_eligible=price.hsa_fsa_eligible,
            cpt_code=price.cpt_code,
        ))
    total = sum(item.total_cents for item in line_items)
    deposit = deposit_for(total, prices)
    return Estimate(
        configuration=configuration,
        price_list_version=prices.version,
        line_items=tuple(line_items),
        total_cents=total,
        deposit_cents=deposit,
        balance_cents=total - deposit,
        hsa_fsa_eligible_cents=sum(item.total_cents for item in line_items if item.hsa_fsa_eligible),
        custom_quote_required=not (prices.band_min_cents <= total <= prices.band_max_cents),
        balance_due_days_before_start=prices.balance_due_days_before_start,
    )


def discount_off(list_cents: int, *, percent: int | None = None, amount_cents: int | None = None) -> int:
    """What a discount takes off a list price: a whole percentage of it, rounded down to the cent (the applicant
    never pays a fraction of a cent more than the percentage says), or a fixed amount, never more than the price."""
    if (percent is None) == (amount_cents is None):
        raise ValueError("a discount is a percentage or an amount, exactly one")
    if percent is not None:
        return list_cents * percent // 100
    return min(list_cents, amount_cents)


def discounted(estimate: Estimate, discount_cents: int, prices: PriceSheet) -> Estimate:
    """The estimate with `discount_cents` off its total: the deposit rule applies to the discounted total (the line
    items stay the list price's; the discount is a line of its own beside them)."""
    if not 0 <= discount_cents <= estimate.total_cents:
        raise ValueError("a discount is between nothing and the whole price")
    if prices.version != estimate.price_list_version:
        raise ValueError("the deposit rule of another price list")
    total = estimate.total_cents - discount_cents
    deposit = deposit_for(total, prices)
    return dataclasses.replace(estimate, total_cents=total, deposit_cents=deposit, balance_cents=total - deposit)
