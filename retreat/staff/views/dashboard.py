"""Coordinator console: the dashboard, one seat bar per cohort starting in the next 90 days."""

from dataclasses import dataclass
from datetime import timedelta

from flask import current_app, render_template

from retreat.catalog.occupancy import DEFAULT_DAYS, CohortOccupancy, upcoming_occupancy
from retreat.core.clock import today
from retreat.staff.access import roles_required
from retreat.staff.blueprint import staff_bp

# Bar order, left to right: settled seats first, then the ones that may still go, then the free ones.
CATEGORIES = (
    ("confirmed", "Confirmed"),
    ("held", "Held"),
    ("pending_review", "Pending review"),
    ("free", "Free"),
)


@dataclass(frozen=True)
class Segment:
    category: str
    label: str
    count: int
    x: float  # left edge, in percent of the bar
    width: float  # in percent of the bar


@dataclass(frozen=True)
class CohortRow:
    occupancy: CohortOccupancy
    segments: tuple[Segment, ...]

    @property
    def summary(self) -> str:
        o = self.occupancy
        text = (f"{o.confirmed} confirmed, {o.held} held, {o.pending_review} pending review, {o.free} free "
                f"of {o.capacity} seats")
        if o.over_capacity:
            text += f"; {o.over_capacity} over capacity"
        return text


def bar_segments(occupancy: CohortOccupancy) -> tuple[Segment, ...]:
    """The stacked bar: one segment per non-empty category, widths proportional to seats. The bar spans the
    capacity, or the seats taken when they exceed it, so it never overflows."""
    scale = max(occupancy.capacity, occupancy.taken)
    if scale == 0:
        return ()
    segments = []
    before = 0
    for category, label in CATEGORIES:
        count = getattr(occupancy, category)
        if count:
            x = 100 * before / scale
            segments.append(Segment(category, label, count, round(x, 4),
                                    round(100 * (before + count) / scale - x, 4)))
            before += count
    return tuple(segments)


@staff_bp.get("/dashboard")
@roles_required("coordinator", "admin")
def dashboard():
    first_day = today()
    rows = [CohortRow(occupancy, bar_segments(occupancy)) for occupancy in upcoming_occupancy(DEFAULT_DAYS)]
    totals = {category: sum(getattr(row.occupancy, category) for row in rows) for category, _ in CATEGORIES}
    return render_template(
        "staff/dashboard.html", rows=rows, categories=CATEGORIES, days=DEFAULT_DAYS, first_day=first_day,
        last_day=first_day + timedelta(days=DEFAULT_DAYS), totals=totals,
        cohort_links="staff.cohort" in current_app.view_functions,
    )
