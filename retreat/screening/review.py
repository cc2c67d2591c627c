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

    @property
    def outcome_label(self) -> str:
        return OUTCOME_LABELS.get(self.outcome, self.outcome)

    @property
    def phq9_band_label(self) -> str | None:
        return PHQ9_BAND_LABELS.get(self.phq9_severity, self.phq9_severity) if self.phq9_severity else None


def review_queue() -> list[QueueItem]:
    """Screenings awaiting a clinician's decision, for clinicians only: urgent ones first, then the oldest first,
    with their findings decrypted."""
    screenings = db.session.scalars(
        sa.select(Screening)
        .where(Screening.review_status.in_(OPEN_REVIEW_STATUSES))
        .order_by(Screening.urgent.desc(), Screening.created_at, Screening.id)
    ).all()
    items = []
    for screening in screenings:
        findings = screening_services.read_findings(screening)
        items.append(QueueItem(
            screening.id, screening.outcome, screening.urgent, findings.reasons if findings else (),
            findings.phq9_total if findings else None, findings.phq9_severity if findings else None,
            screening.created_at, screening.review_requested_at, screening.review_status))
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


HEALTH_QUESTIONS = {
    "age": "Age",
    "weight_kg": "Weight",
    "pregnant_or_breastfeeding": "Pregnant or breastfeeding",
    "bp": "Recent blood pressure reading",
    "hypertension": "High blood pressure",
    "cardiac_event": "Heart attack, unstable angina or revascularisation",
    "aneurysm_avm_or_brain_bleed": "Aneurysm, arteriovenous malformation or bleed in the brain",
    "stroke_tia": "Stroke or TIA",
    "raised_intracranial_pressure": "Raised intracranial pressure",
    "glaucoma": "Glaucoma",
    "seizure_disorder": "Seizure disorder",
    "hyperthyroidism_uncontrolled": "Overactive thyroid, not under control",
    "severe_liver_disease": "Severe liver disease",
    "severe_lung_disease": "Severe lung disease",
    "ketamine_allergy": "Allergy to ketamine or esketamine",
    "prior_adverse_ketamine_reaction": "A bad (non-allergic) reaction to ketamine before",
    "psychosis": "Psychosis or a schizophrenia-spectrum diagnosis",
    "family_history_psychosis": "Psychosis in a parent or sibling",
    "bipolar": "Bipolar disorder",
    "substance_use": "Substance use (not tobacco)",
    "medications": "Medicines that interact with ketamine",
    "bladder_pain_or_interstitial_cystitis": "Bladder pain or interstitial cystitis",
    "failed_antidepressant_trials": "Adequate antidepressant trials that did not help",
}
CHOICE_LABELS = {
    "hypertension": {"none": "None", "controlled": "Yes, controlled", "uncontrolled": "Yes, not controlled"},
    "cardiac_event": {"none": "None", "within_12_months": "Within the past 12 months",
                      "over_12_months": "More than 12 months ago"},
    "psychosis": {"none": "None", "past_stable": "In the past, now stable", "current": "Current or diagnosed"},
    "bipolar": {"none": "None", "stable": "Yes, stable", "currently_manic": "Currently manic"},
    "substance_use": {"none": "None", "active": "Active use",
                      "recovery_under_12_months": "In recovery, under 12 months",
                      "recovery_12_months_plus": "In recovery, 12 months or more"},
}
MEDICATION_LABELS = {
    "benzodiazepine": "Benzodiazepine", "lamotrigine": "Lamotrigine", "maoi": "MAOI", "stimulant": "Stimulant",
}
PHQ9_CHOICE_LABELS = dict(questions.PHQ9_CHOICES)


def _yes_no(value) -> str:
    return "Yes" if value else "No"


def _health_row(name: str, value) -> AnswerRow:
    label = HEALTH_QUESTIONS.get(name, name.replace("_", " ").capitalize())
    if name == "weight_kg":
        return AnswerRow(label, f"{value:g} kg", not 40 <= value <= 150)
    if name == "age":
        return AnswerRow(label, f"{value}", value < 18)
    if name == "failed_antidepressant_trials":
        return AnswerRow(label, f"{value}", value < 2)
    if name == "medications":
        names = [MEDICATION_LABELS.get(item, item) for item in value]
        return AnswerRow(label, ", ".join(names) if names else "None", bool(names))
    if name in CHOICE_LABELS:
        return AnswerRow(label, CHOICE_LABELS[name].get(value, str(value)), value not in ("none",
                                                                                            "recovery_12_months_plus"))
    if isinstance(value, bool):
        return AnswerRow(label, _yes_no(value), value)
    return AnswerRow(label, str(value))


def readable_answers(answers: dict) -> ReadableAnswers:
    """The answers as question and answer in words, in the questionnaire's order."""
    health = []
    for name in questions.Answers().fields:
        if name in ("phq9", "cssrs"):
            continue
        if name == "bp_systolic":
            if "age" not in answers:  # the questionnaire stopped at the safety questions (a crisis exit)
                continue
            if answers.get("bp_systolic") is None:
                health.append(AnswerRow(HEALTH_QUESTIONS["bp"], "Not given", True))
            else:
                systolic, diastolic = answers["bp_systolic"], answers.get("bp_diastolic")
                health.append(AnswerRow(HEALTH_QUESTIONS["bp"], f"{systolic}/{diastolic} mmHg",
                                        systolic >= 140 or (diastolic or 0) >= 90))
            continue
        if name != "bp_diastolic" and name in answers:  # the diastolic reading is shown with the systolic
            health.append(_health_row(name, answers[name]))
    known = set(questions.Answers().fields)
    for name in sorted(set(answers) - known):  # a field of a later questionnaire version
        health.append(AnswerRow(name.replace("_", " ").capitalize(), str(answers[name])))

    scores = answers.get("phq9") or []
    phq9 = tuple(
        AnswerRow(f"{number}. {item}", f"{score}: {PHQ9_CHOICE_LABELS.get(score, score)}",
                  number == 9 and score >= 1)
        for number, (item, score) in enumerate(zip(questions.PHQ9_ITEMS, scores, strict=False), start=1)
    )
    cssrs_answers = answers.get("cssrs") or {}
    cssrs = tuple(
        AnswerRow(question, _yes_no(cssrs_answers[name]) if name in cssrs_answers else "Not asked",
                  bool(cssrs_answers.get(name)))
        for name, question in questions.CSSRS_QUESTIONS.items()
    )
    return ReadableAnswers(tuple(health), phq9, sum(scores) if scores else None, cssrs)


# --- The decision ----------------------------------------------------------------------------------------------

def decisions_for(screening: Screening) -> tuple[str, ...]:
    """The decisions a clinician may take on this screening."""
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
            f"If it does not work, contact us and quote your reference ({reference}).\n\n"
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
            f"- If you would like to talk this decision through, contact us and quote your reference ({reference}).\n\n"
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
