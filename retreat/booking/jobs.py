"""The booking jobs cron runs (`flask bookings ...`): holds that lapsed written down and their seats offered to the
waitlists, balance reminders, and balances charged to saved cards. Each is safe to repeat; each change is a unit
of work of its own, so one failure leaves the rest done."""

from datetime import date, timedelta

import sqlalchemy as sa
from flask import current_app

from retreat.booking import availability, emails, policy
from retreat.booking.access import manage_token
from retreat.booking.cancellation import free_pre_screen
from retreat.booking.models import HOLDING_STATUSES, Booking
from retreat.booking.payments import outstanding_cents, payment_received
from retreat.booking.states import transition
from retreat.booking.waitlist import lapse_waitlist_offer, offer_freed_seats
from retreat.catalog.models import Cohort
from retreat.core.clock import now, today
from retreat.core.transactions import unit_of_work
from retreat.extensions import db
from retreat.notify import services as notify
from retreat.payments import providers


def expire_lapsed_holds() -> int:
    """Mark holds past their time as expired (their seats were free already) and offer the seats to the
    waitlists. One transaction per cohort. Returns how many bookings expired."""
    cohort_ids = db.session.scalars(
        sa.select(Booking.cohort_id).where(Booking.status.in_(HOLDING_STATUSES), Booking.hold_expires_at <= now())
        .distinct()
    ).all()
    db.session.rollback()
    expired = 0
    for cohort_id in cohort_ids:
        with availability.changing_cohort(cohort_id) as cohort:
            lapsed = db.session.scalars(
                sa.select(Booking).where(Booking.cohort_id == cohort_id, Booking.status.in_(HOLDING_STATUSES),
                                         Booking.hold_expires_at <= now())
                .execution_options(populate_existing=True)
            ).all()
            for booking in lapsed:
                transition(booking, "expired", reason="hold lapsed unpaid", actor="system (hold expiry)")
                free_pre_screen(booking, actor="system (hold expiry)")
                lapse_waitlist_offer(booking)
                notify.enqueue(*emails.hold_expired(booking))
            offer_freed_seats(cohort)
        expired += len(lapsed)
    return expired


def send_balance_reminders(on: date | None = None) -> int:
    """Email applicants whose balance falls due in 21 and in 7 days (each reminder once; a missed day of the
    cron job sends it late rather than never), in one unit of work. Returns how many reminders were queued."""
    on = on or today()
    horizon = on + timedelta(days=max(policy.BALANCE_REMINDER_DAYS))
    queued = 0
    with unit_of_work():
        bookings = db.session.scalars(
            sa.select(Booking).join(Cohort, Cohort.id == Booking.cohort_id).where(
                Booking.status == "confirmed", Booking.balance_due_date <= horizon, Booking.balance_due_date >= on,
                Cohort.status != "cancelled")
        ).all()
        for booking in bookings:
            queued += _remind(booking, on)
    return queued


def _remind(booking: Booking, on: date) -> int:
    """Queue the reminder this booking is due on `on`, if any (1), else 0."""
    days_left = (booking.balance_due_date - on).days
    due = [d for d in sorted(policy.BALANCE_REMINDER_DAYS) if days_left <= d]
    threshold = due[0] if due else None
    sent = list(booking.balance_reminders_sent or [])
    if threshold is None or threshold in sent or any(s < threshold for s in sent):
        return 0
    left = outstanding_cents(booking)
    if left <= 0:
        return 0
    booking.balance_reminders_sent = [*sent, threshold]
    notify.enqueue(*emails.balance_reminder(booking, left, manage_token(booking)))
    return 1


def charge_due_balances(on: date | None = None) -> tuple[int, int]:
    """Charge the saved card of each confirmed booking whose balance is due (the applicant consented when
    paying the deposit). Each booking is read again just before its charge; a declined card is told to the
    applicant, who pays from the manage page, and a provider failure leaves that booking for the next run.
    Money that arrives for a booking cancelled meanwhile, or beyond its total, is refunded by payment_received.
    Returns (charged, failed)."""
    on = on or today()
    booking_ids = db.session.scalars(
        sa.select(Booking.id).join(Cohort, Cohort.id == Booking.cohort_id).where(
            Booking.status == "confirmed", Booking.balance_due_date <= on, Booking.save_card_consent,
            Booking.stripe_payment_method_id.is_not(None), Cohort.status != "cancelled")
    ).all()
    db.session.rollback()
    charged = failed = 0
    for booking_id in booking_ids:
        booking = db.session.get(Booking, booking_id, populate_existing=True)
        left = outstanding_cents(booking)
        if booking.status != "confirmed" or left <= 0:
            db.session.rollback()
            continue
        try:
            result = providers.provider("stripe").charge_saved_card(booking, left)
        except providers.CardDeclined as declined:
            failed += 1
            with unit_of_work():
                notify.enqueue(*emails.balance_charge_failed(booking, left, manage_token(booking), declined.message))
            continue
        except providers.ProviderUnavailable:
            db.session.rollback()
            current_app.logger.warning("Balance of %s not charged: the provider is unavailable", booking.reference)
            failed += 1
            continue
        payment_received(booking.reference, kind="balance", amount_cents=left, provider="stripe",
                         provider_reference=result.provider_reference, fee_cents=result.fee_cents,
                         net_cents=result.net_cents, actor="system (balance charge)")
        charged += 1
    return charged, failed
