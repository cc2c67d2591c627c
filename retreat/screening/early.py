"""Two services of the web questionnaire: the crisis exit after the safety questions, and an applicant's request
for a clinician review.

An applicant whose safety answers already signal a crisis is never asked the remaining questions: their
screen is stored at once, from the answers given so far, and the on-call clinician is alerted exactly as
services.submit does for a complete one.
"""

from dataclasses import replace

import sqlalchemy as sa
from marshmallow import ValidationError

from retreat.core import crypto
from retreat.core.clock import now
from retreat.core.errors import DomainError, ValidationFailed, flatten_field_errors
from retreat.core.transactions import unit_of_work
from retreat.extensions import db
from retreat.screening import questions, rules, services
from retreat.screening.models import Screening
from retreat.screening.questions import ANSWERS
from retreat.screening.services import Submitted

# What the questionnaire has asked when the safety answers give a crisis: the answers of the steps up to the
# safety step.
EARLY_QUESTIONS = tuple(question for question in questions.QUESTIONS if question.step <= questions.SAFETY_STEP)
EARLY_ANSWERS = questions.answer_names(EARLY_QUESTIONS)
# Facts the early answers hold: a rule that tests any other fact was never asked, and does not fire here
# (a missing blood pressure, say, would otherwise give "we need a reading").
ASKED_FACTS = questions.fact_names(EARLY_QUESTIONS)


def _validate_early(partial_answers: object) -> dict:
    if not isinstance(partial_answers, dict) or set(partial_answers) != set(EARLY_ANSWERS):
        raise ValidationFailed({"answers": [f"Send exactly the answers {', '.join(EARLY_ANSWERS)}."]})
    later = tuple(name for name in ANSWERS.fields if name not in EARLY_ANSWERS)
    try:
        return ANSWERS.load(partial_answers, partial=later)
    except ValidationError as error:
        raise ValidationFailed(flatten_field_errors(error.messages, "answers.", whole="answers")) from None


def is_crisis(partial_answers: dict) -> bool:
    """Whether the answers given so far already give a crisis (the crisis rules test the C-SSRS answers only)."""
    return rules.evaluate(partial_answers).outcome == "crisis"


def submit_crisis_early(partial_answers: object) -> Submitted:
    """Store a crisis screen from the PHQ-9 and C-SSRS answers alone, and alert the on-call clinician.

    The answers are validated (complete PHQ-9 and C-SSRS, nothing else) and must give a crisis, or this
    refuses (ValueError): a screen that is not a crisis goes through services.submit with every answer.
    The reasons stored are the rules that fire on the questions asked; rules that test a question not asked
    are left out. Urgent, pending review, answers encrypted, the alert queued in the same transaction.
    """
    checked = _validate_early(partial_answers)
    result = rules.evaluate(checked)
    if result.outcome != "crisis":
        raise ValueError("These answers do not give a crisis; submit the complete answers instead.")
    asked = {rule.code for rule in rules.RULE_SETS[result.rules_version]
             if rules.facts_read(rule.when) <= ASKED_FACTS}
    return services.store(checked, replace(result, reasons=tuple(r for r in result.reasons if r.code in asked)))


CONTACT_FIELDS = ("first_name", "last_name", "email", "phone")


# Who may ask for a review from their result page: a review outcome (the seat request), and an ineligible one
# with an urgent reason, whose message promises that a clinician will reach out (they need a way to).
def can_request_review(screening: Screening) -> bool:
    if screening.outcome == "review":
        return True
    return screening.outcome == "ineligible" and screening.urgent


def ensure_review_can_be_requested(screening: Screening) -> None:
    """Refuse (DomainError) a request this screen cannot take."""
    if not can_request_review(screening):
        raise DomainError("This pre-screen result does not take a review request.", code="review_not_available")
    if screening.review_status == "records_requested":
        raise DomainError("A clinician has asked for some records about this pre-screen; please reply to their "
                          "email.", code="review_records_requested")
    if screening.review_status not in (None, "pending"):
        raise DomainError("A clinician has already decided on this pre-screen.", code="review_decided")
    if screening.answers_purged_at is not None:
        raise DomainError("This pre-screen has expired; please take it again.", code="screening_expired",
                          status=422)


def request_review(screening: Screening, contact: dict[str, str]) -> Screening:
    """Record the applicant's request for a clinician review, with their contact details encrypted.

    The review becomes pending (again, if the applicant sends new details before a decision). The seat itself
    is not held here: holding seats comes with bookings, in a later change; until then the clinician's
    decision is emailed and an approved applicant books from their result page. Not audited: this is the
    applicant acting on their own screen, not staff reading health data.
    """
    ensure_review_can_be_requested(screening)
    problems = {name: ["Unknown field."] for name in set(contact) - set(CONTACT_FIELDS)}
    problems |= {name: ["Missing data for required field."] for name in CONTACT_FIELDS
                 if not isinstance(contact.get(name), str) or not contact[name].strip()}
    if problems:
        raise ValidationFailed(problems)
    screening_id = screening.id
    # Under the same lock as a clinician's decision (a locked write from the start), so a decision made meanwhile
    # is never overwritten; a refusal rolls the unit back.
    with unit_of_work():
        screening = db.session.scalar(
            sa.select(Screening).where(Screening.id == screening_id).with_for_update()
            .execution_options(populate_existing=True))
        ensure_review_can_be_requested(screening)
        screening.contact_encrypted = crypto.encrypt_json({name: contact[name] for name in CONTACT_FIELDS})
        screening.review_status = "pending"
        if screening.review_requested_at is None:  # an urgent screen is pending from its submission on
            screening.review_requested_at = now()
    return screening
