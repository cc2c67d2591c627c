from datetime import date, datetime

import sqlalchemy as sa
from sqlalchemy.orm import Mapped, mapped_column, relationship

from retreat.core.clock import now
from retreat.core.types import UTCDateTime, one_of
from retreat.extensions import db
from retreat.pricing.rules import KETAMINE_ROUTES, THERAPY_MODALITIES

COHORT_STATUSES = ("open", "closed", "cancelled")


class Program(db.Model):
    __tablename__ = "program"
    __table_args__ = (
        sa.CheckConstraint(one_of("ketamine_route", KETAMINE_ROUTES), name="ketamine_route"),
        sa.CheckConstraint(one_of("therapy_modality", THERAPY_MODALITIES), name="therapy_modality"),
        sa.CheckConstraint("duration_days > 0", name="duration_positive"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    slug: Mapped[str] = mapped_column(sa.String(80), unique=True)
    name: Mapped[str] = mapped_column(sa.String(160))
    summary: Mapped[str] = mapped_column(sa.String(400))
    description: Mapped[str] = mapped_column(sa.Text, default="")
    location: Mapped[str] = mapped_column(sa.String(160), default="")
    duration_days: Mapped[int]
    ketamine_route: Mapped[str] = mapped_column(sa.String(20))
    dosing_sessions: Mapped[int]
    therapy_modality: Mapped[str] = mapped_column(sa.String(20))
    integration_sessions: Mapped[int]
    intensive_sessions: Mapped[int]
    # The lodging kinds this program offers, a subset of LODGING_KINDS in display order.
    lodging_options: Mapped[list[str]] = mapped_column(sa.JSON)
    published: Mapped[bool] = mapped_column(default=False)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=now)
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime, default=now, onupdate=now)

    cohorts: Mapped[list["Cohort"]] = relationship(back_populates="program", order_by="Cohort.start_date")

    def __repr__(self) -> str:
        return f"<Program {self.slug}>"


class Cohort(db.Model):
    """A dated run of a program with a fixed number of seats."""

    __tablename__ = "cohort"
    __table_args__ = (
        sa.CheckConstraint("capacity >= 0", name="capacity_not_negative"),
        sa.CheckConstraint("end_date >= start_date", name="dates_in_order"),
        sa.CheckConstraint(one_of("status", COHORT_STATUSES), name="status"),
        sa.Index("ix_cohort_program_start", "program_id", "start_date"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    program_id: Mapped[int] = mapped_column(sa.ForeignKey("program.id"))
    start_date: Mapped[date]
    end_date: Mapped[date]
    capacity: Mapped[int]
    status: Mapped[str] = mapped_column(sa.String(20), default="open")
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=now)

    program: Mapped[Program] = relationship(back_populates="cohorts")

    def __repr__(self) -> str:
        return f"<Cohort {self.id} {self.start_date}>"


# The programs a discount code is limited to (none: every program).
discount_code_program = sa.Table(
    "discount_code_program", db.metadata,
    sa.Column("discount_code_id", sa.ForeignKey("discount_code.id"), primary_key=True),
    sa.Column("program_id", sa.ForeignKey("program.id"), primary_key=True),
)


class DiscountCode(db.Model):
    """A code an applicant types for a price off: a whole percentage or a fixed amount (exactly one), limited to
    some programs or not, valid between two clinic-calendar dates (inclusive, either open), with an optional
    maximum number of uses. `code` is stored upper-case, so it is unique however it is typed. `uses` counts the
    bookings holding a use; a use is taken atomically (catalog.discounts.take_use) and given back when a booking
    ends unpaid."""

    __tablename__ = "discount_code"
    __table_args__ = (
        sa.CheckConstraint("(percent_off IS NULL) <> (amount_off_cents IS NULL)", name="one_kind"),
        sa.CheckConstraint("percent_off IS NULL OR (percent_off >= 1 AND percent_off <= 100)", name="percent"),
        sa.CheckConstraint("amount_off_cents IS NULL OR amount_off_cents > 0", name="amount"),
        sa.CheckConstraint("max_uses IS NULL OR max_uses > 0", name="max_uses"),
        sa.CheckConstraint("uses >= 0", name="uses"),
        sa.CheckConstraint("valid_from IS NULL OR valid_until IS NULL OR valid_from <= valid_until",
                           name="dates_in_order"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    code: Mapped[str] = mapped_column(sa.String(40), unique=True)
    percent_off: Mapped[int | None]
    amount_off_cents: Mapped[int | None]
    valid_from: Mapped[date | None]
    valid_until: Mapped[date | None]
    max_uses: Mapped[int | None]
    uses: Mapped[int] = mapped_column(default=0, server_default="0")
    active: Mapped[bool] = mapped_column(default=True)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=now)
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime, default=now, onupdate=now)

    programs: Mapped[list[Program]] = relationship(secondary=discount_code_program, order_by=Program.name)

    def __repr__(self) -> str:
        return f"<DiscountCode {self.code}>"


class DiscountUse(db.Model):
    """A booking that took a use of a code; `returned_at` once it gave the use back (it ended unpaid)."""

    __tablename__ = "discount_use"

    id: Mapped[int] = mapped_column(primary_key=True)
    discount_code_id: Mapped[int] = mapped_column(sa.ForeignKey("discount_code.id"), index=True)
    booking_id: Mapped[int] = mapped_column(sa.ForeignKey("booking.id"), unique=True)
    booking_reference: Mapped[str] = mapped_column(sa.String(20))
    discount_cents: Mapped[int]
    used_at: Mapped[datetime] = mapped_column(UTCDateTime, default=now)
    returned_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
