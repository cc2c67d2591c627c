"""The booking jobs cron runs (`flask bookings ...`): holds that lapsed written down and their seats offered to the
waitlists, balance reminders, and balances charged to saved cards. Each is safe to repeat; each change is a unit
of work of its own, so one failure leaves the rest done."""

from datetime import date, timedelta

import sqlalchemy as sa
from flask import current_app

from retreat.booking import availability, emails, plans, policy
from retreat.booking.access import manage_token
from retreat.booking.cancellation import free_pre_screen
from retreat.booking.models import HOLDING_STATUSES, Booking, PaymentScheduleItem
from retreat.booking.payments import outstanding_cents, payment_received
from retreat.booking.states import transition
from retreat.booking.waitlist import lapse_waitlist_offer, offer_freed_seats
from retreat.catalog.models import Cohort
from retreat.core import audit
from retreat.core.clock import now, today
from retreat.core.jobs import claim_once, claim_rows, release_claim
from retreat.core.transactions import unit_of_work
from retreat.extensions import db
from retreat.notify import services as notify
from retreat.payments import ledger, providers


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
        # Claimed (FOR UPDATE SKIP LOCKED): a run on another host at the same moment skips them, then finds them
        # reminded. On SQLite the unit of work's write lock makes the second run wait and read the first's.
        bookings = db.session.scalars(claim_rows(
            sa.select(Booking).join(Cohort, Cohort.id == Booking.cohort_id).where(
                Booking.status == "confirmed", Booking.balance_due_date <= horizon, Booking.balance_due_date >= on,
                Booking.payment_plan != "installments", Cohort.status != "cancelled")
            .execution_options(populate_existing=True), Booking)
        ).all()
        for booking in bookings:
            queued += _remind(booking, on)
        queued += _remind_installments(on)
    return queued


def _remind_installments(on: date) -> int:
    """Email each installment's reminder INSTALLMENT_REMINDER_DAYS before it is charged (once; late rather than
    never), with the whole schedule."""
    items = db.session.scalars(claim_rows(
        sa.select(PaymentScheduleItem).join(Booking, Booking.id == PaymentScheduleItem.booking_id)
        .join(Cohort, Cohort.id == Booking.cohort_id).where(
            PaymentScheduleItem.kind == "installment", PaymentScheduleItem.status == "scheduled",
            PaymentScheduleItem.reminded_on.is_(None), PaymentScheduleItem.due_date >= on,
            PaymentScheduleItem.due_date <= on + timedelta(days=INSTALLMENT_REMINDER_DAYS),
            Booking.status == "confirmed", Cohort.status != "cancelled")
        .order_by(PaymentScheduleItem.due_date).execution_options(populate_existing=True), PaymentScheduleItem)
    ).all()
    for item in items:
        item.reminded_on = on
        notify.enqueue(*emails.installment_reminder(item.booking, item, manage_token(item.booking)))
    return len(items)


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


INSTALLMENT_REMINDER_DAYS = 7
# A part whose charge failed is tried again once a day for this many days; then staff follow it up (staff to-do).
INSTALLMENT_RETRY_DAYS = 3
BALANCE_CHARGE_JOB = "balance-charge"  # core.jobs.claim_once: one claim per booking and day


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
            Booking.stripe_payment_method_id.is_not(None), Booking.payment_plan != "installments",
            Cohort.status != "cancelled")
    ).all()
    db.session.rollback()
    charged = failed = 0
    for booking_id in booking_ids:
        # Claimed for the day, committed, before Stripe is asked: a run on another host (or a second run today)
        # skips it; the Stripe idempotency key is the claim's, so a retry after a provider failure is the same
        # charge. A crash after the claim leaves the booking for tomorrow's run (by then the webhook or
        # `payments reconcile` has recorded a charge that went through, and nothing is owed).
        claim = f"{booking_id}:{on.isoformat()}"
        if not claim_once(BALANCE_CHARGE_JOB, claim):
            continue
        booking = db.session.get(Booking, booking_id, populate_existing=True)
        left = outstanding_cents(booking)
        if booking.status != "confirmed" or left <= 0:
            db.session.rollback()
            continue
        key = f"retreat-{booking.reference}-saved-card-{left}-{on.isoformat()}"
        try:
            result = providers.provider("stripe").charge_saved_card(booking, left, kind="balance", key=key)
        except providers.CardDeclined as declined:
            failed += 1
            with unit_of_work():
                notify.enqueue(*emails.balance_charge_failed(booking, left, manage_token(booking), declined.message))
            continue
        except providers.ProviderUnavailable:
            db.session.rollback()
            release_claim(BALANCE_CHARGE_JOB, claim)  # not the card: the next run tries again, with the same key
            current_app.logger.warning("Balance of %s not charged: the provider is unavailable", booking.reference)
            failed += 1
            continue
        payment_received(booking.reference, kind="balance", amount_cents=left, provider="stripe",
                         provider_reference=result.provider_reference, fee_cents=result.fee_cents,
                         net_cents=result.net_cents, actor="system (balance charge)")
        charged += 1
    return charged, failed


def charge_due_installments(on: date | None = None) -> tuple[int, int]:
    """Charge each installment due by `on` to the booking's saved card (its applicant chose the plan, and with it
    the charges). A part is tried once a day: the attempt is claimed (one conditional update) before the provider
    is asked, with an idempotency key of the part and attempt, so running the job twice on a day charges nothing
    twice. A declined card emails the applicant a link to pay by hand; after INSTALLMENT_RETRY_DAYS more days of
    declines the part is `failed` and staff see it in their to-do. A provider outage gives the attempt back.
    Returns (charged, failed)."""
    on = on or today()
    item_ids = db.session.scalars(
        sa.select(PaymentScheduleItem.id).join(Booking, Booking.id == PaymentScheduleItem.booking_id)
        .join(Cohort, Cohort.id == Booking.cohort_id).where(
            PaymentScheduleItem.kind == "installment", PaymentScheduleItem.status == "scheduled",
            PaymentScheduleItem.due_date <= on,
            sa.or_(PaymentScheduleItem.last_attempt_on.is_(None), PaymentScheduleItem.last_attempt_on < on),
            Booking.status == "confirmed", Cohort.status != "cancelled")
        .order_by(PaymentScheduleItem.due_date, PaymentScheduleItem.position)
    ).all()
    db.session.rollback()
    charged = failed = 0
    for item_id in item_ids:
        claim = _claim_attempt(item_id, on)
        if claim is None:
            continue
        item, booking, cents, previous_attempt_on = claim
        provider = providers.provider(booking.payment_provider)
        key = f"retreat-{booking.reference}-installment-{item.id}-attempt-{item.attempts}"
        try:
            result = provider.charge_saved_card(booking, cents, kind="installment", key=key)
        except providers.CardDeclined as declined:
            failed += 1
            _attempt_failed(item.id, cents, declined.message)
            continue
        except providers.ProviderUnavailable:
            db.session.rollback()
            with unit_of_work():  # not the applicant's card: the attempt is given back (the same key next time)
                db.session.execute(sa.update(PaymentScheduleItem).where(PaymentScheduleItem.id == item.id).values(
                    attempts=PaymentScheduleItem.attempts - 1, last_attempt_on=previous_attempt_on))
            current_app.logger.warning("Installment of %s not charged: the provider is unavailable",
                                       booking.reference)
            failed += 1
            continue
        payment_received(booking.reference, kind="installment", amount_cents=cents,
                         provider=booking.payment_provider, provider_reference=result.provider_reference,
                         fee_cents=result.fee_cents, net_cents=result.net_cents,
                         actor="system (installment charge)")
        charged += 1
    return charged, failed


def _claim_attempt(item_id: int, on: date):
    """Take today's attempt at a part, atomically (of two runs, one wins): (item, booking, cents to charge, the
    day of the attempt before), or
    None when it was taken already, or the part is paid another way meanwhile (then marked paid)."""
    with unit_of_work():
        item = db.session.get(PaymentScheduleItem, item_id, populate_existing=True)
        previous = item.last_attempt_on
        taken = db.session.execute(
            sa.update(PaymentScheduleItem).where(
                PaymentScheduleItem.id == item_id, PaymentScheduleItem.status == "scheduled",
                sa.or_(PaymentScheduleItem.last_attempt_on.is_(None), PaymentScheduleItem.last_attempt_on < on))
            .values(attempts=PaymentScheduleItem.attempts + 1, last_attempt_on=on)
            .execution_options(synchronize_session=False))
        if taken.rowcount != 1:
            return None
        db.session.refresh(item)
        booking = db.session.get(Booking, item.booking_id, populate_existing=True)
        received = ledger.received_cents(booking.id)
        through = sum(part.amount_cents for part in plans.items_of(booking.id) if part.position <= item.position)
        cents = min(item.amount_cents, through - received, outstanding_cents(booking))
        if booking.status != "confirmed" or cents <= 0:
            # Paid by hand (or the booking moved on): nothing to charge; the attempt is not counted.
            item.attempts -= 1
            item.last_attempt_on = previous
            plans.settle(booking, received, None)
            return None
    return item, booking, cents, previous


def _attempt_failed(item_id: int, cents: int, message: str) -> None:
    """A declined charge: the applicant is emailed a link to pay by hand; the last retry gives the part to staff."""
    with unit_of_work():
        item = db.session.get(PaymentScheduleItem, item_id, populate_existing=True)
        booking = item.booking
        item.last_error = message[:500]
        final = item.attempts > INSTALLMENT_RETRY_DAYS
        if final:
            item.status = "failed"
            audit.record("booking.installment_failed", "booking", booking.reference,
                         {"amount": f"${cents / 100:,.2f}", "due_date": item.due_date.isoformat(),
                          "attempts": item.attempts}, actor="system (installment charge)")
        notify.enqueue(*emails.installment_charge_failed(
            booking, item, cents, manage_token(booking), message, retry_on=None if final else item.last_attempt_on
            + timedelta(days=1)))
