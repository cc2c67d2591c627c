"""The waitlist of a full cohort: joining it, and offering each seat that frees to the first one waiting (a
booking held for them, paid from the emailed link). Everything here runs in a unit of work holding the cohort."""

from dataclasses import dataclass
from datetime import timedelta

import sqlalchemy as sa
from flask import current_app
from sqlalchemy.orm import joinedload

from retreat.booking import availability, emails, policy
from retreat.booking.creation import new_booking
from retreat.booking.models import HOLDING_STATUSES, SEAT_TAKING_STATUSES, Booking, WaitlistEntry
from retreat.booking.requests import Applicant, ask_for_review, checked_seat_request, initial_status
from retreat.catalog.models import Cohort
from retreat.core import audit
from retreat.core.clock import now, today
from retreat.core.errors import DomainError, ValidationFailed
from retreat.extensions import db
from retreat.notify import services as notify
from retreat.payments import providers
from retreat.screening.models import Screening


@dataclass(frozen=True)
class Waiting:
    entry: WaitlistEntry
    position: int


def waitlist_position(entry: WaitlistEntry) -> int:
    return db.session.scalar(
        sa.select(sa.func.count()).select_from(WaitlistEntry).where(
            WaitlistEntry.cohort_id == entry.cohort_id, WaitlistEntry.status == "waiting",
            sa.or_(WaitlistEntry.created_at < entry.created_at,
                   sa.and_(WaitlistEntry.created_at == entry.created_at, WaitlistEntry.id <= entry.id)))
    )


def join_waitlist(*, cohort_id: object, screening_token: object, applicant: object,
                  lodging: object = None) -> Waiting:
    """Put an applicant with a usable pre-screen on a full cohort's waitlist (once per pre-screen and
    cohort). The pre-screen stays unused until a seat is offered."""
    errors: dict[str, list[str]] = {}
    seat = checked_seat_request(cohort_id, screening_token, lodging, applicant, errors, default_lodging=True)
    if errors:
        raise ValidationFailed(errors)
    with availability.changing_cohort(seat.cohort.id) as cohort:
        entry = db.session.scalar(sa.select(WaitlistEntry).where(
            WaitlistEntry.cohort_id == cohort.id, WaitlistEntry.screening_id == seat.screening.id,
            WaitlistEntry.status == "waiting"))
        if entry is None:  # joining twice keeps the first place in line
            if availability.seats_left(cohort) > 0:
                raise DomainError("This cohort has seats free: book one instead of joining the waitlist.",
                                  code="seats_available", status=409)
            applicant = seat.applicant
            entry = WaitlistEntry(
                cohort_id=cohort.id, screening_id=seat.screening.id, lodging=seat.lodging,
                applicant_first_name=applicant.first_name, applicant_last_name=applicant.last_name,
                applicant_email=applicant.email, applicant_phone=applicant.phone, created_at=now())
            db.session.add(entry)
            db.session.flush()
            audit.record("waitlist.join", "cohort", cohort.id, {"waitlist_entry_id": entry.id}, actor="applicant")
            notify.enqueue(*emails.waitlist_joined(entry, waitlist_position(entry)))
    return Waiting(entry, waitlist_position(entry))


def offer_freed_seats(cohort: Cohort) -> int:
    """Offer each free seat of a cohort to the first applicant waiting: a booking held for them for
    HOLD_FOR_WAITLIST_OFFER, paid from the emailed link. In the caller's unit of work, which holds the cohort.
    Returns how many seats were offered."""
    offered = 0
    if cohort.status != "open" or cohort.start_date <= today():
        return offered
    free = availability.seats_left(cohort)
    while free > 0:
        entry = db.session.scalar(
            sa.select(WaitlistEntry).where(WaitlistEntry.cohort_id == cohort.id, WaitlistEntry.status == "waiting")
            .order_by(WaitlistEntry.created_at, WaitlistEntry.id).limit(1))
        if entry is None:
            break
        screening = db.session.get(Screening, entry.screening_id)
        if screening.token_used_at is not None or screening.expires_at <= now() or \
                screening.outcome in ("ineligible", "crisis") or screening.review_status == "declined":
            entry.status = "lapsed"
            continue
        applicant = Applicant(entry.applicant_first_name, entry.applicant_last_name, entry.applicant_email,
                              entry.applicant_phone)
        status = initial_status(screening)
        hold = now() + max(policy.HOLD_FOR_WAITLIST_OFFER,
                           timedelta(hours=current_app.config["REVIEW_HOLD_HOURS"]) if status == "pending_review"
                           else policy.HOLD_FOR_WAITLIST_OFFER)
        try:
            booking, token = new_booking(cohort, screening, entry.lodging, applicant, status=status,
                                         provider_name=providers.configured_provider_name(), hold_expires_at=hold,
                                         save_card=False)
        except DomainError:  # no bookable price now (custom quote): the clinic must talk to them
            entry.status = "lapsed"
            continue
        screening.token_used_at = now()
        if status == "pending_review":
            ask_for_review(screening)
        entry.status = "offered"
        entry.offered_at = now()
        entry.booking_id = booking.id
        audit.record("waitlist.offer", "booking", booking.reference,
                     {"waitlist_entry_id": entry.id, "to": status}, actor="system (waitlist)")
        notify.enqueue(*emails.waitlist_offer(booking, token))
        free -= 1
        offered += 1
    return offered


def release_waitlist(cohort_id: int) -> int:
    """Tell everyone still waiting for a cancelled cohort that it will not run, and take them off its waitlist
    (their pre-screens stay usable for other dates), in the caller's unit of work. Returns how many were told."""
    entries = db.session.scalars(
        sa.select(WaitlistEntry).where(WaitlistEntry.cohort_id == cohort_id, WaitlistEntry.status == "waiting")
    ).all()
    for entry in entries:
        entry.status = "left"
        notify.enqueue(*emails.waitlist_cohort_cancelled(entry))
    if entries:
        audit.record("waitlist.release", "cohort", cohort_id, {"count": len(entries)}, actor="system (waitlist)")
    return len(entries)


def offer_seats_of(cohort_id: int) -> int:
    """Offer a cohort's free seats to its waitlist (after capacity was raised), in a unit of work holding the
    cohort (the caller's, or one of its own). Returns how many seats were offered."""
    with availability.changing_cohort(cohort_id) as cohort:
        return offer_freed_seats(cohort)


def lapse_waitlist_offer(booking: Booking) -> None:
    entry = db.session.scalar(sa.select(WaitlistEntry).where(WaitlistEntry.booking_id == booking.id))
    if entry is not None and entry.status == "offered":
        entry.status = "lapsed"


# --- What coordinators see ---------------------------------------------------------------------------------------

WAITLIST_STATE_LABELS = {
    "waiting": "Waiting",
    "offered": "Offered: seat held until they pay",
    "booked": "Booked",
    "lapsed": "Offer lapsed",
    "left": "Taken off (dates cancelled)",
}


@dataclass(frozen=True)
class WaitlistRow:
    """One applicant on a cohort's waitlist as the coordinator sees it: who, their place or their offer."""

    entry: WaitlistEntry
    state: str  # a key of WAITLIST_STATE_LABELS, read from the entry and its offer's booking
    position: int | None = None  # in line, for those waiting

    @property
    def state_label(self) -> str:
        return WAITLIST_STATE_LABELS[self.state]

    @property
    def offered_until(self):
        """When the seat offered stops being held (the offer's booking's hold), while the offer is open."""
        booking = self.entry.booking
        return booking.hold_expires_at if self.state == "offered" and booking is not None else None


def _state(entry: WaitlistEntry) -> str:
    if entry.status != "offered" or entry.booking is None:
        return entry.status
    booking = entry.booking
    if booking.status in SEAT_TAKING_STATUSES:
        return "booked"
    if booking.status in HOLDING_STATUSES and booking.hold_expires_at is not None and booking.hold_expires_at > now():
        return "offered"
    return "lapsed"


def cohort_waitlist(cohort_id: int) -> list[WaitlistRow]:
    """Those waiting, in line (position 1 is offered the next seat), then the offers made, the latest first."""
    entries = db.session.scalars(
        sa.select(WaitlistEntry).where(WaitlistEntry.cohort_id == cohort_id)
        .options(joinedload(WaitlistEntry.booking))
        .order_by(WaitlistEntry.created_at, WaitlistEntry.id)).all()
    waiting = [entry for entry in entries if entry.status == "waiting"]
    rows = [WaitlistRow(entry, "waiting", position) for position, entry in enumerate(waiting, start=1)]
    others = sorted((entry for entry in entries if entry.status != "waiting"),
                    key=lambda entry: (entry.offered_at or entry.created_at, entry.id), reverse=True)
    return rows + [WaitlistRow(entry, _state(entry)) for entry in others]


@dataclass(frozen=True)
class WaitlistCount:
    waiting: int = 0
    offered: int = 0  # offers still open: the seat held for them, not paid yet


def waitlist_counts(cohort_ids: list[int]) -> dict[int, WaitlistCount]:
    """Per cohort: how many wait, and how many offers are open (for the dashboard), in one query."""
    if not cohort_ids:
        return {}
    open_offer = sa.and_(WaitlistEntry.status == "offered", Booking.status.in_(HOLDING_STATUSES),
                         Booking.hold_expires_at > now())
    rows = db.session.execute(
        sa.select(WaitlistEntry.cohort_id,
                  sa.func.coalesce(sa.func.sum(sa.case((WaitlistEntry.status == "waiting", 1), else_=0)), 0),
                  sa.func.coalesce(sa.func.sum(sa.case((open_offer, 1), else_=0)), 0))
        .outerjoin(Booking, Booking.id == WaitlistEntry.booking_id)
        .where(WaitlistEntry.cohort_id.in_(cohort_ids), WaitlistEntry.status.in_(("waiting", "offered")))
        .group_by(WaitlistEntry.cohort_id)).all()
    return {cohort_id: WaitlistCount(int(waiting), int(offered)) for cohort_id, waiting, offered in rows}
