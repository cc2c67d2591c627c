"""Helpers for booking tests: a bookable cohort, pre-screen tokens of each outcome, an applicant."""

from datetime import timedelta

from retreat.catalog.models import Cohort, Program
from retreat.core.clock import today
from retreat.extensions import db
from retreat.screening import services as screening_services
from retreat.screening.models import Screening
from tests.screening.test_review_queue import review_answers, valid_answers

APPLICANT = {"first_name": "Alex", "last_name": "Rivera", "email": "alex@example.org", "phone": "+1 555 123 4567"}
_programs = 0


def make_program(**changes) -> Program:
    """A published 7-day IV/EMDR program offering every lodging ($4,970 with a shared room)."""
    global _programs
    _programs += 1
    values = dict(
        slug=f"test-program-{_programs}", name="Seven-day IV ketamine with EMDR", summary="A test program.",
        description="A test program.", location="Asheville, NC", duration_days=7, ketamine_route="iv",
        dosing_sessions=4, therapy_modality="emdr", integration_sessions=4, intensive_sessions=1,
        lodging_options=["none", "shared", "private"], published=True)
    values.update(changes)
    program = Program(**values)
    db.session.add(program)
    db.session.commit()
    return program


def make_cohort(capacity: int = 5, *, starts_in_days: int = 60, program: Program | None = None) -> Cohort:
    program = program or make_program()
    start = today() + timedelta(days=starts_in_days)
    cohort = Cohort(program=program, start_date=start, end_date=start + timedelta(days=program.duration_days - 1),
                    capacity=capacity)
    db.session.add(cohort)
    db.session.commit()
    return cohort


def eligible_token() -> str:
    return screening_services.submit(valid_answers()).token


def review_token(*, approved: bool = False) -> str:
    submitted = screening_services.submit(review_answers())
    if approved:
        screening = db.session.get(Screening, submitted.screening.id)
        screening.review_status = "approved"
        db.session.commit()
    return submitted.token


def ineligible_token() -> str:
    return screening_services.submit(valid_answers(age=17)).token


def booking_body(cohort: Cohort, token: str, **changes) -> dict:
    body = {"cohort_id": cohort.id, "screening_token": token, "lodging": "shared", "applicant": dict(APPLICANT),
            "policy_accepted": True}
    body.update(changes)
    return body


def confirm_email(booking) -> None:
    """What the applicant does with the link in the "seat held" email (a long hold needs it to last)."""
    from retreat.booking import hold_rules, services
    services.confirm_email(booking.reference, hold_rules.email_confirmation_token(booking))
