"""Holding a seat: a booking made from a usable pre-screen (held while the deposit is paid, or while a clinician
reviews), the applicant's email confirmation that keeps a long hold, and a coordinator releasing a hold. Each in
one unit of work holding the cohort, where seats are counted and taken (booking.availability); the rules against
abuse (limits, hold lengths) are booking.hold_rules."""

from dataclasses import dataclass

import sqlalchemy as sa

from retreat.booking import availability, emails, fee_requests, hold_rules, plans
from retreat.booking.access import booking_by_reference, fresh
from retreat.booking.creation import new_booking, use_screening_token
from retreat.booking.models import HOLDING_STATUSES, Booking, is_plausible_reference
from retreat.booking.requests import (
    ask_for_review,
    check_policy_accepted,
    check_provider,
    checked_seat_request,
    collect,
    initial_status,
)
from retreat.booking.states import transition
from retreat.booking.waitlist import lapse_waitlist_offer, offer_freed_seats
from retreat.catalog import discounts
from retreat.catalog.models import Cohort
from retreat.core import audit
from retreat.core.clock import now
from retreat.core.errors import DomainError, NotFound, ValidationFailed
from retreat.core.transactions import unit_of_work
from retreat.extensions import db
from retreat.notify import services as notify
from retreat.screening.models import Screening


class CohortFull(DomainError):
    status = 409
    code = "cohort_full"


@dataclass(frozen=True)
class Created:
    booking: Booking
    manage_token: str
    fee_requested: bool = False  # a reduced fee was asked for: nothing can be paid until it is decided


def create_booking(*, cohort_id: object, screening_token: object, lodging: object, applicant: object,
                   policy_accepted: object = None, payment_provider: object = None, save_card: bool = False,
                   client_address: str | None = None, promo_code: object = None,
                   payment_plan: object = None, fee_request_reason: object = None) -> Created:
    """Hold a seat for an applicant with a usable pre-screen: `held` while the deposit is paid, or
    `pending_review` while a clinician decides. A full cohort raises CohortFull and holds nothing; so do the hold
    limits (TooManyHolds, 429). The applicant must have accepted the cancellation and refund policy
    (`policy_accepted` exactly True): the booking records its version and when. A hold longer than the card hold
    starts as one and is kept once the applicant confirms their email address (confirm_email); a review request
    reaches the clinicians only then. A discount code (`promo_code`; blank is none) takes its discount off the
    price and one of its uses, atomically; a bad or used-up code is ValidationFailed naming `promo_code`, and
    nothing is held. With `fee_request_reason` (not None) the applicant asks for a reduced fee
    (booking.fee_requests): the booking is held as for a review and not payable until staff decide."""
    errors: dict[str, list[str]] = {}
    seat = checked_seat_request(cohort_id, screening_token, lodging, applicant, errors)
    provider_name = collect(errors, check_provider, payment_provider)
    policy_version = collect(errors, check_policy_accepted, policy_accepted)
    discount = None
    if promo_code is not None and (not isinstance(promo_code, str) or promo_code.strip()):
        # Named with the other fields' mistakes, once the dates (and so the program) are known.
        cohort = seat.cohort if seat is not None else None if "cohort_id" in errors else \
            db.session.get(Cohort, cohort_id)
        if cohort is not None:
            discount = collect(errors, discounts.check_code, promo_code, cohort.program_id)
    plan = collect(errors, plans.check_plan_name, payment_plan)
    if fee_request_reason is not None:
        collect(errors, fee_requests.check_reason, fee_request_reason)
        if seat is not None:
            collect(errors, fee_requests.check_dates_allow, seat.cohort)
    if errors:
        raise ValidationFailed(errors)
    # A cohort full in this request's own reading is refused at once, without waiting for the write lock: a
    # refusal true when it was read is a true answer (the seats are counted again under the lock below before
    # any is taken, so this can never let one more in). In a rush most applicants are turned away, and on SQLite
    # each would otherwise queue for the database's one write lock only to read that the cohort is full.
    if availability.seats_left(seat.cohort) <= 0:
        raise CohortFull("This cohort is full. You can join its waitlist, or choose other dates.")
    with availability.changing_cohort(seat.cohort.id) as cohort:
        if cohort.status != "open":
            raise DomainError("This cohort is not taking bookings.", code="cohort_closed", status=409)
        hold_rules.check_hold_limits(cohort.id, seat.applicant.email, seat.applicant.phone, client_address)
        if availability.seats_left(cohort) <= 0:
            raise CohortFull("This cohort is full. You can join its waitlist, or choose other dates.")
        use_screening_token(seat.screening)
        status = initial_status(seat.screening)
        booking, token = new_booking(cohort, seat.screening, seat.lodging, seat.applicant, status=status,
                                      provider_name=provider_name,
                                      hold_expires_at=hold_rules.initial_hold_until(status, provider_name),
                                      save_card=save_card, client_address=client_address,
                                      policy_version=policy_version, discount=discount, payment_plan=plan)
        audit.record(f"booking.{status}", "booking", booking.reference,
                     {"to": status, "cohort_id": cohort.id, "total_cents": booking.total_cents,
                      **({"discount_code": booking.discount_code, "discount_cents": booking.discount_cents}
                         if discount is not None else {})}, actor="applicant")
        fee_requested = fee_request_reason is not None
        if fee_requested:
            fee_requests.add_request(booking, fee_request_reason)
        confirm = hold_rules.needs_email_confirmation(booking)
        if status == "pending_review" and not confirm:
            ask_for_review(seat.screening)
        notify.enqueue(*emails.booking_held(booking, token, confirm=confirm, fee_requested=fee_requested))
    return Created(booking, token, fee_requested)


def accept_policy(booking: Booking, accepted: object) -> Booking:
    """The applicant accepts the cancellation and refund policy before paying, where the booking was made without
    it (a seat offered from the waitlist): the booking records the version and when, once. In its own unit of
    work; accepting again changes nothing."""
    version = check_policy_accepted(accepted)
    with unit_of_work():
        booking = fresh(booking)
        if booking.policy_version is None:
            booking.policy_version = version
            booking.policy_accepted_at = now()
            audit.record("booking.policy_accepted", "booking", booking.reference, {"version": version},
                         actor="applicant")
    return booking


def confirm_email(reference: object, token: object) -> Booking:
    """The applicant opened the link emailed to them: their address is real. A long hold (review, bank transfer)
    is kept for its full time from when it was made, and a review request reaches the clinicians. A hold that
    lapsed before the link was opened is taken again only if a seat is still free. Opening it again changes
    nothing. An unknown or wrong link is NotFound."""
    booking = None
    if is_plausible_reference(reference):
        booking = db.session.scalar(sa.select(Booking).where(Booking.reference == reference))
    if booking is None or not hold_rules.is_email_confirmation_token(booking, token):
        raise NotFound("This confirmation link is not valid. Please use the link in our latest email, or contact "
                       "the clinic.")
    with availability.changing_cohort(booking.cohort_id) as cohort:
        booking = fresh(booking)
        if booking.email_confirmed_at is not None:
            return booking
        booking.email_confirmed_at = now()
        audit.record("booking.email_confirmed", "booking", booking.reference, actor="applicant")
        if booking.status not in HOLDING_STATUSES:
            return booking
        lapsed = booking.hold_expires_at is None or booking.hold_expires_at <= now()
        if lapsed and (cohort.status != "open" or availability.seats_left(cohort) <= 0):
            return booking
        extended = hold_rules.confirmed_hold_until(booking)
        if extended > (booking.hold_expires_at or now()):
            audit.record("booking.hold_extended", "booking", booking.reference,
                         {"until": extended.isoformat(), "reason": "email address confirmed"}, actor="applicant")
            booking.hold_expires_at = extended
        if booking.status == "pending_review":
            ask_for_review(db.session.get(Screening, booking.screening_id))
    return booking


def release_hold(reference: str, *, cohort_id: int, staff) -> Booking:
    """A coordinator releases an unpaid hold (say, one made by a script): the seat is freed at once and offered
    to the waitlist, and the applicant is told. Audited. Only a live hold of that cohort can be released."""
    booking = booking_by_reference(reference)
    if booking.cohort_id != cohort_id:
        raise NotFound("There is no booking with this reference on these dates.")
    with availability.changing_cohort(booking.cohort_id) as cohort:
        booking = fresh(booking)
        if booking.status not in HOLDING_STATUSES or booking.hold_expires_at is None or \
                booking.hold_expires_at <= now():
            raise DomainError("This booking is not holding a seat now, so there is nothing to release.",
                              code="not_a_live_hold", status=409)
        audit.record("booking.hold_released", "booking", booking.reference,
                     {"cohort_id": cohort.id, "status": booking.status}, actor=staff)
        transition(booking, "expired", reason="hold released by staff", actor=staff)
        lapse_waitlist_offer(booking)
        notify.enqueue(*emails.hold_released(booking))
        offer_freed_seats(cohort)
    return booking
