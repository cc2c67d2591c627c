"""Ways to pay (API.md "payment_plan"): the deposit now and the balance when due (`deposit`, the default), the whole
price now (`full`), or the deposit now and the balance in 2 to 4 monthly parts charged to the card saved with the
applicant's consent (`installments`), the last part due by the balance due date.

The rules here are pure (which plans fit, how the balance splits into parts); `write_schedule`, `settle` and
`stop` keep a booking's schedule rows (booking.models.PaymentScheduleItem) in the caller's unit of work. A booking
without rows (the deposit plan, the whole price) has a schedule derived from its deposit, balance and due date.
"""

import calendar
import functools
from dataclasses import dataclass
from datetime import date

import sqlalchemy as sa

from retreat.booking.models import PAYMENT_PLANS, Booking, PaymentScheduleItem
from retreat.core.errors import ValidationFailed
from retreat.extensions import db

MIN_PARTS, MAX_PARTS = 2, 4
MIN_PART_CENTS = 100  # no part under a dollar
# Providers that can charge a card saved with consent, without the applicant present (demo: development only,
# where no money moves). A bank transfer cannot.
SAVED_CARD_PROVIDERS = ("stripe", "demo")

PLAN_LABELS = {
    "deposit": "Deposit now, the balance by its due date",
    "full": "The whole price now",
    "installments": "Deposit now, then the balance in monthly parts charged to my card",
}

# What each plan means, beside its choice on the booking form.
PLAN_DETAILS = {
    "deposit": "The deposit holds your seat; the balance is due by the date shown with your dates.",
    "full": "Nothing more to pay later.",
    "installments": "Then the balance in 2 to 4 equal monthly parts, the last by the balance due date, each charged "
                    "to the card you pay the deposit with: choosing this, you agree to those charges. For card "
                    "payments and dates at least about three months away. The next page shows every date and "
                    "amount before you pay.",
}


@dataclass(frozen=True)
class Part:
    """One dated part of what a booking pays."""

    due_date: date
    amount_cents: int
    kind: str  # deposit | balance | installment

    def as_json(self) -> dict:
        return {"due_date": self.due_date.isoformat(), "amount_cents": self.amount_cents, "kind": self.kind}


def add_months(day: date, months: int) -> date:
    """The same day `months` later, or the month's last day when it is shorter (31 January + 1 = 28 February)."""
    month_index = day.month - 1 + months
    year, month = day.year + month_index // 12, month_index % 12 + 1
    return date(year, month, min(day.day, calendar.monthrange(year, month)[1]))


def split_evenly(total_cents: int, parts: int) -> list[int]:
    """`total_cents` in `parts` amounts that differ by at most a cent and sum to it exactly (the first ones carry
    the odd cents)."""
    base, odd = divmod(total_cents, parts)
    return [base + (1 if index < odd else 0) for index in range(parts)]


def installment_parts(balance_cents: int, balance_due_date: date | None, on: date) -> list[Part] | None:
    """The balance in monthly parts from `on` (the booking day): one month after it, two months, ... as many as
    fit by the balance due date, at most MAX_PARTS, each at least MIN_PART_CENTS. None when fewer than MIN_PARTS
    fit (dates within about two months, a small balance, or no balance at all)."""
    if balance_cents <= 0 or balance_due_date is None:
        return None
    months = 0
    while months < MAX_PARTS and add_months(on, months + 1) <= balance_due_date:
        months += 1
    months = min(months, balance_cents // MIN_PART_CENTS)
    if months < MIN_PARTS:
        return None
    return [Part(add_months(on, index + 1), cents, "installment")
            for index, cents in enumerate(split_evenly(balance_cents, months))]


def parts_of(plan: str, *, total_cents: int, deposit_cents: int, balance_cents: int,
             balance_due_date: date | None, on: date) -> list[Part] | None:
    """The schedule of a booking made on `on` with this plan, from the price's split (booking.creation); None when
    the plan does not fit."""
    if plan == "installments":
        parts = installment_parts(balance_cents, balance_due_date, on)
        return None if parts is None else [Part(on, deposit_cents, "deposit"), *parts]
    if plan == "full" or not balance_cents or balance_due_date is None:
        return [Part(on, total_cents, "deposit")]
    return [Part(on, deposit_cents, "deposit"), Part(balance_due_date, balance_cents, "balance")]


def check_plan_name(plan: object) -> str:
    """The plan asked for: None is the default (`deposit`)."""
    if plan is None or plan == "":
        return "deposit"
    if plan not in PAYMENT_PLANS:
        raise ValidationFailed({"payment_plan": [f"Choose one of: {', '.join(PAYMENT_PLANS)}."]})
    return plan


def check_plan_fits(plan: str, parts: list[Part] | None, provider_name: str) -> None:
    """Refuse a plan that is not offered for these dates and this way of paying, naming `payment_plan`."""
    if plan != "installments":
        return
    if provider_name not in SAVED_CARD_PROVIDERS:
        raise ValidationFailed({"payment_plan": [
            "Monthly parts are charged to a card: choose card payment, or another way to pay."]})
    if parts is None:
        raise ValidationFailed({"payment_plan": [
            f"Monthly parts are not offered for these dates: at least {MIN_PARTS} monthly parts must fall before "
            "the balance is due. Choose the deposit or the whole price."]})


def write_schedule(booking: Booking, parts: list[Part]) -> None:
    """Write the rows of an installment plan (the deposit and each part), in the caller's unit of work."""
    for position, part in enumerate(parts):
        db.session.add(PaymentScheduleItem(booking_id=booking.id, position=position, kind=part.kind,
                                           due_date=part.due_date, amount_cents=part.amount_cents,
                                           status="scheduled", attempts=0))
    db.session.flush()


@functools.cache
def _items_statement() -> sa.Select:  # built once (see payments.ledger._statement)
    return (sa.select(PaymentScheduleItem).where(PaymentScheduleItem.booking_id == sa.bindparam("booking_id"))
            .order_by(PaymentScheduleItem.position))


def items_of(booking_id: int) -> list[PaymentScheduleItem]:
    return list(db.session.scalars(_items_statement(), {"booking_id": booking_id}))


def schedule_of(booking: Booking) -> list[Part]:
    """The booking's schedule: its rows, or (deposit plan, whole price) its deposit and balance."""
    items = items_of(booking.id)
    if items:
        return [Part(item.due_date, item.amount_cents, item.kind) for item in items]
    on = booking.created_at.date() if booking.created_at else booking.cohort.start_date
    return parts_of("deposit", total_cents=booking.total_cents, deposit_cents=booking.deposit_cents,
                    balance_cents=booking.balance_cents, balance_due_date=booking.balance_due_date, on=on)


@dataclass(frozen=True)
class Line:
    """A part of the schedule as the applicant's pages show it."""

    part: Part
    status: str  # paid | scheduled | failed | cancelled
    attempts: int = 0


def schedule_lines(booking: Booking, received_cents: int) -> list[Line]:
    """The schedule with each part's state: a part is paid once what was received covers it and the parts before
    it (whichever way the money came: the saved card, the pay page, a bank transfer)."""
    items = {item.position: item for item in items_of(booking.id)}
    lines, covered = [], 0
    ended = booking.status in ("cancelled", "declined", "expired")
    for position, part in enumerate(schedule_of(booking)):
        covered += part.amount_cents
        item = items.get(position)
        if covered <= received_cents:
            status = "paid"
        elif item is not None:
            status = "cancelled" if ended and item.status == "scheduled" else item.status
        else:
            status = "cancelled" if ended else "scheduled"
        lines.append(Line(part, status, item.attempts if item is not None else 0))
    return lines


def settle(booking: Booking, received_cents: int, payment_id: int | None) -> None:
    """Mark the parts that what was received now covers as paid (a failed part paid by hand too)."""
    covered = 0
    for item in items_of(booking.id):
        covered += item.amount_cents
        if covered <= received_cents and item.status in ("scheduled", "failed"):
            item.status = "paid"
            item.payment_id = item.payment_id or payment_id
    db.session.flush()


def reprice(booking: Booking, on: date) -> None:
    """The booking's price changed before anything was paid (a reduced fee granted): its plan follows the new
    total, deposit and balance. The whole price stays whole; monthly parts are split again from `on`, or, where
    they no longer fit, the plan becomes the deposit and the balance. In the caller's unit of work."""
    if booking.payment_plan == "full":
        booking.deposit_cents, booking.balance_cents, booking.balance_due_date = booking.total_cents, 0, None
        return
    if booking.payment_plan != "installments":
        return
    db.session.execute(sa.delete(PaymentScheduleItem).where(PaymentScheduleItem.booking_id == booking.id))
    parts = parts_of("installments", total_cents=booking.total_cents, deposit_cents=booking.deposit_cents,
                     balance_cents=booking.balance_cents, balance_due_date=booking.balance_due_date, on=on)
    if parts is None:
        booking.payment_plan = "deposit"
    else:
        write_schedule(booking, parts)


def stop(booking: Booking) -> None:
    """A booking that ended (cancelled, declined) charges none of the parts not yet paid."""
    db.session.execute(sa.update(PaymentScheduleItem).where(
        PaymentScheduleItem.booking_id == booking.id, PaymentScheduleItem.status.in_(("scheduled", "failed")))
        .values(status="cancelled"))


def overdue_cents(booking: Booking, received_cents: int, on: date) -> int:
    """What the parts due by `on` still lack (an installment not charged, or failed): the pay page asks it."""
    due = sum(item.amount_cents for item in items_of(booking.id) if item.due_date <= on)
    return max(0, due - received_cents)
