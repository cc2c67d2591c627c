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
