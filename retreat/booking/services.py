"""Booking's public front: what the pages, the JSON API, the staff console, payment events and the commands call.

Each name comes from the module of its purpose:

    requests      what an applicant asks for, checked (name, email, phone, pre-screen, dates, lodging)
    access        finding a booking: by reference, by manage link, afresh under a lock
    availability  seats left, and the cohort lock every seat change runs under (changing_cohort)
    hold_rules    the rules against one script holding every seat: limits, hold lengths, email confirmation
    holds         holding a seat, confirming the applicant's email, a coordinator releasing a hold
    payments      what is owed, starting a payment, money received, refunds decided
    cancellation  the policy's refund, cancelling, a booking refunded in full at the provider
    waitlist      joining a full cohort's waitlist, offering freed seats
    decisions     a clinician's decision applied to the bookings of a pre-screen
    fee_requests  a reduced fee asked for with a booking, and staff's decision (booking.fee_requests itself)
    jobs          what cron runs: expiry, balance reminders, balance charges

Every state change goes through booking.states.transition and every movement of money through
payments.ledger.record_payment, in one unit of work (core.transactions) that the entry point opens, or that the
service opens itself and the entry point's joins. Seats are counted and taken holding the cohort
(booking.availability.changing_cohort): a row lock on PostgreSQL, the database write lock on SQLite. Seats left =
capacity - confirmed - live holds, so a lapsed hold frees its seat at once; `flask bookings expire` only writes
down what already holds. Emails and refunds leave after the commit.
"""

from retreat.booking import (  # noqa: F401  (documents: the receipt attached to emails)
    decisions,  # noqa: F401  (listens to screening decisions)
    documents,
    superbills,
)
from retreat.booking.access import (
    Unauthorized,
    booking_by_manage_token,
    booking_by_reference,
    booking_for_applicant,
    manage_token,
    manage_token_hash,
)
from retreat.booking.availability import seats_left, seats_taken
from retreat.booking.cancellation import (
    CancellationQuote,
    cancel_booking,
    cancel_when_refunded_in_full,
    cancellation_quote,
)
from retreat.booking.creation import balance_due_date, payment_split
from retreat.booking.holds import CohortFull, Created, accept_policy, confirm_email, create_booking, release_hold
from retreat.booking.jobs import (
    charge_due_balances,
    charge_due_installments,
    expire_lapsed_holds,
    send_balance_reminders,
)
from retreat.booking.models import ACTIVE_STATUSES, PAID_STATUSES
from retreat.booking.payments import (
    OWING_STATUSES,
    PaymentOutcome,
    PaymentPage,
    left_to_pay_cents,
    next_payment,
    outstanding_cents,
    owed_cents,
    payment_page,
    payment_received,
    policy_first,
    start_payment,
)
from retreat.booking.requests import (
    APPLICANT_FIELDS,
    UNPRINTABLE,
    Applicant,
    ScreeningNotEligible,
    check_applicant,
    check_screening_allows_booking,
)
from retreat.booking.waitlist import Waiting, join_waitlist, offer_seats_of, release_waitlist, waitlist_position

__all__ = [
    "ACTIVE_STATUSES", "APPLICANT_FIELDS", "OWING_STATUSES", "PAID_STATUSES", "UNPRINTABLE",
    "Applicant", "CancellationQuote", "CohortFull", "Created", "PaymentOutcome", "PaymentPage", "ScreeningNotEligible",
    "Unauthorized", "Waiting", "accept_policy",
    "balance_due_date", "booking_by_manage_token", "booking_by_reference", "booking_for_applicant",
    "cancel_booking", "cancel_when_refunded_in_full", "cancellation_quote", "charge_due_balances",
    "charge_due_installments",
    "check_applicant", "check_screening_allows_booking", "confirm_email", "create_booking",
    "expire_lapsed_holds", "join_waitlist", "left_to_pay_cents", "manage_token", "manage_token_hash",
    "next_payment", "offer_seats_of", "outstanding_cents", "owed_cents", "payment_page", "payment_received",
    "payment_split", "policy_first", "release_hold", "release_waitlist", "seats_left", "seats_taken",
    "send_balance_reminders", "start_payment", "waitlist_position",
]
