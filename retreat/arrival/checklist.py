"""The applicant's checklist before arrival: one `Step` per thing a booking needs before the first morning.

One definition, many uses: the manage page shows the steps with what is left, the reminders name the missing
ones, and the staff's readiness board has one column per step. Each part owns its step: a provider is a function
`(booking) -> Step | None` (None when the step does not apply to that booking), listed in `STEP_PROVIDERS`."""
from __future__ import annotations

from collections.abc import Callable

from retreat.arrival import clearance, consent, intake, uploads
from retreat.arrival.step import Step
from retreat.booking.models import Booking
from retreat.booking.payments import next_payment, outstanding_cents
from retreat.core.money import format_usd


def balance_step(booking: Booking) -> Step:
    """The whole price paid before arrival; linked to the pay page only while something can be paid there (not
    while a reduced fee is being decided, for instance: the manage page says why)."""
    owed = outstanding_cents(booking)
    if owed == 0:
        return Step(key="balance", label="Pay in full before you arrive", done=True, staff_label="Paid in full")
    payable = booking.status == "confirmed" or next_payment(booking) is not None  # confirmed: the balance
    left = f"{format_usd(owed)} still to pay." + ("" if payable else " Nothing can be paid just now; see above.")
    return Step(key="balance", label="Pay in full before you arrive", done=False, left=left,
                endpoint="booking.pay" if payable else None, staff_label="Paid in full")


STEP_PROVIDERS: tuple[Callable[[Booking], Step | None], ...] = (
    consent.checklist_step, intake.intake_step, uploads.checklist_step, clearance.checklist_step, balance_step,
    intake.ride_home_step)


def steps(booking: Booking) -> list[Step]:
    """The steps that apply to `booking`, in the order the applicant meets them."""
    return [step for provider in STEP_PROVIDERS if (step := provider(booking)) is not None]
