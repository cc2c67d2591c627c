"""Bookings that need someone now, for the staff home (registered with retreat.staff.todo) and the bookings
console's "Needs attention" filter: one condition per kind, used by both, so the count on the home page is the
number of rows its link lists.

- holds that lapse within 24 hours (coordinators, admins): the seat frees when they do;
- holds kept short until the applicant confirms their email address (coordinators, admins);
- requests for a reduced fee waiting for a decision (coordinators, admins);
- balances due within 7 days, or overdue (coordinators, admins);
- bank transfers awaited (finance, admins): a deposit held for by bank transfer, or a balance by bank transfer due
  within 7 days;
- monthly parts of an installment plan whose card was declined on their day and on each retry (coordinators,
  finance, admins): the applicant was emailed each time; someone calls them.

Counts and booking fields only: nothing here reads a pre-screen.
"""

from collections.abc import Callable
from dataclasses import dataclass
from datetime import timedelta

import sqlalchemy as sa
from flask import url_for

from retreat.booking import fee_requests
from retreat.booking.hold_rules import needs_email_confirmation
from retreat.booking.models import HOLDING_STATUSES, Booking, PaymentScheduleItem
from retreat.core.clock import now, today
from retreat.extensions import db
from retreat.staff import todo

LAPSING_WITHIN = timedelta(hours=24)
BALANCE_DUE_WITHIN_DAYS = 7
COORDINATION = ("coordinator", "admin")
FINANCE = ("finance", "admin")
MONEY_FOLLOW_UP = ("coordinator", "finance", "admin")


def _live_hold():
    return sa.and_(Booking.status.in_(HOLDING_STATUSES), Booking.hold_expires_at > now())


def lapsing_holds():
    return sa.and_(_live_hold(), Booking.hold_expires_at <= now() + LAPSING_WITHIN)


def unconfirmed_email_holds():
    """Live holds kept at the card's length until the applicant opens the emailed link (hold_rules decides which:
    its rule reads the configured hold lengths, so it runs on the few live unconfirmed holds)."""
    candidates = db.session.scalars(
        sa.select(Booking).where(_live_hold(), Booking.email_confirmed_at.is_(None))).all()
    return Booking.id.in_([booking.id for booking in candidates if needs_email_confirmation(booking)])


def balances_due():
    """Deposit paid, balance still owed, due within BALANCE_DUE_WITHIN_DAYS days (or already overdue)."""
    return sa.and_(Booking.status == "confirmed", Booking.balance_cents > 0,
                   Booking.balance_due_date <= today() + timedelta(days=BALANCE_DUE_WITHIN_DAYS))


def transfers_awaited():
    deposit_awaited = sa.and_(Booking.status == "held", Booking.hold_expires_at > now())
    return sa.and_(Booking.payment_provider == "offline", sa.or_(deposit_awaited, balances_due()))


def installments_failed():
    """A confirmed booking with a monthly part that could not be charged after its retries (booking.jobs)."""
    failed = sa.select(PaymentScheduleItem.booking_id).where(PaymentScheduleItem.status == "failed")
    return sa.and_(Booking.status == "confirmed", Booking.id.in_(failed))


@dataclass(frozen=True)
class Need:
    label: str  # the home page's line and the filter's choice
    hint: str
    condition: Callable[[], sa.ColumnElement[bool]]
    roles: tuple[str, ...]


NEEDS: dict[str, Need] = {
    "hold_lapsing": Need(
        "Holds that lapse within 24 hours",
        "Seats held unpaid; each frees when its hold lapses. Remind the applicant, or release a hold that looks "
        "abandoned.", lapsing_holds, COORDINATION),
    "email_unconfirmed": Need(
        "Holds waiting for the applicant to confirm their email",
        "Kept short until the applicant opens the link emailed to them; an address that never confirms may be a "
        "script's.", unconfirmed_email_holds, COORDINATION),
    "fee_request": Need(
        "Reduced-fee requests to decide",
        "Seats held unpaid until a price is granted or the request declined; the hold lapses meanwhile. Open the "
        "booking to decide.", fee_requests.waiting_condition, COORDINATION),
    "balance_due": Need(
        f"Balances due within {BALANCE_DUE_WITHIN_DAYS} days",
        "Deposit paid, balance not yet; overdue ones included.", balances_due, COORDINATION),
    "transfer_awaited": Need(
        "Bank transfers awaited",
        f"A deposit held for by bank transfer, or a balance by bank transfer due within {BALANCE_DUE_WITHIN_DAYS} "
        "days: record each when it reaches the clinic's account.", transfers_awaited, FINANCE),
    "installment_failed": Need(
        "Monthly payments that could not be charged",
        "The card was declined on the day and on each retry; the applicant was emailed a link to pay. Call them.",
        installments_failed, MONEY_FOLLOW_UP),
}


def count(need: str) -> int:
    return db.session.scalar(sa.select(sa.func.count()).select_from(Booking).where(NEEDS[need].condition())) or 0


def _lines_of(*keys: str):
    def lines() -> list[todo.ToDo]:
        return [todo.ToDo(key, NEEDS[key].label, count(key), url_for("staff.bookings", needs=key), NEEDS[key].hint)
                for key in keys]
    return lines


todo.register("booking.coordination", roles=COORDINATION, order=20,
              lines=_lines_of("fee_request", "hold_lapsing", "email_unconfirmed", "balance_due"))
todo.register("booking.transfers", roles=FINANCE, order=30, lines=_lines_of("transfer_awaited"))
todo.register("booking.installments", roles=MONEY_FOLLOW_UP, order=25, lines=_lines_of("installment_failed"))
