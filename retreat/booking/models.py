import secrets
from datetime import date, datetime

import sqlalchemy as sa
from sqlalchemy.orm import Mapped, mapped_column, relationship

from retreat.catalog.models import Cohort, _one_of
from retreat.core.clock import now
from retreat.core.types import UTCDateTime
from retreat.extensions import db
from retreat.pricing.rules import LODGING_KINDS

BOOKING_STATUSES = ("held", "pending_review", "confirmed", "paid_in_full", "cancelled", "declined", "expired")
# A seat is taken by these outright, and by HOLDING_STATUSES until their hold expires.
SEAT_TAKING_STATUSES = ("confirmed", "paid_in_full")
HOLDING_STATUSES = ("held", "pending_review")


class Booking(db.Model):
    """One applicant's seat in a cohort, with the price frozen when it was made."""

    __tablename__ = "booking"
    __table_args__ = (
        sa.CheckConstraint(_one_of("status", BOOKING_STATUSES), name="status"),
        sa.CheckConstraint(_one_of("lodging", LODGING_KINDS), name="lodging"),
        sa.CheckConstraint("total_cents >= 0 AND deposit_cents >= 0 AND balance_cents >= 0", name="money"),
        sa.Index("ix_booking_cohort_status", "cohort_id", "status"),
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
    price_list_version: Mapped[int]
    total_cents: Mapped[int]
    deposit_cents: Mapped[int]
    balance_cents: Mapped[int]
    balance_due_date: Mapped[date]
    hold_expires_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=now)
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime, default=now, onupdate=now)

    cohort: Mapped[Cohort] = relationship()

    def __repr__(self) -> str:
        return f"<Booking {self.reference} {self.status}>"


REFERENCE_ALPHABET = "ABCDEFGHJKMNPQRSTVWXYZ23456789"  # no 0/O, 1/I/L, U: easy to read out on the phone


def new_booking_reference() -> str:
    """A short reference like `RT-7K3M9Q` that an applicant can read to the clinic."""
    return "RT-" + "".join(secrets.choice(REFERENCE_ALPHABET) for _ in range(6))
