"""The tables of informed consent (arrival.consent): the clinic's consent document as numbered versions of titled
sections, never edited once saved, and each applicant's signature of a version."""

from datetime import datetime

import sqlalchemy as sa
from sqlalchemy.orm import Mapped, mapped_column, relationship

from retreat.core.clock import now
from retreat.core.types import UTCDateTime
from retreat.extensions import db


class ConsentVersion(db.Model):
    """One version of the consent document. A change is a new version: a signature names the version signed and
    the sha256 of its canonical text (`content_hash`), so what was signed can always be shown and checked."""

    __tablename__ = "consent_version"

    id: Mapped[int] = mapped_column(primary_key=True)
    number: Mapped[int] = mapped_column(unique=True)
    note: Mapped[str] = mapped_column(sa.String(400), default="")
    content_hash: Mapped[str] = mapped_column(sa.String(64))
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=now)
    # The admin who saved it; None for a version loaded from the command line or the demo data.
    created_by_id: Mapped[int | None] = mapped_column(sa.ForeignKey("staff_user.id"))

    sections: Mapped[list["ConsentSection"]] = relationship(
        back_populates="version", order_by="ConsentSection.position", cascade="all, delete-orphan")


class ConsentSection(db.Model):
    __tablename__ = "consent_section"
    __table_args__ = (sa.UniqueConstraint("version_id", "position", name="uq_consent_section_position"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    version_id: Mapped[int] = mapped_column(sa.ForeignKey("consent_version.id"))
    position: Mapped[int]  # 1, 2, ... in reading order
    title: Mapped[str] = mapped_column(sa.String(200))
    text: Mapped[str] = mapped_column(sa.Text)

    version: Mapped[ConsentVersion] = relationship(back_populates="sections")


class ConsentSignature(db.Model):
    """An applicant's signature of one version for one booking: once per version (signing again changes nothing).
    The typed name and the address are personal data: erasure empties them and keeps that a version was signed."""

    __tablename__ = "consent_signature"
    __table_args__ = (sa.UniqueConstraint("booking_id", "version_id", name="uq_consent_signature_booking_version"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    booking_id: Mapped[int] = mapped_column(sa.ForeignKey("booking.id"))
    version_id: Mapped[int] = mapped_column(sa.ForeignKey("consent_version.id"), index=True)
    signed_name: Mapped[str | None] = mapped_column(sa.String(201))
    signed_at: Mapped[datetime] = mapped_column(UTCDateTime, default=now)
    client_address: Mapped[str | None] = mapped_column(sa.String(64))
    version_hash: Mapped[str] = mapped_column(sa.String(64))  # the version's content_hash, as signed

    version: Mapped[ConsentVersion] = relationship()
