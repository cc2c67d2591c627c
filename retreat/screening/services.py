"""Submitting a pre-screen, reading it back by its token, clinician review, and purging old answers.

Health answers pass through retreat.core.crypto on the way in and out; every staff read of them is audited.
"""

import secrets
from dataclasses import dataclass
from datetime import timedelta

import sqlalchemy as sa
from flask import current_app
from marshmallow import ValidationError

from retreat.core import audit, crypto
from retreat.core.clock import now
from retreat.core.errors import DomainError, NotFound, ValidationFailed, flatten_field_errors
from retreat.core.links import external_url
from retreat.extensions import db
from retreat.notify import services as notify
from retreat.screening import rules
from retreat.screening.models import Screening
from retreat.screening.questions import ANSWERS

TOKEN_VALID_DAYS = 30
PURGE_AFTER_DAYS = 90
CRISIS_RESOURCES = (
    {"name": "988 Suicide & Crisis Lifeline (US): call or text 988, or chat at 988lifeline.org. "
             "Veterans press 1; for Spanish press 2.", "contact": "988"},
    {"name": "In immediate danger: call 911 or go to the nearest emergency room.", "contact": "911"},
)


@dataclass(frozen=True)
class Submitted:
    screening: Screening
    token: str  # shown to the applicant once; only its hash is stored


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


def submit(answers: object, contact: dict | None = None) -> Submitted:
    """Validate and evaluate the answers, store them encrypted with the result, and alert the on-call
    clinician for a crisis or an urgent review (the alert email is queued in the same transaction)."""
    checked = validate_answers(answers)
    return store(checked, rules.evaluate(checked), contact=contact)


def store(checked: dict, result: rules.Result, *, contact: dict | None = None) -> Submitted:
    """Store checked answers (encrypted) with their result; urgent ones go to the top of the clinician queue
    and alert the on-call clinician in the same transaction. The email is sent after the commit."""
    token = secrets.token_urlsafe(32)
    moment = now()
    screening = Screening(
        token_hash=_hash(token),
        created_at=moment,
        expires_at=moment + timedelta(days=TOKEN_VALID_DAYS),
        rules_version=result.rules_version,
        outcome=result.outcome,
        reasons=[{"code": r.code, "message": r.message, "outcome": r.outcome} for r in result.reasons],
        urgent=result.urgent,
        phq9_total=result.phq9_total,
        phq9_severity=result.phq9_severity,
        answers_encrypted=crypto.encrypt_json(checked),
        contact_encrypted=crypto.encrypt_json(contact) if contact else None,
    )
    if result.urgent:
        screening.review_status = "pending"
        screening.review_requested_at = moment
    db.session.add(screening)
    db.session.flush()
    if result.urgent:
        alert = _alert_on_call(screening)
    db.session.commit()
    if result.urgent and alert is not None:
        notify.send_now(alert)
    return Submitted(screening, token)


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
        f"A pre-screen submitted at {screening.created_at:%Y-%m-%d %H:%M} UTC gave the outcome '{screening.outcome}' "
        "and is marked urgent.\n\n"
        f"Open it in the clinician queue (sign-in required): "
        f"{external_url('staff.screening_review', screening_id=screening.id)}\n\n"
        "No answers are included in this email.",
    )
    screening.alert_sent_at = now()
    return alert


def by_token(token: str, *, for_booking: bool = False) -> Screening:
    """The screening a token belongs to; for booking it must be unexpired and unused."""
    if not isinstance(token, str) or not token.isascii():  # tokens are URL-safe ASCII; anything else is unknown
        raise NotFound("There is no pre-screen with this link.")
    hashed = _hash(token)
    screening = db.session.scalar(
        sa.select(Screening).where(sa.or_(Screening.token_hash == hashed, Screening.approval_token_hash == hashed)))
    if screening is None:
        raise NotFound("There is no pre-screen with this link.")
    if for_booking:
        if screening.expires_at <= now():
            raise DomainError("This pre-screen has expired; please take it again.", code="screening_expired",
                              status=422)
        if screening.token_used_at is not None:
            raise DomainError("This pre-screen was already used for a booking.", code="screening_used", status=422)
    return screening


def by_approval_token(token: str) -> Screening:
    """The approved screening an emailed continuation link belongs to."""
    screening = db.session.scalar(
        sa.select(Screening).where(Screening.approval_token_hash == _hash(token or ""),
                                   Screening.review_status == "approved"))
    if screening is None:
        raise NotFound("This link is not valid. Please contact us, or take the pre-screen again.")
    return screening


def new_approval_token(screening: Screening) -> str:
    """Make the secret of the emailed continuation link (in the caller's transaction); returned once."""
    token = secrets.token_urlsafe(32)
    screening.approval_token_hash = _hash(token)
    return token


def crisis_resources() -> tuple[dict, ...]:
    return CRISIS_RESOURCES


def read_answers(screening: Screening) -> dict | None:
    """The decrypted answers for a clinician, audited as a read of health data (None once purged)."""
    audit.record("screening.read_answers", "screening", screening.id)
    db.session.commit()
    if screening.answers_encrypted is None:
        return None
    return crypto.decrypt_json(screening.answers_encrypted)


def purge_old_answers(older_than_days: int = PURGE_AFTER_DAYS) -> int:
    """Remove the raw answers (and contact details) of screens older than this that led to no booking;
    outcome, reasons and times stay. Returns how many were purged."""
    cutoff = now() - timedelta(days=older_than_days)
    rows = db.session.scalars(
        sa.select(Screening).where(
            Screening.created_at < cutoff, Screening.token_used_at.is_(None),
            Screening.answers_encrypted.is_not(None),
        )
    ).all()
    moment = now()
    for screening in rows:
        screening.answers_encrypted = None
        screening.contact_encrypted = None
        screening.answers_purged_at = moment
    if rows:
        audit.record("screening.purge", "screening", "many", {"count": len(rows), "cutoff": cutoff.isoformat()})
    db.session.commit()
    return len(rows)
