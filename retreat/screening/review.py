"""Clinician review of pre-screens: the queue, the decision (approve, decline, ask for records) with its email to
the applicant, and re-encryption of every encrypted column under the newest key.

The queue and the review page are for clinicians only. The queue carries no answers; answers are read only
through services.read_answers, which audits the read. Neither the audit log nor an email ever carries answers,
findings or the clinician's note.
"""

from dataclasses import dataclass
from datetime import datetime

import sqlalchemy as sa
from blinker import Namespace

from retreat.core import audit, crypto
from retreat.core import clinic as clinic_details
from retreat.core.clock import now
from retreat.core.errors import DomainError, NotFound, ValidationFailed
from retreat.core.links import external_url
from retreat.core.transactions import unit_of_work
from retreat.extensions import db
from retreat.notify import services as notify
from retreat.screening import questions, rules
from retreat.screening import services as screening_services
from retreat.screening.models import OPEN_REVIEW_STATUSES, Screening

DECISIONS = ("approved", "declined", "records_requested")
DECISION_LABELS = {
    "approved": "Approve: the applicant may book",
    "declined": "Decline: not suitable now",
    "records_requested": "Ask for records before deciding",
}
REVIEW_STATUS_LABELS = {
    "pending": "Awaiting a clinician",
    "approved": "Approved",
    "declined": "Declined",
    "records_requested": "Records requested",
    "closed": "Acknowledged and closed",
}
NOTE_REQUIRED = ("declined", "records_requested")
# Sent inside a decision's unit of work with the screening, `decision` and `clinician`; booking applies it to the
# bookings made with the pre-screen and answers whether it emailed the applicant about an approval.
screening_decided = Namespace().signal("screening-decided")
# Only a "needs review" result can be approved for booking: crisis and ineligible results have no booking path
# (domain/screening.md); they are pending so that a clinician reaches out, and are closed by a decline.
APPROVABLE_OUTCOMES = ("review",)
NOTE_MAX_LENGTH = 4000
OUTCOME_LABELS = {
    "eligible": "Eligible",
    "review": "Needs review",
    "ineligible": "Not suitable",
    "crisis": "Crisis",
}
PHQ9_BAND_LABELS = rules.PHQ9_BAND_WORDS
ROTATE_BATCH_SIZE = 200


# --- The queue -------------------------------------------------------------------------------------------------

@dataclass(frozen=True)
class QueueItem:
    """One screening awaiting a decision: what it found, never what was answered."""

    id: int
    outcome: str
    urgent: bool
    reasons: tuple[dict, ...]  # {code, message, outcome} of every rule that fired
    phq9_total: int | None
    phq9_severity: str | None
    created_at: datetime
    review_requested_at: datetime | None
    review_status: str = "pending"
    reviewed_at: datetime | None = None

    @property
    def rules_in_words(self) -> tuple[str, ...]:
        return tuple(rules.rule_title(reason["code"], reason.get("message", "")) for reason in self.reasons)

    @property
    def outcome_label(self) -> str:
        return OUTCOME_LABELS.get(self.outcome, self.outcome)

    @property
    def phq9_band_label(self) -> str | None:
        return PHQ9_BAND_LABELS.get(self.phq9_severity, self.phq9_severity) if self.phq9_severity else None


# What the queue page lists: awaiting a decision (the default), the urgent ones of those, or the anonymous
# crises acknowledged and closed (the latest first).
QUEUE_VIEWS = {"open": "Awaiting a clinician", "urgent": "Urgent", "closed": "Closed"}
CLOSED_SHOWN = 200


def open_reviews() -> tuple[int, int]:
    """How many screenings await a clinician, and how many of them are urgent (for the staff home)."""
    total, urgent = db.session.execute(
        sa.select(sa.func.count(), sa.func.coalesce(sa.func.sum(sa.case((Screening.urgent, 1), else_=0)), 0))
        .where(Screening.review_status.in_(OPEN_REVIEW_STATUSES))).one()
    return int(total), int(urgent)


def review_queue(view: str = "open") -> list[QueueItem]:
    """Screenings awaiting a clinician's decision, for clinicians only: urgent ones first, then the oldest first,
    with their findings decrypted. `view` "urgent" keeps the urgent ones; "closed" lists the anonymous crises
    acknowledged and closed instead, the latest closed first."""
    query = sa.select(Screening)
    if view == "closed":
        query = (query.where(Screening.review_status == "closed")
                 .order_by(Screening.reviewed_at.desc(), Screening.id.desc()).limit(CLOSED_SHOWN))
    else:
        query = query.where(Screening.review_status.in_(OPEN_REVIEW_STATUSES))
        if view == "urgent":
            query = query.where(Screening.urgent.is_(True))
        query = query.order_by(Screening.urgent.desc(), Screening.created_at, Screening.id)
    screenings = db.session.scalars(query).all()
    items = []
    for screening in screenings:
        findings = screening_services.read_findings(screening)
        items.append(QueueItem(
            screening.id, screening.outcome, screening.urgent, findings.reasons if findings else (),
            findings.phq9_total if findings else None, findings.phq9_severity if findings else None,
            screening.created_at, screening.review_requested_at, screening.review_status, screening.reviewed_at))
    return items


def screening_for_review(screening_id: int) -> Screening:
    screening = db.session.get(Screening, screening_id)
    if screening is None:
        raise NotFound("There is no such pre-screen.")
    return screening


def read_contact(screening: Screening) -> dict | None:
    """The applicant's contact details, if they gave them (shown on the audited review page only)."""
    if screening.contact_encrypted is None:
        return None
    return crypto.decrypt_json(screening.contact_encrypted)


def read_note(screening: Screening) -> str | None:
    """The clinician's decision note, for the review page."""
    if screening.review_note_encrypted is None:
        return None
    return crypto.decrypt_json(screening.review_note_encrypted)


# --- Answers, in words -----------------------------------------------------------------------------------------

@dataclass(frozen=True)
class AnswerRow:
    question: str
    answer: str
    notable: bool = False  # an answer a clinician will want to look at twice


@dataclass(frozen=True)
class ReadableAnswers:
    health: tuple[AnswerRow, ...]
    phq9: tuple[AnswerRow, ...]
    phq9_total: int | None
    cssrs: tuple[AnswerRow, ...]


def _step_reached(answers: dict, step: int, catalogue: tuple[questions.Question, ...]) -> bool:
    """Whether the answers reach this step (a crisis at the safety step ends the questionnaire there)."""
    return any(name in answers for name in questions.answer_names(questions.asked_on(step, catalogue)))


def _reading_row(reading: questions.Reading, answers: dict) -> AnswerRow:
    upper, lower = (questions.BY_NAME[name] for name in reading.members)
    if answers.get(upper.name) is None:
        return AnswerRow(reading.review_label, "Not given", True)
    high, low = answers[upper.name], answers.get(lower.name)
    return AnswerRow(reading.review_label, f"{high}/{low} {upper.unit}",
                     upper.notable(high) or (low is not None and lower.notable(low)))


def _reads(question: questions.Question, value, answers: dict) -> str:
    """An answer as it reads, with what the applicant entered when they chose another unit: "74.84 kg (entered
    as 165 lb)"."""
    entered = (answers.get(questions.AS_ENTERED) or {}).get(question.name)
    unit = question.unit_of(entered.get("unit")) if entered and isinstance(question, questions.Number) else None
    if unit is None:
        return question.reads(value)
    return f"{value:.2f} {question.unit} (entered as {entered['value']:g} {unit.label})"


def readable_answers(answers: dict, catalogue: tuple[questions.Question, ...] = questions.QUESTIONS) -> ReadableAnswers:
    """The answers as question and answer in words, in the questionnaire's order: each question of the catalogue
    with its label on this page and its answer as it reads there."""
    rows: dict[str, list[AnswerRow]] = {"health": [], "phq9": [], "cssrs": []}
    for question in catalogue:
        reading = next((r for r in questions.READINGS if question.name in r.members), None)
        if reading is not None:
            if question.name == reading.upper and _step_reached(answers, question.step, catalogue):
                rows["health"].append(_reading_row(reading, answers))
            continue
        value = questions.value_of(answers, question)
        if value is not None:
            rows[question.review_section].append(AnswerRow(question.label, _reads(question, value, answers),
                                                           question.notable(value)))
        elif question.review_section == "cssrs":  # the screener's table lists every question, asked or not
            rows["cssrs"].append(AnswerRow(question.label, "Not asked"))
    known = {*questions.answer_names(catalogue), questions.AS_ENTERED}
    for name in sorted(set(answers) - known):  # a field of a later questionnaire version
        rows["health"].append(AnswerRow(name.replace("_", " ").capitalize(), str(answers[name])))
    scores = answers.get("phq9") or []
    return ReadableAnswers(tuple(rows["health"]), tuple(rows["phq9"]), sum(scores) if scores else None,
                           tuple(rows["cssrs"]))


# --- The decision ----------------------------------------------------------------------------------------------

def decisions_for(screening: Screening) -> tuple[str, ...]:
    """The decisions a clinician may take on this screening (an anonymous crisis has none: it is acknowledged and
    closed, see can_close)."""
    if can_close(screening):
        return ()
    if screening.outcome in APPROVABLE_OUTCOMES:
        return DECISIONS
    return tuple(decision for decision in DECISIONS if decision != "approved")


def _check_decision(decision: str, note: str) -> str:
    if decision not in DECISIONS:
        raise ValidationFailed({"decision": ["Choose approve, decline or ask for records."]})
    note = (note or "").strip()
    if decision in NOTE_REQUIRED and not note:
        raise ValidationFailed({"note": ["Write a note: it explains this decision to the clinical team."]})
    if len(note) > NOTE_MAX_LENGTH:
        raise ValidationFailed({"note": [f"Keep the note under {NOTE_MAX_LENGTH} characters."]})
    return note


def decide(screening_id: int, decision: str, note: str, clinician) -> Screening:
    """Record a clinician's decision on a pending screening, audit it and email the applicant (if they left
    contact details). One transaction; the email is sent after it commits."""
    note = _check_decision(decision, note)
    if clinician is None or "clinician" not in (clinician.roles or []):
        raise DomainError("Only a clinician can decide a pre-screen.", code="forbidden", status=403)
    # A locked write from the start: two clinicians deciding at once, the second one waits, then sees the first
    # decision. A refusal rolls the unit back.
    with unit_of_work():
        screening = db.session.scalar(
            sa.select(Screening).where(Screening.id == screening_id).with_for_update()
            .execution_options(populate_existing=True)
        )
        if screening is None:
            raise NotFound("There is no such pre-screen.")
        if screening.review_status not in OPEN_REVIEW_STATUSES:
            raise DomainError("This pre-screen is not awaiting a decision; it may have been decided already.",
                              code="screening_not_pending", status=409)
        if decision == "approved" and screening.outcome not in APPROVABLE_OUTCOMES:
            raise ValidationFailed({"decision": [
                f"A result of '{OUTCOME_LABELS.get(screening.outcome, screening.outcome).lower()}' has no booking "
                "path and cannot be approved. Once you have reached the applicant, decline it with a note, or ask "
                "for records."]})
        screening.review_status = decision
        screening.reviewed_by_id = clinician.id
        screening.reviewed_at = now()
        screening.review_note_encrypted = crypto.encrypt_json(note) if note else None
        audit.record("screening.decide", "screening", screening.id, {"decision": decision}, actor=clinician)
        contact = read_contact(screening)
        # A seat requested with this pre-screen follows the decision in this unit of work (booking listens: held to
        # pay, or declined and refunded); its email then replaces the generic approval link.
        answers = screening_decided.send(screening, decision=decision, clinician=clinician)
        has_booking_email = decision == "approved" and any(told for _, told in answers)
        if contact and contact.get("email") and not has_booking_email:
            continue_link = None
            if decision == "approved":
                continue_link = external_url("screening.continue_to_booking",
                                             token=screening_services.new_approval_token(screening))
            subject, body = decision_email(decision, screening, contact, continue_link=continue_link)
            notify.enqueue(f"screening_{decision}", contact["email"], subject, body)
    return screening


# --- Acknowledging an anonymous crisis ----------------------------------------------------------------------------

CLOSE_NOTE_REQUIRED = "Write a note: what you did or checked, for the clinical team (it is never emailed)."


def can_close(screening: Screening) -> bool:
    """An anonymous crisis awaiting a clinician: nobody can be reached, so no decision can be sent; a clinician
    acknowledges it with a note, which closes it. (A crisis with contact details is declined once reached.)"""
    return (screening.outcome == "crisis" and screening.contact_encrypted is None
            and screening.review_status in OPEN_REVIEW_STATUSES)


def acknowledge_and_close(screening_id: int, note: str, clinician) -> Screening:
    """Close an anonymous crisis with the clinician's note (required, stored encrypted), audited without it, in
    one unit of work. The on-call alert was sent when it arrived; nothing is emailed now (there is no address)."""
    note = (note or "").strip()
    if not note:
        raise ValidationFailed({"close_note": [CLOSE_NOTE_REQUIRED]})
    if len(note) > NOTE_MAX_LENGTH:
        raise ValidationFailed({"close_note": [f"Keep the note under {NOTE_MAX_LENGTH} characters."]})
    if clinician is None or "clinician" not in (clinician.roles or []):
        raise DomainError("Only a clinician can close a pre-screen.", code="forbidden", status=403)
    with unit_of_work():
        screening = db.session.scalar(
            sa.select(Screening).where(Screening.id == screening_id).with_for_update()
            .execution_options(populate_existing=True))
        if screening is None:
            raise NotFound("There is no such pre-screen.")
        if screening.review_status not in OPEN_REVIEW_STATUSES:
            raise DomainError("This pre-screen is not awaiting a clinician; it may have been closed already.",
                              code="screening_not_pending", status=409)
        if not can_close(screening):
            raise DomainError("Only a crisis result left without contact details is closed this way; decide this "
                              "one below.", code="screening_not_closable", status=409)
        screening.review_status = "closed"
        screening.reviewed_by_id = clinician.id
        screening.reviewed_at = now()
        screening.review_note_encrypted = crypto.encrypt_json(note)
        audit.record("screening.close", "screening", screening.id, {"decision": "closed"}, actor=clinician)
    return screening


CRISIS_LINES = (
    "If you are struggling right now: call or text 988 (Suicide & Crisis Lifeline, US), or chat at "
    "988lifeline.org. Veterans press 1; for Spanish press 2. In immediate danger, call 911 or go to the "
    "nearest emergency room."
)


def decision_email(decision: str, screening: Screening, contact: dict,
                   continue_link: str | None = None) -> tuple[str, str]:
    """Subject and body of the email telling the applicant of the decision. It never repeats an answer, a rule
    that fired or the clinician's note: email is not a private channel."""
    name = (contact.get("first_name") or "").strip()
    greeting = f"Dear {name}," if name else "Hello,"
    clinic = notify.clinic_name()
    reference = f"pre-screen {screening.id}"
    signature = f"With warm regards,\nThe clinical team at {clinic}\n\n{notify.clinic_contact()}"
    if decision == "approved":
        subject = f"{clinic}: a clinician has reviewed your pre-screen"
        body = (
            f"{greeting}\n\n"
            "Your pre-screen was approved by a clinician. You can now choose your dates and book:\n\n"
            f"{continue_link}\n\n"
            "Keep this link to yourself: it lets you book. The page it opens shows nothing about your health. "
            f"If it does not work, {clinic_details.contact_words()} and quote your reference ({reference}).\n\n"
            "This approval is not medical clearance: a medical evaluation at intake still decides whether "
            "treatment is right for you.\n\n"
            f"{signature}\n\n{CRISIS_LINES}\n"
        )
    elif decision == "declined":
        subject = f"{clinic}: about your pre-screen"
        body = (
            f"{greeting}\n\n"
            "Thank you for telling us about your health so openly. A clinician has reviewed your pre-screen "
            "carefully and, with regret, we cannot offer you a place in a ketamine-assisted program at this time. "
            "This decision is about safety with this particular treatment; it is not a judgement of you, and it "
            "does not mean that help is out of reach.\n\n"
            "If you paid a deposit, it is refunded in full; you do not need to do anything.\n\n"
            "Other paths that may help:\n"
            "- Talk with your own doctor, psychiatrist or therapist about what you told us; they can look at "
            "other treatments for depression, such as a change of medicine, psychotherapy or TMS.\n"
            "- If your circumstances change, you are welcome to take the pre-screen again.\n"
            f"- If you would like to talk this decision through, {clinic_details.contact_words()} and quote your "
            f"reference ({reference}).\n\n"
            f"{CRISIS_LINES}\n\n"
            f"{signature}\n"
        )
    elif decision == "records_requested":
        subject = f"{clinic}: we need some records to finish reviewing your pre-screen"
        body = (
            f"{greeting}\n\n"
            "A clinician has looked at your pre-screen and needs a little more information before deciding.\n\n"
            "What to send: recent records from your doctor, psychiatrist or therapist about your health, for "
            "example a recent blood-pressure reading, a list of your current medicines, or a letter from your "
            "prescriber. A clinician may phone you to say exactly which records help.\n\n"
            f"How to send them: ask your doctor's office to send them to our clinical team, quoting your reference "
            f"({reference}). Please do not reply to this email with medical records: ordinary email is not "
            "private enough for them.\n\n"
            f"{signature}\n\n{CRISIS_LINES}\n"
        )
    else:  # _check_decision refused it already
        raise ValueError(decision)
    return subject, body


# --- Key rotation ----------------------------------------------------------------------------------------------

ENCRYPTED_COLUMNS = screening_services.HEALTH_COLUMNS


def rotate_encryption(batch_size: int = ROTATE_BATCH_SIZE) -> int:
    """Re-encrypt every encrypted column (answers, findings, contact details, notes) under the newest key (the
    first of SCREENING_ENCRYPTION_KEYS), one unit of work every `batch_size` screenings. Returns how many
    screenings were re-encrypted. Once it has run, the old keys can be removed from the configuration."""
    has_encrypted = sa.or_(*(getattr(Screening, column).is_not(None) for column in ENCRYPTED_COLUMNS))
    last_id = 0
    count = 0
    while True:
        with unit_of_work():
            batch = db.session.scalars(
                sa.select(Screening).where(Screening.id > last_id, has_encrypted).order_by(Screening.id)
                .limit(batch_size)
            ).all()
            for screening in batch:
                for column in ENCRYPTED_COLUMNS:
                    value = getattr(screening, column)
                    if value is not None:
                        try:
                            setattr(screening, column, crypto.rotate(value))
                        except crypto.DecryptionError:
                            raise crypto.DecryptionError(
                                f"Screening {screening.id}: {column} cannot be decrypted with any configured key; "
                                f"{count} screening(s) were re-encrypted before it.") from None
            if batch:
                last_id = batch[-1].id
                count += len(batch)
        if not batch:
            break
    with unit_of_work():
        audit.record("screening.rotate_keys", "screening", "many", {"count": count})
    return count
