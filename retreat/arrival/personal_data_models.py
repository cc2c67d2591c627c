"""The applicant's requests to erase their data (retreat/arrival/personal_data.py): one row per booking, made when the
applicant asks from their manage link and completed when an admin carries the erasure out.

The row holds no personal data: the booking it names, when it was asked and done, by which admin, and the hash of
the booking's manage link, moved here from the booking at erasure so that the old link still opens a page saying
the data was erased (the link itself opens nothing else any more)."""

from datetime import datetime

import sqlalchemy as sa
from sqlalchemy.orm import Mapped, mapped_column, relationship

from retreat.booking.models import Booking
from retreat.core.clock import now
from retreat.core.types import UTCDateTime
from retreat.extensions import db


class DataErasure(db.Model):
    __tablename__ = "data_erasure"
    __table_args__ = (sa.Index("ix_data_erasure_erased_at", "erased_at"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    booking_id: Mapped[int] = mapped_column(sa.ForeignKey("booking.id"), unique=True)
    requested_at: Mapped[datetime] = mapped_column(UTCDateTime, default=now)
    erased_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    erased_by_id: Mapped[int | None] = mapped_column(sa.ForeignKey("staff_user.id"))
    # sha256 of the manage link's secret, moved here from the booking when its data is erased.
    manage_token_hash: Mapped[str | None] = mapped_column(sa.String(64), unique=True)

    booking: Mapped[Booking] = relationship()
