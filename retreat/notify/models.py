from datetime import datetime

import sqlalchemy as sa
from sqlalchemy.orm import Mapped, mapped_column

from retreat.core.clock import now
from retreat.core.types import UTCDateTime
from retreat.extensions import db


class OutboxEmail(db.Model):
    __tablename__ = "outbox_email"
    __table_args__ = (sa.Index("ix_outbox_email_pending", "sent_at", "created_at"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    kind: Mapped[str] = mapped_column(sa.String(40))
    to_address: Mapped[str] = mapped_column(sa.String(254))
    subject: Mapped[str] = mapped_column(sa.String(200))
    # None once purged (services.purge_sent_bodies): a sent email's body holds live manage and approval links.
    body: Mapped[str | None] = mapped_column(sa.Text)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=now)
    sent_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    attempts: Mapped[int] = mapped_column(default=0)
    # Set while one sender delivers it, so the request that queued it and the cron sender never both send it.
    claimed_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    last_error: Mapped[str | None] = mapped_column(sa.String(500))
    # A file made when the email is sent, named as "<kind>:<key>" (services.register_attachment), such as
    # "receipt:RT-7K3M9Q": made then from the data of that moment, so the outbox keeps no copy of it.
    attachment: Mapped[str | None] = mapped_column(sa.String(80))
