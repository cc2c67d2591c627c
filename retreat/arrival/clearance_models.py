"""The clinician's medical clearance of a booking (arrival.clearance): one row per booking, its latest decision."""

from datetime import datetime

import sqlalchemy as sa
from sqlalchemy.orm import Mapped, mapped_column, relationship

from retreat.core.clock import now
from retreat.core.types import UTCDateTime, one_of
from retreat.extensions import db
from retreat.staff.models import StaffUser

# cleared: the clinic's clinician found the applicant ready to be dosed; follow_up: not yet, with a note of why.
CLEARANCE_STATUSES = ("cleared", "follow_up")


class Clearance(db.Model):
    """A clinician's clearance of one booking. The note is health information: stored encrypted with core.crypto
    (the keys of the screening answers) and read by clinicians only; the status is seen by coordinators too."""

    __tablename__ = "clearance"
    __table_args__ = (sa.CheckConstraint(one_of("status", CLEARANCE_STATUSES), name="status"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    booking_id: Mapped[int] = mapped_column(sa.ForeignKey("booking.id"), unique=True)
    status: Mapped[str] = mapped_column(sa.String(10))
    note_encrypted: Mapped[bytes | None] = mapped_column(sa.LargeBinary)
    decided_by_id: Mapped[int | None] = mapped_column(sa.ForeignKey("staff_user.id"))
    decided_at: Mapped[datetime] = mapped_column(UTCDateTime, default=now)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=now)

    decided_by: Mapped[StaffUser | None] = relationship()
