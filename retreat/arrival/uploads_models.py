"""Tables of the documents a clinician asks an applicant for, and the files the applicant uploads (the files
themselves live encrypted in UPLOAD_FOLDER, never in the database; see retreat/arrival/uploads.py)."""

from datetime import datetime

import sqlalchemy as sa
from sqlalchemy.orm import Mapped, mapped_column

from retreat.core.clock import now
from retreat.core.types import UTCDateTime, one_of
from retreat.extensions import db

# records: medical records (asked by a clinician, or the pre-screen's "ask for records" decision); clearance: what
# medical clearance needs (an ECG, labs), described by the clinician.
REQUEST_KINDS = ("records", "clearance")
# clinician: asked on the booking's documents page; screening: the pre-screen's records_requested decision.
REQUEST_SOURCES = ("clinician", "screening")
CONTENT_TYPES = ("application/pdf", "image/jpeg", "image/png")


class DocumentRequest(db.Model):
    """A clinician's request for documents from a booking's applicant."""

    __tablename__ = "document_request"
    __table_args__ = (
        sa.CheckConstraint(one_of("kind", REQUEST_KINDS), name="kind"),
        sa.CheckConstraint(one_of("source", REQUEST_SOURCES), name="source"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    booking_id: Mapped[int] = mapped_column(sa.ForeignKey("booking.id"), index=True)
    kind: Mapped[str] = mapped_column(sa.String(10))
    source: Mapped[str] = mapped_column(sa.String(10), default="clinician")
    # What is asked, in the clinician's words (health information: encrypted like the screening answers).
    details_encrypted: Mapped[bytes | None] = mapped_column(sa.LargeBinary)
    requested_by_id: Mapped[int | None] = mapped_column(sa.ForeignKey("staff_user.id"))
    requested_at: Mapped[datetime] = mapped_column(UTCDateTime, default=now)
    # A clinician marked it received (by post, fax, from the applicant's doctor...): done whatever was uploaded.
    received_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    received_by_id: Mapped[int | None] = mapped_column(sa.ForeignKey("staff_user.id"))


class UploadedDocument(db.Model):
    """One file an applicant uploaded: where its ciphertext is, its type found from its content, its size, and its
    own data key wrapped by the configured encryption keys. The original file name is kept (sanitised, encrypted)
    only to show and to name the download."""

    __tablename__ = "uploaded_document"
    __table_args__ = (
        sa.CheckConstraint(one_of("content_type", CONTENT_TYPES), name="content_type"),
        sa.CheckConstraint("size_bytes > 0", name="size"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    booking_id: Mapped[int] = mapped_column(sa.ForeignKey("booking.id"), index=True)
    request_id: Mapped[int | None] = mapped_column(sa.ForeignKey("document_request.id"), index=True)
    stored_name: Mapped[str] = mapped_column(sa.String(64), unique=True)
    name_encrypted: Mapped[bytes] = mapped_column(sa.LargeBinary)
    content_type: Mapped[str] = mapped_column(sa.String(40))
    size_bytes: Mapped[int]
    key_encrypted: Mapped[bytes] = mapped_column(sa.LargeBinary)
    uploaded_at: Mapped[datetime] = mapped_column(UTCDateTime, default=now)
