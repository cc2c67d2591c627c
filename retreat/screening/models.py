from datetime import datetime

import sqlalchemy as sa
from sqlalchemy.orm import Mapped, mapped_column

from retreat.core.clock import now
from retreat.core.types import UTCDateTime, one_of
from retreat.extensions import db
from retreat.screening.rules import OUTCOMES

# closed: an anonymous crisis a clinician has acknowledged (there is no one to write to), with a note.
REVIEW_STATUSES = ("pending", "approved", "declined", "records_requested", "closed")
# Still awaiting a final decision: a clinician may decide again once the records they asked for arrive.
OPEN_REVIEW_STATUSES = ("pending", "records_requested")


class Screening(db.Model):
    """One pre-screen.

    Health data is stored encrypted (retreat.core.crypto) and purged together (services.purge_old_answers): the
    answers, the applicant's contact details, the clinician's note, and the findings (every rule that fired, with
    its code and wording, and the PHQ-9 total and band). Readable columns hold only what routing and ordering
    need: the outcome (which result page, whether a booking path exists, what a clinician may decide), the urgent
    flag (the clinician queue's order and the on-call alert), the review status and the times (the queue, the
    token's validity, retention). They remain after a purge."""

    __tablename__ = "screening"
    __table_args__ = (
        sa.CheckConstraint(one_of("outcome", OUTCOMES), name="outcome"),
        sa.CheckConstraint(f"review_status IS NULL OR {one_of('review_status', REVIEW_STATUSES)}",
                           name="review_status"),
        sa.Index("ix_screening_queue", "review_status", "urgent", "created_at"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    # sha256 of the applicant's secret token; the token itself is never stored.
    token_hash: Mapped[str] = mapped_column(sa.String(64), unique=True)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=now)
    expires_at: Mapped[datetime] = mapped_column(UTCDateTime)
    token_used_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    # A second secret, made when a clinician approves: the emailed link to continue to booking. It opens a page
    # that shows no health information, unlike the result page of the first token.
    approval_token_hash: Mapped[str | None] = mapped_column(sa.String(64), unique=True)
    rules_version: Mapped[int]
    outcome: Mapped[str] = mapped_column(sa.String(20))
    urgent: Mapped[bool]
    # {"reasons": [{code, message, outcome}], "phq9_total", "phq9_severity"}, encrypted; None once purged.
    findings_encrypted: Mapped[bytes | None] = mapped_column(sa.LargeBinary)
    answers_encrypted: Mapped[bytes | None] = mapped_column(sa.LargeBinary)
    answers_purged_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    contact_encrypted: Mapped[bytes | None] = mapped_column(sa.LargeBinary)
    # Clinician review: pending while waiting for a decision (urgent ones first in the queue).
    review_status: Mapped[str | None] = mapped_column(sa.String(20))
    review_requested_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    reviewed_by_id: Mapped[int | None] = mapped_column(sa.ForeignKey("staff_user.id"))
    reviewed_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    review_note_encrypted: Mapped[bytes | None] = mapped_column(sa.LargeBinary)
    alert_sent_at: Mapped[datetime | None] = mapped_column(UTCDateTime)

    def __repr__(self) -> str:
        return f"<Screening {self.id} {self.outcome}>"
