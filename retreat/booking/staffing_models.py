"""Who works a cohort: staff accounts assigned to it with a cohort role (booking.staffing)."""

from datetime import datetime

import sqlalchemy as sa
from sqlalchemy.orm import Mapped, mapped_column, relationship

from retreat.catalog.models import Cohort
from retreat.core.clock import now
from retreat.core.types import UTCDateTime, one_of
from retreat.extensions import db
from retreat.staff.models import StaffUser

# What a person does in one cohort. A therapist sits with the guests through their sessions and counts for the
# seats-per-therapist ratio; a clinician (the prescriber, the medical lead) does not.
COHORT_ROLES = ("clinician", "therapist")
COHORT_ROLE_LABELS = {"clinician": "Clinician", "therapist": "Therapist"}


class CohortStaff(db.Model):
    """A staff account assigned to a cohort, once per cohort, with the role it has there."""

    __tablename__ = "cohort_staff"
    __table_args__ = (
        sa.CheckConstraint(one_of("role", COHORT_ROLES), name="role"),
        sa.UniqueConstraint("cohort_id", "staff_user_id", name="uq_cohort_staff_cohort_user"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    cohort_id: Mapped[int] = mapped_column(sa.ForeignKey("cohort.id"), index=True)
    staff_user_id: Mapped[int] = mapped_column(sa.ForeignKey("staff_user.id"), index=True)
    role: Mapped[str] = mapped_column(sa.String(12))
    assigned_at: Mapped[datetime] = mapped_column(UTCDateTime, default=now)

    cohort: Mapped[Cohort] = relationship()
    staff_user: Mapped[StaffUser] = relationship()
