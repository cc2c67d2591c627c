"""The venue's rooms and who sleeps where (booking.rooms)."""

from datetime import datetime

import sqlalchemy as sa
from sqlalchemy.orm import Mapped, mapped_column, relationship

from retreat.booking.models import Booking
from retreat.core.clock import now
from retreat.core.types import UTCDateTime
from retreat.extensions import db


class Room(db.Model):
    """A room of the venue with its beds. An inactive room takes no new guests (being painted, closed)."""

    __tablename__ = "room"
    __table_args__ = (sa.CheckConstraint("beds >= 1 AND beds <= 20", name="beds"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    name: Mapped[str] = mapped_column(sa.String(60), unique=True)
    beds: Mapped[int]
    active: Mapped[bool] = mapped_column(default=True)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=now)


class RoomPlacement(db.Model):
    """A booking's bed: one room per booking. It takes a bed while its booking holds a paid seat; a cancelled
    booking's placement stays as history and takes no bed."""

    __tablename__ = "room_placement"

    id: Mapped[int] = mapped_column(primary_key=True)
    booking_id: Mapped[int] = mapped_column(sa.ForeignKey("booking.id"), unique=True)
    room_id: Mapped[int] = mapped_column(sa.ForeignKey("room.id"), index=True)
    placed_at: Mapped[datetime] = mapped_column(UTCDateTime, default=now)

    booking: Mapped[Booking] = relationship()
    room: Mapped[Room] = relationship()
