"""An anonymous crisis (no contact details: nobody to write to) is acknowledged and closed by a clinician with a
note: required, kept encrypted, audited without it, one unit of work; it leaves the open queue and is listed under
"closed". Other roles are refused; a crisis with contact details is decided, not closed."""

import pytest
import sqlalchemy as sa

from retreat.core import crypto
from retreat.core.audit import AuditEntry
from retreat.core.errors import DomainError, ValidationFailed
from retreat.extensions import db
from retreat.notify.models import OutboxEmail
from retreat.screening import review, rules
from retreat.screening.models import Screening
from tests.screening.test_review_queue import CONTACT, CRISIS_CSSRS, make_screening, signed_in, valid_answers

NOTE = "On-call alert received at 02:10 and reviewed; no contact details, nothing more can be done."


@pytest.fixture
def crisis(app) -> Screening:
    screening = make_screening(valid_answers(cssrs=CRISIS_CSSRS))
    assert (screening.outcome, screening.review_status, screening.contact_encrypted) == ("crisis", "pending", None)
    return screening


def fresh(screening_id: int) -> Screening:
    db.session.expire_all()
    return db.session.get(Screening, screening_id)


def closes() -> list[AuditEntry]:
    db.session.rollback()
    return list(db.session.scalars(sa.select(AuditEntry).where(AuditEntry.action == "screening.close")))


def test_the_review_page_offers_the_close_form_with_the_rules_in_words(app, staff_user, crisis):
    client, _ = signed_in(app, staff_user, "clinician")
    html = client.get(f"/staff/screenings/{crisis.id}").get_data(as_text=True)
    assert f'action="/staff/screenings/{crisis.id}/close"' in html and 'name="close_note"' in html
    assert 'name="decision"' not in html, "an anonymous crisis takes no decision: nobody can be told"
    assert rules.RULE_TITLES["cssrs_intent_or_plan"] in html and "cssrs_intent_or_plan" not in html


def test_a_clinician_closes_it_with_a_note_and_it_leaves_the_open_queue(app, staff_user, crisis):
    client, clinician = signed_in(app, staff_user, "clinician")
    emails_before = db.session.scalar(sa.select(sa.func.count()).select_from(OutboxEmail))
    response = client.post(f"/staff/screenings/{crisis.id}/close", data={"close_note": f"  {NOTE}  "})
    assert response.status_code == 302 and response.headers["Location"].endswith("/staff/screenings")

    closed = fresh(crisis.id)
    assert (closed.review_status, closed.reviewed_by_id) == ("closed", clinician.id)
    assert crypto.decrypt_json(closed.review_note_encrypted) == NOTE
    [entry] = closes()
    assert (entry.actor_id, entry.target_id, entry.details) == (clinician.id, str(crisis.id), {"decision": "closed"})
    assert NOTE not in str(entry.details)
    assert db.session.scalar(sa.select(sa.func.count()).select_from(OutboxEmail)) == emails_before, "no email"

    queue = client.get("/staff/screenings").get_data(as_text=True)
    assert f'data-screening-id="{crisis.id}"' not in queue
    listed = client.get("/staff/screenings?show=closed").get_data(as_text=True)
    assert f'data-screening-id="{crisis.id}"' in listed and "Closed" in listed
    page = client.get(f"/staff/screenings/{crisis.id}").get_data(as_text=True)
    assert "Acknowledged and closed" in page and NOTE in page and 'name="close_note"' not in page

    again = client.post(f"/staff/screenings/{crisis.id}/close", data={"close_note": "twice"})
    assert again.status_code == 409 and len(closes()) == 1


@pytest.mark.parametrize("note", ["", "   \n "])
def test_closing_without_a_note_is_refused_and_changes_nothing(app, staff_user, crisis, note):
    client, clinician = signed_in(app, staff_user, "clinician")
    response = client.post(f"/staff/screenings/{crisis.id}/close", data={"close_note": note})
    assert response.status_code == 422
    html = response.get_data(as_text=True)
    assert review.CLOSE_NOTE_REQUIRED.replace("'", "&#39;") in html and 'href="#close_note"' in html
    with pytest.raises(ValidationFailed) as refused:
        review.acknowledge_and_close(crisis.id, note, clinician)
    assert list(refused.value.fields) == ["close_note"]
    assert fresh(crisis.id).review_status == "pending" and closes() == []


@pytest.mark.parametrize("roles", [("coordinator",), ("finance",), ("admin",)])
def test_other_roles_cannot_close_it(app, staff_user, crisis, roles):
    client, user = signed_in(app, staff_user, *roles)
    assert client.post(f"/staff/screenings/{crisis.id}/close", data={"close_note": NOTE}).status_code == 403
    with pytest.raises(DomainError) as refused:
        review.acknowledge_and_close(crisis.id, NOTE, user)
    assert refused.value.status == 403
    assert fresh(crisis.id).review_status == "pending" and closes() == []


def test_a_crisis_with_contact_details_is_decided_not_closed(app, staff_user):
    client, clinician = signed_in(app, staff_user, "clinician")
    reachable = make_screening(valid_answers(cssrs=CRISIS_CSSRS), contact=CONTACT)
    assert 'name="close_note"' not in client.get(f"/staff/screenings/{reachable.id}").get_data(as_text=True)
    assert client.post(f"/staff/screenings/{reachable.id}/close", data={"close_note": NOTE}).status_code == 409
    with pytest.raises(DomainError):
        review.acknowledge_and_close(reachable.id, NOTE, clinician)
    assert fresh(reachable.id).review_status == "pending" and closes() == []


def test_every_rule_has_words():
    codes = {rule.code for rule_set in rules.RULE_SETS.values() for rule in rule_set}
    assert codes == set(rules.RULE_TITLES)
    assert rules.rule_title("gone_rule", "What it said") == "What it said"
