"""Submitting a pre-screen, reading it back by its token, clinician review, and purging old answers.

Health data (the answers, the findings, contact details, the clinician's note) passes through retreat.core.crypto
on the way in and out; every staff read of the answers is audited.

Two secrets open a pre-screen, each for its own pages only (any other page answers 404, as for an unknown link):
the applicant's pre-screen token (from the result page) opens the result page, its review request and the booking
pages; the approval token (from a clinician's approval email) opens the continue-to-booking page and the booking
pages, none of which shows anything about health.
"""

import functools
import secrets
from dataclasses import dataclass
from datetime import timedelta

import sqlalchemy as sa
from flask import current_app
from marshmallow import ValidationError

from retreat.core import audit, clinic, crypto
from retreat.core.clock import now
from retreat.core.errors import DomainError, NotFound, ValidationFailed, flatten_field_errors
from retreat.core.jobs import claim_rows
from retreat.core.links import external_url
from retreat.core.transactions import unit_of_work
from retreat.extensions import db
from retreat.notify import services as notify
from retreat.screening import rules
from retreat.screening.models import Screening
from retreat.screening.questions import ANSWERS, AS_ENTERED

TOKEN_VALID_DAYS = 30
PURGE_AFTER_DAYS = 90
# A review in one of these states is decided: the screening may be purged once past the retention.
DECIDED_REVIEW_STATUSES = ("approved", "declined", "closed")
CRISIS_RESOURCES = (
    {"name": "988 Suicide & Crisis Lifeline (US): call or text 988, or chat at 988lifeline.org. "
             "Veterans press 1; for Spanish press 2.", "contact": "988"},
    {"name": "In immediate danger: call 911 or go to the nearest emergency room.", "contact": "911"},
)


@dataclass(frozen=True)
class Findings:
    """What the rules found: health data, stored encrypted (Screening.findings_encrypted) and purged with the
    answers."""

    reasons: tuple[dict, ...]  # {code, message, outcome} of every rule that fired
    phq9_total: int | None
    phq9_severity: str | None

    @classmethod
    def of(cls, result: rules.Result) -> "Findings":
        return cls(tuple({"code": r.code, "message": r.message, "outcome": r.outcome} for r in result.reasons),
                   result.phq9_total, result.phq9_severity)

    def as_json(self) -> dict:
        return {"reasons": list(self.reasons), "phq9_total": self.phq9_total, "phq9_severity": self.phq9_severity}


@dataclass(frozen=True)
class Submitted:
    screening: Screening
    token: str  # shown to the applicant once; only its hash is stored
    findings: Findings  # for the applicant who has just answered (the API's 201), read from memory


def encrypt_findings(findings: Findings) -> bytes:
    return crypto.encrypt_json(findings.as_json())


def read_findings(screening: Screening) -> Findings | None:
    """The reasons and PHQ-9 score of a screening, decrypted; None once purged. For the applicant's own result
    page (by their token) and for clinicians: never for other staff."""
    if screening.findings_encrypted is None:
        return None
    value = crypto.decrypt_json(screening.findings_encrypted)
    return Findings(tuple(value.get("reasons") or ()), value.get("phq9_total"), value.get("phq9_severity"))


def _hash(token: str) -> str:
    return crypto.secret_digest(token)


def validate_answers(answers: object) -> dict:
    """The answers, checked; ValidationFailed names each bad field (nested ones as cssrs.intent, phq9.8)."""
    if not isinstance(answers, dict):
        raise ValidationFailed({"answers": ["Send the answers as an object."]})
    try:
        return ANSWERS.load(answers)
    except ValidationError as error:
        raise ValidationFailed(flatten_field_errors(error.messages, "answers.", whole="answers")) from None


def submit(answers: object, contact: dict | None = None, *, entered: dict | None = None) -> Submitted:
    """Validate and evaluate the answers, store them encrypted with the result, and alert the on-call
    clinician for a crisis or an urgent review (the alert email is queued in the same transaction). `entered`
    (from the web questionnaire): numbers as the applicant entered them in another unit, stored beside the
    answers for the clinician's page (questions.AS_ENTERED); the rules read the converted answers only."""
    checked = validate_answers(answers)
    return store(checked, rules.evaluate(checked), contact=contact, entered=entered)


def store(checked: dict, result: rules.Result, *, contact: dict | None = None,
          entered: dict | None = None) -> Submitted:
    """Store checked answers and their findings (encrypted) with the outcome; urgent ones go to the top of the
    clinician queue and alert the on-call clinician in the same unit of work. The email is sent after the
    commit."""
    token = secrets.token_urlsafe(32)
    findings = Findings.of(result)
    with unit_of_work():
        moment = now()
        screening = Screening(
            token_hash=_hash(token),
            created_at=moment,
            expires_at=moment + timedelta(days=TOKEN_VALID_DAYS),
            rules_version=result.rules_version,
            outcome=result.outcome,
            urgent=result.urgent,
            findings_encrypted=encrypt_findings(findings),
            answers_encrypted=crypto.encrypt_json({**checked, AS_ENTERED: entered} if entered else checked),
            contact_encrypted=crypto.encrypt_json(contact) if contact else None,
        )
        if result.urgent:
            screening.review_status = "pending"
            screening.review_requested_at = moment
        db.session.add(screening)
        db.session.flush()
        if result.urgent:
            _alert_on_call(screening)
    return Submitted(screening, token, findings)


def _alert_on_call(screening: Screening):
    """Queue the on-call clinician's alert (in the caller's transaction); None if no address is configured,
    which production refuses to start without."""
    address = current_app.config.get("ONCALL_CLINICIAN_EMAIL")
    if not address:
        current_app.logger.error("Urgent screening %s but ONCALL_CLINICIAN_EMAIL is not set", screening.id)
        return None
    kind = "crisis" if screening.outcome == "crisis" else "urgent review"
    alert = notify.enqueue(
        "screening_alert", address,
        f"URGENT: pre-screen {screening.id} needs a clinician now ({kind})",
        f"A pre-screen submitted on {clinic.clinic_time(screening.created_at)} gave the outcome '{screening.outcome}' "
        "and is marked urgent.\n\n"
        f"Open it in the clinician queue (sign-in required): "
        f"{external_url('staff.screening_review', screening_id=screening.id)}\n\n"
        "No answers are included in this email.",
    )
    screening.alert_sent_at = now()
    return alert


@functools.cache
def _by_token_statement(for_booking: bool) -> sa.Select:
    """Built once per purpose: a statement kept keeps its SQLAlchemy cache key (building one costs more than the
    query)."""
    matches = Screening.token_hash == sa.bindparam("hashed")
    if for_booking:
        matches = sa.or_(matches, Screening.approval_token_hash == sa.bindparam("hashed"))
    return sa.select(Screening).where(matches)


def by_token(token: str, *, for_booking: bool = False) -> Screening:
    """The screening a token opens. Without `for_booking` (the result page and its review request) only the
    applicant's pre-screen token opens it. For booking, the pre-screen token or the approval token, and the
    screening must be unexpired and unused. A token of another purpose is unknown here (NotFound)."""
    if not isinstance(token, str) or not token.isascii():  # tokens are URL-safe ASCII; anything else is unknown
        raise NotFound("There is no pre-screen with this link.")
    screening = db.session.scalar(_by_token_statement(for_booking), {"hashed": _hash(token)})
    if screening is None:
        raise NotFound("There is no pre-screen with this link.")
    if for_booking:
        if screening.expires_at <= now():
            raise DomainError("This pre-screen has expired; please take it again.", code="screening_expired",
                              status=422)
        if screening.token_used_at is not None:
            raise DomainError("This pre-screen was already used for a booking.", code="screening_used", status=422)
    return screening


# Outcomes with a booking path: only their pre-screens are ever used, and so freed.
BOOKABLE_OUTCOMES = ("eligible", "review")
FREED_ACTION = "screening.freed_for_booking"


def claim_for_booking(screening_id: int) -> bool:
    """Mark the pre-screen used, atomically (in the caller's unit of work): of two bookings racing with one
    token, one wins. Returns whether this call marked it."""
    return db.session.execute(
        sa.update(Screening).where(Screening.id == screening_id, Screening.token_used_at.is_(None))
        .values(token_used_at=now())
    ).rowcount == 1


def free_for_booking(screening_id: int, *, actor: object = None) -> bool:
    """The booking made with this pre-screen ended unused (the applicant cancelled, its hold lapsed unpaid, or the
    clinic cancelled it): the pre-screen books again for the rest of its validity (its 30 days are not renewed).
    A clinician's decline never frees it. In the caller's unit of work (booking calls it beside the change that
    ended the booking); audited without anything about health. Returns whether it was freed.

    The caller holds the cohort lock, and a clinician's decision locks the pre-screen before the cohort: waiting
    here for a pre-screen being decided would deadlock the two. Such a pre-screen is left as it is (the decision
    governs it; the applicant can take the pre-screen again)."""
    if db.session.scalar(sa.select(Screening.id).where(Screening.id == screening_id)
                         .with_for_update(skip_locked=True)) is None:
        return False
    freed = db.session.execute(
        sa.update(Screening).where(
            Screening.id == screening_id, Screening.token_used_at.is_not(None),
            Screening.outcome.in_(BOOKABLE_OUTCOMES),
            sa.or_(Screening.review_status.is_(None), Screening.review_status != "declined"))
        .values(token_used_at=None)
        .execution_options(synchronize_session="fetch")
    ).rowcount == 1
    if freed:
        audit.record(FREED_ACTION, "screening", screening_id, actor=actor or "system (booking ended)")
    return freed


def was_freed(screening: Screening) -> bool:
    """Whether a booking made with this pre-screen ended and freed it (the result page says it books again)."""
    return db.session.scalar(
        sa.select(sa.func.count()).select_from(audit.AuditEntry).where(
            audit.AuditEntry.action == FREED_ACTION, audit.AuditEntry.target_type == "screening",
            audit.AuditEntry.target_id == str(screening.id))) > 0


def booking_state(screening: Screening) -> str:
    """What the result page says about booking with this pre-screen: `used` (a booking made with it is live, or
    it was declined), `expired`, `freed` (a booking ended and it books again) or `open`."""
    if screening.token_used_at is not None:
        return "used"
    if screening.expires_at <= now():
        return "expired"
    return "freed" if was_freed(screening) else "open"


def by_approval_token(token: str) -> Screening:
    """The approved screening an emailed continuation link belongs to (the approval token only)."""
    if not isinstance(token, str) or not token.isascii():
        raise NotFound(f"This link is not valid. Please {clinic.contact_words()}, or take the pre-screen again.")
    screening = db.session.scalar(
        sa.select(Screening).where(Screening.approval_token_hash == _hash(token or ""),
                                   Screening.review_status == "approved"))
    if screening is None:
        raise NotFound(f"This link is not valid. Please {clinic.contact_words()}, or take the pre-screen again.")
    return screening


def new_approval_token(screening: Screening) -> str:
    """Make the secret of the emailed continuation link (in the caller's transaction); returned once."""
    token = secrets.token_urlsafe(32)
    screening.approval_token_hash = _hash(token)
    return token


def crisis_resources() -> tuple[dict, ...]:
    return CRISIS_RESOURCES


def read_answers(screening: Screening) -> dict | None:
    """The decrypted answers for a clinician, audited as a read of health data (None once purged). The audit
    entry is written in the caller's unit of work (the review page opens one before it reads anything)."""
    with unit_of_work():
        audit.record("screening.read_answers", "screening", screening.id)
        if screening.answers_encrypted is None:
            return None
        return crypto.decrypt_json(screening.answers_encrypted)


HEALTH_COLUMNS = ("answers_encrypted", "contact_encrypted", "findings_encrypted", "review_note_encrypted")


def _purgeable(cutoff):
    """The condition of a screening whose health data may go: nothing happened to it since `cutoff` (submitted,
    and decided if reviewed, before it), it led to no booking, and its review, if any, is decided. A review
    still pending or waiting for records is never purged, however old: a clinician still has to act on it."""
    return sa.and_(
        Screening.created_at < cutoff,
        sa.or_(Screening.reviewed_at.is_(None), Screening.reviewed_at < cutoff),
        Screening.token_used_at.is_(None),
        sa.or_(Screening.review_status.is_(None), Screening.review_status.in_(DECIDED_REVIEW_STATUSES)),
        sa.or_(*(getattr(Screening, column).is_not(None) for column in HEALTH_COLUMNS)),
    )


def purge_old_answers(older_than_days: int = PURGE_AFTER_DAYS) -> int:
    """Remove the health data (answers, findings, contact details and the clinician's note) of decided screens
    older than this that led to no booking; outcome, urgency, review status and times stay. One unit of work.
    Returns how many were purged."""
    with unit_of_work():
        moment = now()
        cutoff = moment - timedelta(days=older_than_days)
        # Claimed (FOR UPDATE SKIP LOCKED): a purge on another host at the same moment skips these rows.
        rows = db.session.scalars(claim_rows(sa.select(Screening).where(_purgeable(cutoff))
                                             .execution_options(populate_existing=True), Screening)).all()
        for screening in rows:
            for column in HEALTH_COLUMNS:
                setattr(screening, column, None)
            screening.answers_purged_at = screening.answers_purged_at or moment
        if rows:
            audit.record("screening.purge", "screening", "many", {"count": len(rows), "cutoff": cutoff.isoformat()})
    return len(rows)
