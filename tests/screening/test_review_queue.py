"""The clinician review queue: urgent first then oldest first; clinicians read answers (every view audited) and
decide; coordinators, finance and admins see no screening at all; a decision is audited, refused twice, and kept
out of the audit details."""

import re
from contextlib import nullcontext
from datetime import timedelta
from urllib.parse import urlsplit

import pytest
import sqlalchemy as sa
import time_machine

from retreat.core import crypto
from retreat.core.audit import AuditEntry
from retreat.core.clock import now
from retreat.core.errors import DomainError, NotFound, ValidationFailed
from retreat.extensions import db
from retreat.notify.models import OutboxEmail
from retreat.screening import review, rules, services
from retreat.screening.models import Screening
from retreat.screening.questions import CSSRS_QUESTIONS, PHQ9_ITEMS
from tests.conftest import STAFF_PASSWORD

CONTACT = {"first_name": "Marguerite", "last_name": "Okonkwo-Lindqvist", "email": "marguerite.ol@example.org",
           "phone": "+1 555 0142"}
NOTE = "Spoke with her psychiatrist; lamotrigine dose is stable."


def valid_answers(**changes) -> dict:
    """A complete, valid set of answers that gives `eligible`; keyword arguments replace fields."""
    answers = {
        "age": 42, "weight_kg": 71.5, "pregnant_or_breastfeeding": False,
        "bp_systolic": 122, "bp_diastolic": 78, "hypertension": "none", "cardiac_event": "none",
        "aneurysm_avm_or_brain_bleed": False, "stroke_tia": False, "raised_intracranial_pressure": False,
        "glaucoma": False, "seizure_disorder": False, "hyperthyroidism_uncontrolled": False,
        "severe_liver_disease": False, "severe_lung_disease": False, "ketamine_allergy": False,
        "prior_adverse_ketamine_reaction": False, "psychosis": "none", "family_history_psychosis": False,
        "bipolar": "none", "substance_use": "none", "medications": [],
        "bladder_pain_or_interstitial_cystitis": False, "failed_antidepressant_trials": 3,
        "phq9": [2, 2, 2, 2, 2, 2, 2, 2, 0],
        "cssrs": {"wish_dead": False, "suicidal_thoughts": False, "behavior": False},
    }
    answers.update(changes)
    return answers


def urgent_answers(**changes) -> dict:
    """Item 9 of the PHQ-9 answered: an urgent review."""
    return valid_answers(phq9=[2, 2, 2, 2, 2, 2, 2, 2, 1], **changes)


def review_answers(**changes) -> dict:
    """An interacting medicine: a review that is not urgent."""
    return valid_answers(medications=["lamotrigine"], **changes)


def make_screening(answers=None, *, contact=None, at=None, pending=False) -> Screening:
    """Submit through the service (at a past moment if `at`); `pending` puts a non-urgent one in the queue as the
    applicant's review request would."""
    with time_machine.travel(at, tick=False) if at else nullcontext():
        screening = services.submit(answers or valid_answers(), contact).screening
        if pending and screening.review_status is None:
            screening.review_status = "pending"
            screening.review_requested_at = now()
            db.session.commit()
    return screening


def signed_in(app, staff_user, *roles):
    """A new test client signed in as a new staff user with these roles; returns (client, user)."""
    user = staff_user(*roles, email=f"{'-'.join(roles)}.{len(roles)}@queue.example")
    client = app.test_client()
    response = client.post("/staff/login", data={"email": user.email, "password": STAFF_PASSWORD})
    assert response.status_code == 302
    return client, user


def audit_entries(action: str) -> list[AuditEntry]:
    db.session.expire_all()
    return list(db.session.scalars(sa.select(AuditEntry).where(AuditEntry.action == action)
                                   .order_by(AuditEntry.id)))


def row_ids(html: str) -> list[int]:
    return [int(value) for value in re.findall(r'data-screening-id="(\d+)"', html)]


@pytest.fixture
def queue(app):
    """Four pending screenings of mixed urgency and age, one eligible (not pending), one already decided."""
    base = now() - timedelta(days=10)
    old_review = make_screening(review_answers(), at=base, pending=True, contact=CONTACT)
    older_urgent = make_screening(urgent_answers(), at=base + timedelta(days=1))
    newer_urgent = make_screening(urgent_answers(), at=base + timedelta(days=2))
    new_review = make_screening(review_answers(), at=base + timedelta(days=3), pending=True)
    eligible = make_screening(valid_answers(), at=base + timedelta(days=4))
    decided = make_screening(review_answers(), at=base - timedelta(days=1), pending=True)
    decided.review_status = "approved"
    db.session.commit()
    return {"old_review": old_review.id, "older_urgent": older_urgent.id, "newer_urgent": newer_urgent.id,
            "new_review": new_review.id, "eligible": eligible.id, "decided": decided.id}


# --- The queue -------------------------------------------------------------------------------------------------

def test_the_queue_lists_pending_screenings_urgent_first_then_oldest_first(queue):
    items = review.review_queue()
    assert [item.id for item in items] == [queue["older_urgent"], queue["newer_urgent"], queue["old_review"],
                                          queue["new_review"]]
    urgent = items[0]
    assert (urgent.outcome, urgent.urgent, urgent.phq9_total, urgent.phq9_severity, urgent.phq9_band_label) == (
        "review", True, 17, "moderately_severe", "moderately severe")
    assert [reason["code"] for reason in urgent.reasons] == ["phq9_self_harm_item"]
    assert [reason["code"] for reason in items[2].reasons] == ["interacting_medication"]
    assert items[0].created_at < items[1].created_at
    assert not hasattr(urgent, "answers"), "the queue never carries answers"


def test_a_clinician_sees_the_queue_with_what_each_screening_found(app, staff_user, queue):
    client, _ = signed_in(app, staff_user, "clinician")
    response = client.get("/staff/screenings")
    assert response.status_code == 200
    html = response.get_data(as_text=True)
    assert row_ids(html) == [queue["older_urgent"], queue["newer_urgent"], queue["old_review"], queue["new_review"]]
    assert html.count('class="badge badge-urgent"') == 2
    assert rules.RULE_TITLES["phq9_self_harm_item"] in html and rules.RULE_TITLES["interacting_medication"] in html
    assert "phq9_self_harm_item" not in html and "interacting_medication" not in html, "rules in words, not codes"
    assert "moderately severe" in html
    for screening_id in row_ids(html):
        assert f'href="/staff/screenings/{screening_id}"' in html
    assert 'href="/staff/screenings"' in html, "the nav links to the queue"
    assert "lamotrigine" not in html.lower() and "Lamotrigine" not in html, "no answers in the queue"
    assert audit_entries("screening.read_answers") == [], "the list reads no answers"


@pytest.mark.parametrize("roles", [("coordinator",), ("finance",), ("admin",), ("coordinator", "finance", "admin")])
def test_only_clinicians_see_screenings(app, staff_user, queue, roles):
    """Coordinators see booking statuses in the bookings console, never a screening's outcome: the queue, its
    link in the menu and every screening page are refused to everyone but clinicians."""
    client, _ = signed_in(app, staff_user, *roles)
    assert client.get("/staff/screenings").status_code == 403
    assert client.get(f"/staff/screenings/{queue['old_review']}").status_code == 403
    assert client.post(f"/staff/screenings/{queue['old_review']}",
                       data={"decision": "approved"}).status_code == 403
    assert 'href="/staff/screenings"' not in client.get("/staff/password").get_data(as_text=True)
    assert audit_entries("screening.read_answers") == []
    assert db.session.get(Screening, queue["old_review"]).review_status == "pending"


def test_anonymous_visitors_are_sent_to_sign_in(client, queue):
    for url in ("/staff/screenings", f"/staff/screenings/{queue['old_review']}"):
        response = client.get(url)
        assert response.status_code == 302
        assert urlsplit(response.headers["Location"]).path == "/staff/login"
    assert client.post(f"/staff/screenings/{queue['old_review']}", data={"decision": "approved"}).status_code == 302
    assert audit_entries("screening.read_answers") == []


# --- The review page -------------------------------------------------------------------------------------------

def test_the_review_page_shows_answers_rules_band_and_contact_and_audits_every_view(app, staff_user, queue):
    client, clinician = signed_in(app, staff_user, "clinician")
    screening = make_screening(
        urgent_answers(medications=["lamotrigine", "maoi"], bp_systolic=150, bp_diastolic=95,
                       cssrs={"wish_dead": True, "suicidal_thoughts": False, "behavior": False}),
        contact=CONTACT)
    url = f"/staff/screenings/{screening.id}"

    response = client.get(url)
    assert response.status_code == 200
    assert response.headers["Cache-Control"] == "no-store"
    html = response.get_data(as_text=True)
    for text in ("Lamotrigine, MAOI", "150/95 mmHg", *(rules.RULE_TITLES[code] for code in (
                     "phq9_self_harm_item", "interacting_medication", "elevated_bp", "cssrs_ideation")),
                 "17 of 27, moderately severe", "Marguerite", CONTACT["email"], CONTACT["phone"],
                 "1: Several days", "Not asked", "Urgent."):
        assert text in html, text
    assert PHQ9_ITEMS[8] in html
    assert CSSRS_QUESTIONS["wish_dead"] in html
    assert "cssrs_ideation" not in html and "elevated_bp" not in html, "rules in words, not codes"
    assert 'name="decision"' in html and 'value="records_requested"' in html

    assert client.get(url).status_code == 200
    entries = audit_entries("screening.read_answers")
    assert [(e.actor_id, e.target_type, e.target_id, e.details) for e in entries] == [
        (clinician.id, "screening", str(screening.id), {})] * 2, "one audit entry per view, with no answers"


def test_a_purged_screening_says_when_its_answers_went(app, staff_user):
    client, clinician = signed_in(app, staff_user, "clinician")
    screening = make_screening(review_answers(), at=now() - timedelta(days=120), pending=True, contact=CONTACT)
    with time_machine.travel(now() - timedelta(days=100), tick=False):
        review.decide(screening.id, "declined", NOTE, clinician)
    assert services.purge_old_answers() == 1
    html = client.get(f"/staff/screenings/{screening.id}").get_data(as_text=True)
    assert f"Answers purged on {now():%Y-%m-%d}" in html
    assert "interacting_medication" not in html, "the rules that fired went with the answers"
    assert "Purged with the answers." in html and "Needs review" in html, "the outcome remains"
    assert "Declined" in html and NOTE not in html, "the decision remains, its note went with the answers"
    assert CONTACT["email"] not in html and "Lamotrigine" not in html
    assert len(audit_entries("screening.read_answers")) == 1


def test_an_unknown_screening_is_404(app, staff_user):
    client, _ = signed_in(app, staff_user, "clinician")
    assert client.get("/staff/screenings/987654").status_code == 404
    with pytest.raises(NotFound):
        review.screening_for_review(987654)


# --- Deciding --------------------------------------------------------------------------------------------------

def test_a_clinician_decides_on_the_page_and_the_decision_is_audited_without_the_note(app, staff_user, queue):
    client, clinician = signed_in(app, staff_user, "clinician")
    screening_id = queue["old_review"]
    response = client.post(f"/staff/screenings/{screening_id}", data={"decision": "approved", "note": NOTE})
    assert response.status_code == 302
    assert urlsplit(response.headers["Location"]).path == "/staff/screenings"
    followed = client.get("/staff/screenings").get_data(as_text=True)
    assert f"Decision recorded for pre-screen {screening_id}: approved." in followed
    assert screening_id not in row_ids(followed)

    db.session.expire_all()
    screening = db.session.get(Screening, screening_id)
    assert (screening.review_status, screening.reviewed_by_id) == ("approved", clinician.id)
    assert screening.reviewed_at is not None
    assert crypto.decrypt_json(screening.review_note_encrypted) == NOTE
    [entry] = audit_entries("screening.decide")
    assert (entry.actor_id, entry.target_id, entry.details) == (clinician.id, str(screening_id),
                                                                {"decision": "approved"})
    assert "psychiatrist" not in str(entry.details)

    page = client.get(f"/staff/screenings/{screening_id}").get_data(as_text=True)
    assert "Approved" in page and NOTE in page and clinician.name in page
    assert 'name="decision"' not in page, "no form once decided"


def test_records_requested_stays_open_and_a_final_decision_is_refused_again(app, staff_user, queue):
    client, clinician = signed_in(app, staff_user, "clinician")
    screening_id = queue["older_urgent"]
    review.decide(screening_id, "records_requested", "Need the last ECG.", clinician)
    assert screening_id in [item.id for item in review.review_queue()]  # still open: waiting for records
    page = client.get(f"/staff/screenings/{screening_id}").get_data(as_text=True)
    assert 'name="decision"' in page and "Records requested" in page  # the clinician can decide on the page

    review.decide(screening_id, "declined", "Reached by phone; ECG shows a recent event.", clinician)
    assert screening_id not in [item.id for item in review.review_queue()]
    with pytest.raises(DomainError) as refused:
        review.decide(screening_id, "approved", "", clinician)
    assert (refused.value.status, refused.value.code) == (409, "screening_not_pending")

    response = client.post(f"/staff/screenings/{screening_id}", data={"decision": "declined", "note": "No."})
    assert response.status_code == 409
    assert "not awaiting a decision" in response.get_data(as_text=True)
    db.session.expire_all()
    assert db.session.get(Screening, screening_id).review_status == "declined"
    assert [e.details for e in audit_entries("screening.decide")] == [
        {"decision": "records_requested"}, {"decision": "declined"}]

    for other in (queue["eligible"], queue["decided"]):
        with pytest.raises(DomainError) as refused:
            review.decide(other, "approved", "", clinician)
        assert refused.value.status == 409


def test_invalid_decisions_and_missing_notes_are_refused(app, staff_user, queue):
    client, clinician = signed_in(app, staff_user, "clinician")
    screening_id = queue["new_review"]
    with pytest.raises(ValidationFailed) as refused:
        review.decide(screening_id, "maybe", "", clinician)
    assert list(refused.value.fields) == ["decision"]
    for decision in ("declined", "records_requested"):
        with pytest.raises(ValidationFailed) as refused:
            review.decide(screening_id, decision, "   ", clinician)
        assert list(refused.value.fields) == ["note"]

    response = client.post(f"/staff/screenings/{screening_id}", data={"decision": "declined", "note": ""})
    assert response.status_code == 422
    assert "Write a note" in response.get_data(as_text=True)
    response = client.post(f"/staff/screenings/{screening_id}", data={"decision": "perhaps"})
    assert response.status_code == 422

    coordinator = staff_user("coordinator", email="coord@queue.example")
    with pytest.raises(DomainError) as refused:
        review.decide(screening_id, "approved", "", coordinator)
    assert refused.value.status == 403

    db.session.expire_all()
    assert db.session.get(Screening, screening_id).review_status == "pending"
    assert audit_entries("screening.decide") == []
    assert db.session.scalar(sa.select(sa.func.count()).select_from(OutboxEmail)) == 0


CRISIS_CSSRS = {"wish_dead": True, "suicidal_thoughts": True, "method": True, "intent": True, "plan": False,
                "behavior": False}


def test_a_crisis_result_cannot_be_approved_for_booking_but_can_be_closed(app, staff_user):
    client, clinician = signed_in(app, staff_user, "clinician")
    crisis = make_screening(valid_answers(cssrs=CRISIS_CSSRS), contact=CONTACT)  # reachable: decided, not closed
    assert (crisis.outcome, crisis.review_status) == ("crisis", "pending")
    html = client.get(f"/staff/screenings/{crisis.id}").get_data(as_text=True)
    assert 'value="approved"' not in html and 'value="declined"' in html

    with pytest.raises(ValidationFailed) as refused:
        review.decide(crisis.id, "approved", "", clinician)
    assert list(refused.value.fields) == ["decision"]
    assert client.post(f"/staff/screenings/{crisis.id}", data={"decision": "approved"}).status_code == 422
    db.session.expire_all()
    assert db.session.get(Screening, crisis.id).review_status == "pending"

    response = client.post(f"/staff/screenings/{crisis.id}",
                           data={"decision": "declined", "note": "Reached by phone; safety plan agreed."})
    assert response.status_code == 302
    db.session.expire_all()
    assert db.session.get(Screening, crisis.id).review_status == "declined"


def test_a_crisis_exit_screening_shows_the_safety_answers_it_has(app, staff_user):
    from retreat.screening import early

    client, _ = signed_in(app, staff_user, "clinician")
    screening = early.submit_crisis_early({"phq9": [3, 3, 3, 3, 3, 3, 3, 3, 3], "cssrs": CRISIS_CSSRS}).screening
    response = client.get(f"/staff/screenings/{screening.id}")
    assert response.status_code == 200
    html = response.get_data(as_text=True)
    assert "Health questions not asked" in html
    assert "Recent blood pressure reading" not in html
    assert "27 of 27, severe" in html and CSSRS_QUESTIONS["intent"] in html
    assert rules.RULE_TITLES["cssrs_intent_or_plan"] in html and "cssrs_intent_or_plan" not in html
