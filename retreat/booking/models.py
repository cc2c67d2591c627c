import re
import secrets
from datetime import date, datetime

import sqlalchemy as sa
from sqlalchemy.orm import Mapped, mapped_column, relationship

from retreat.catalog.models import Cohort
from retreat.core.clock import now
from retreat.core.types import UTCDateTime, one_of
from retreat.extensions import db
from retreat.pricing.rules import LODGING_KINDS

# How the applicant pays (API.md "payment_plan"): the deposit now and the balance when due, the whole price now, or
# the deposit now and the balance in monthly parts charged to the card saved with consent.
PAYMENT_PLANS = ("deposit", "full", "installments")
BOOKING_STATUSES = ("held", "pending_review", "confirmed", "paid_in_full", "cancelled", "declined", "expired")
# A seat is taken by these outright, and by HOLDING_STATUSES until their hold expires.
SEAT_TAKING_STATUSES = ("confirmed", "paid_in_full")
HOLDING_STATUSES = ("held", "pending_review")
# Holding a seat or having one: what the bookings console and a cohort's applicants count.
ACTIVE_STATUSES = ("held", "pending_review", "confirmed", "paid_in_full")
PAID_STATUSES = ("confirmed", "paid_in_full")


class Booking(db.Model):
    """One applicant's seat in a cohort, with the price frozen when it was made."""

    __tablename__ = "booking"
    __table_args__ = (
        sa.CheckConstraint(one_of("status", BOOKING_STATUSES), name="status"),
        sa.CheckConstraint(one_of("lodging", LODGING_KINDS), name="lodging"),
        sa.CheckConstraint("total_cents >= 0 AND deposit_cents >= 0 AND balance_cents >= 0", name="money"),
        sa.CheckConstraint("discount_cents >= 0 AND reduction_cents >= 0", name="price_off"),
        sa.CheckConstraint(one_of("payment_plan", PAYMENT_PLANS), name="payment_plan"),
        sa.Index("ix_booking_cohort_status", "cohort_id", "status"),
        sa.Index("ix_booking_applicant_email_key", "applicant_email_key"),
        sa.Index("ix_booking_applicant_phone_key", "applicant_phone_key"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    reference: Mapped[str] = mapped_column(sa.String(20), unique=True)
    cohort_id: Mapped[int] = mapped_column(sa.ForeignKey("cohort.id"))
    status: Mapped[str] = mapped_column(sa.String(20))
    lodging: Mapped[str] = mapped_column(sa.String(10))
    applicant_first_name: Mapped[str] = mapped_column(sa.String(100))
    applicant_last_name: Mapped[str] = mapped_column(sa.String(100))
    applicant_email: Mapped[str] = mapped_column(sa.String(254))
    applicant_phone: Mapped[str] = mapped_column(sa.String(40))
    # The email address case-folded and the phone number in E.164, to count one applicant's holds however typed.
    applicant_email_key: Mapped[str | None] = mapped_column(sa.String(254))
    applicant_phone_key: Mapped[str | None] = mapped_column(sa.String(40))
    # The address the booking was made from (the real client's behind a configured proxy), to limit its holds.
    client_address: Mapped[str | None] = mapped_column(sa.String(64))
    # When the applicant opened the link emailed to them: only then is a long hold (bank transfer, review) kept.
    email_confirmed_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    price_list_version: Mapped[int]
    # What is to be paid: the list price of the program less `discount_cents` (a discount code, frozen with its
    # code as typed) and less `reduction_cents` (a reduced fee granted by staff on request).
    total_cents: Mapped[int]
    discount_cents: Mapped[int] = mapped_column(default=0, server_default="0")
    discount_code: Mapped[str | None] = mapped_column(sa.String(40))
    reduction_cents: Mapped[int] = mapped_column(default=0, server_default="0")
    payment_plan: Mapped[str] = mapped_column(sa.String(12), default="deposit", server_default="deposit")
    deposit_cents: Mapped[int]
    balance_cents: Mapped[int]
    # None when there is no balance: a cohort close to its start takes the whole price at booking.
    balance_due_date: Mapped[date | None]
    hold_expires_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    # The pre-screen this booking was made with (None only for seeded demo bookings).
    screening_id: Mapped[int | None] = mapped_column(sa.ForeignKey("screening.id"), index=True)
    # sha256 of the applicant's private manage link secret; the secret itself is never stored.
    manage_token_hash: Mapped[str | None] = mapped_column(sa.String(64), unique=True)
    # How the applicant pays: stripe, offline (bank transfer) or demo (development only).
    payment_provider: Mapped[str] = mapped_column(sa.String(20), default="demo")
    # With the applicant's consent, the card of the deposit is kept at Stripe to charge the balance when due.
    save_card_consent: Mapped[bool] = mapped_column(default=False)
    stripe_customer_id: Mapped[str | None] = mapped_column(sa.String(100))
    stripe_payment_method_id: Mapped[str | None] = mapped_column(sa.String(100))
    confirmed_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    cancelled_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    # The cancellation and refund policy (booking.policy.POLICY_VERSION) the applicant accepted, and when; None
    # only for bookings made before the policy was asked for (and seeded demo bookings).
    policy_version: Mapped[str | None] = mapped_column(sa.String(40))
    policy_accepted_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    balance_reminders_sent: Mapped[list[int]] = mapped_column(sa.JSON, default=list)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=now)
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime, default=now, onupdate=now)

    cohort: Mapped[Cohort] = relationship()

    @property
    def list_price_cents(self) -> int:
        """The program's price from the frozen price list, before any discount or reduction."""
        return self.total_cents + self.discount_cents + self.reduction_cents

    @property
    def applicant_name(self) -> str:
        return f"{self.applicant_first_name} {self.applicant_last_name}".strip()

    def __repr__(self) -> str:
        return f"<Booking {self.reference} {self.status}>"


# One part of a booking's payment plan (booking.plans): the deposit, or an installment charged to the saved card
# when due. scheduled: not yet paid (retried after a failed charge); paid; failed: retries used up, staff follow up;
# cancelled: the booking ended before it was due.
SCHEDULE_KINDS = ("deposit", "balance", "installment")
SCHEDULE_STATUSES = ("scheduled", "paid", "failed", "cancelled")


class PaymentScheduleItem(db.Model):
    """A dated part of what a booking pays, written when an installment plan is chosen. The charge job
    (booking.jobs.charge_due_installments) charges each installment on its due date and retries a failed one."""

    __tablename__ = "payment_schedule_item"
    __table_args__ = (
        sa.CheckConstraint(one_of("kind", SCHEDULE_KINDS), name="kind"),
        sa.CheckConstraint(one_of("status", SCHEDULE_STATUSES), name="status"),
        sa.CheckConstraint("amount_cents > 0", name="amount"),
        sa.UniqueConstraint("booking_id", "position", name="uq_payment_schedule_item_position"),
        sa.Index("ix_payment_schedule_item_due", "status", "due_date"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    booking_id: Mapped[int] = mapped_column(sa.ForeignKey("booking.id"), index=True)
    position: Mapped[int]  # 0 the deposit, then the installments in order
    kind: Mapped[str] = mapped_column(sa.String(12))
    due_date: Mapped[date]
    amount_cents: Mapped[int]
    status: Mapped[str] = mapped_column(sa.String(10), default="scheduled")
    attempts: Mapped[int] = mapped_column(default=0)
    last_attempt_on: Mapped[date | None]  # the day of the last charge attempt (one a day)
    last_error: Mapped[str | None] = mapped_column(sa.String(500))
    reminded_on: Mapped[date | None]  # the day its reminder was emailed
    payment_id: Mapped[int | None] = mapped_column(sa.ForeignKey("payment.id"))

    booking: Mapped[Booking] = relationship()


WAITLIST_STATUSES = ("waiting", "offered", "booked", "lapsed", "left")


class WaitlistEntry(db.Model):
    """An applicant waiting for a seat in a full cohort. When a seat frees, the first one waiting is offered it:
    a booking held for them (24 hours by default) that they pay from the link in the offer email."""

    __tablename__ = "waitlist_entry"
    __table_args__ = (
        sa.CheckConstraint(one_of("status", WAITLIST_STATUSES), name="status"),
        sa.CheckConstraint(one_of("lodging", LODGING_KINDS), name="lodging"),
        sa.Index("ix_waitlist_entry_queue", "cohort_id", "status", "created_at"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    cohort_id: Mapped[int] = mapped_column(sa.ForeignKey("cohort.id"))
    screening_id: Mapped[int] = mapped_column(sa.ForeignKey("screening.id"))
    status: Mapped[str] = mapped_column(sa.String(10), default="waiting")
    lodging: Mapped[str] = mapped_column(sa.String(10))
    applicant_first_name: Mapped[str] = mapped_column(sa.String(100))
    applicant_last_name: Mapped[str] = mapped_column(sa.String(100))
    applicant_email: Mapped[str] = mapped_column(sa.String(254))
    applicant_phone: Mapped[str] = mapped_column(sa.String(40))
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=now)
    offered_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    booking_id: Mapped[int | None] = mapped_column(sa.ForeignKey("booking.id"))

    cohort: Mapped[Cohort] = relationship()
    booking: Mapped[Booking | None] = relationship()


FEE_REQUEST_STATUSES = ("requested", "granted", "declined")


class FeeRequest(db.Model):
    """An applicant's request for a reduced fee, made with their booking (booking.fee_requests): the booking is held
    as for a review and cannot be paid until a coordinator or admin grants a price (`granted_total_cents`, what is
    then to be paid) or declines. The reason is the applicant's own words (no health data is asked for), shown to
    coordinators and admins only."""

    __tablename__ = "fee_request"
    __table_args__ = (
        sa.CheckConstraint(one_of("status", FEE_REQUEST_STATUSES), name="status"),
        sa.CheckConstraint("granted_total_cents IS NULL OR granted_total_cents >= 0", name="granted_total"),
        sa.Index("ix_fee_request_status", "status"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    booking_id: Mapped[int] = mapped_column(sa.ForeignKey("booking.id"), unique=True)
    status: Mapped[str] = mapped_column(sa.String(10), default="requested")
    reason: Mapped[str] = mapped_column(sa.String(500))
    # The price to pay before the request (list price less any discount), and the one granted.
    requested_from_cents: Mapped[int]
    granted_total_cents: Mapped[int | None]
    decided_by_id: Mapped[int | None] = mapped_column(sa.ForeignKey("staff_user.id"))
    decision_reason: Mapped[str | None] = mapped_column(sa.String(500))
    requested_at: Mapped[datetime] = mapped_column(UTCDateTime, default=now)
    decided_at: Mapped[datetime | None] = mapped_column(UTCDateTime)

    booking: Mapped[Booking] = relationship()


REFERENCE_ALPHABET = "ABCDEFGHJKMNPQRSTVWXYZ23456789"  # no 0/O, 1/I/L, U: easy to read out on the phone


# What a reference may look like when someone types or sends one (old ones and other formats included); anything
# else is no reference and is not looked up (PostgreSQL refuses a NUL in text outright).
PLAUSIBLE_REFERENCE = re.compile(r"[A-Za-z0-9-]{1,20}")


def is_plausible_reference(value: object) -> bool:
    return isinstance(value, str) and PLAUSIBLE_REFERENCE.fullmatch(value) is not None


def new_booking_reference() -> str:
    """A short reference like `RT-7K3M9Q` that an applicant can read to the clinic."""
    return "RT-" + "".join(secrets.choice(REFERENCE_ALPHABET) for _ in range(6))
