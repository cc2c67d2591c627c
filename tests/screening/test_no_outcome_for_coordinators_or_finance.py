"""Coordinators and finance never see a screening outcome (issue "Trust", point 4): with a crisis, urgent reviews,
an approved and a declined review and an ineligible screen in the database, every page, CSV, spreadsheet and JSON
answer these roles can open holds no outcome, reason (code or wording), urgency, PHQ-9 score or the word
"crisis". They see booking statuses (held, pending review, confirmed, declined ...). Clinicians, and only they,
see the health side.

The walk reads the app's url_map, so a page added later for these roles is covered too: a route with an argument
this file cannot fill fails the test until it is taught here."""

import io
import re
import zipfile
from datetime import timedelta

import pytest
from flask import url_for

from retreat.arrival import intake
from retreat.booking import rooms
from retreat.booking import services as booking_services
from retreat.booking.states import BOOKING_STATUS_LABELS
from retreat.catalog import discounts
from retreat.core.clock import now
from retreat.extensions import db
from retreat.finance.exports import FORMATS
from retreat.screening import early, review, services
from retreat.screening.review import OUTCOME_LABELS
from retreat.staff import api_tokens
from retreat.staff.access import allowed_roles
from tests.arrival.test_intake import COMPLETE as INTAKE
from tests.booking.support import APPLICANT, confirm_email, make_cohort
from tests.conftest import STAFF_PASSWORD
from tests.screening.test_review_queue import CONTACT, review_answers, urgent_answers, valid_answers

CRISIS_CSSRS = {"wish_dead": True, "suicidal_thoughts": True, "method": True, "intent": True, "plan": False,
                "behavior": False}
# Words of the health side that no coordinator or finance answer may hold, besides each screening's own reason
# codes and wording. ("Eligible" is left out: "HSA/FSA eligible" is a money word on finance pages.)
HEALTH_WORDS = ("crisis", "urgent", "phq", "cssrs", "c-ssrs", "outcome-", "severity", "self-harm", "suicid",
                *(label.lower() for outcome, label in OUTCOME_LABELS.items() if outcome != "eligible"),
                *(label.lower() for label in review.PHQ9_BAND_LABELS.values()))


def applicant(number: int) -> dict:
    return dict(APPLICANT, email=f"applicant{number}@example.org", last_name=f"Rivera{number}")


@pytest.fixture
def health_side(app, staff_user):
    """Screenings of every kind, three of them behind bookings in one cohort; returns what the pages must hide and
    the bookings they must show."""
    cohort = make_cohort(capacity=10)
    clinician = staff_user("clinician", email="clinician@health.example")
    crisis = services.submit(valid_answers(cssrs=CRISIS_CSSRS), CONTACT)
    urgent = services.submit(urgent_answers())
    early.request_review(urgent.screening, CONTACT)
    awaiting = booking_services.create_booking(policy_accepted=True, cohort_id=cohort.id,
                                               screening_token=urgent.token, lodging="shared",
                                               applicant=applicant(1)).booking
    approved = services.submit(review_answers())
    paid = booking_services.create_booking(policy_accepted=True, cohort_id=cohort.id, screening_token=approved.token,
                                           lodging="shared",
                                           applicant=applicant(2)).booking
    confirm_email(paid)
    review.decide(approved.screening.id, "approved", "Spoke with her prescriber; dose stable.", clinician)
    paid = booking_services.booking_by_reference(paid.reference)
    booking_services.payment_received(paid.reference, kind="deposit", amount_cents=paid.deposit_cents,
                                      provider="demo", provider_reference="demo_health_side")
    declined = services.submit(review_answers(bipolar="stable", family_history_psychosis=True))
    refused = booking_services.create_booking(policy_accepted=True, cohort_id=cohort.id,
                                              screening_token=declined.token, lodging="none",
                                              applicant=applicant(3)).booking
    confirm_email(refused)
    review.decide(declined.screening.id, "declined", "Bipolar history; not suitable for now.", clinician)
    ineligible = services.submit(valid_answers(age=17, ketamine_allergy=True))

    findings = [submitted.findings for submitted in (crisis, urgent, approved, declined, ineligible)]
    codes = {reason["code"] for f in findings for reason in f.reasons}
    assert {"cssrs_intent_or_plan", "phq9_self_harm_item", "interacting_medication", "bipolar_stable",
            "ketamine_allergy"} <= codes, codes
    from retreat.screening.rules import RULE_TITLES  # the rules in clinicians' words

    forbidden = {*HEALTH_WORDS, *codes, *(reason["message"].lower() for f in findings for reason in f.reasons),
                 *(RULE_TITLES[code].lower() for code in codes), "prescriber", "bipolar", "lamotrigine", "codeine"}
    references = {booking.reference: booking_services.booking_by_reference(booking.reference).status
                  for booking in (awaiting, paid, refused)}
    assert sorted(references.values()) == ["confirmed", "declined", "pending_review"]
    # The intake: medications and allergies are for clinicians alone; finance sees none of the intake.
    intake.save_intake(paid, {**INTAKE, "medications": "Lamotrigine 200 mg", "allergies": "Latex and codeine"})
    code = discounts.create_code({"code": "HEALTHSIDE10", "percent_off": 10, "amount_off_cents": None,
                                  "program_ids": [], "max_uses": None}, actor="test")
    room = rooms.create_room("Cedar", 2)
    db.session.commit()
    intake_words = {INTAKE["emergency_name"].lower(), INTAKE["ride_home_name"].lower(), INTAKE["dietary_needs"].lower()}
    return {"cohort": cohort, "forbidden": forbidden, "references": references, "code_id": code.id,
            "room_id": room.id, "intake": intake_words}


def signed_in(app, staff_user, role: str):
    user = staff_user(role, email=f"{role}@pages.example")
    client = app.test_client()
    assert client.post("/staff/login", data={"email": user.email, "password": STAFF_PASSWORD}).status_code == 302
    return client, user


def urls_for(app, role: str, health_side: dict) -> list[str]:
    """Every GET page of the staff console this role may open, with each argument filled with real rows."""
    cohort = health_side["cohort"]
    day = now().date()
    values = {
        "reference": sorted(health_side["references"]),
        "cohort_id": [cohort.id],
        "program_id": [cohort.program_id],
        "version": [1],
        "code_id": [health_side["code_id"]],
        "room_id": [health_side["room_id"]],
        "export_format": list(FORMATS),
        "fmt": ["csv", "xlsx"],  # the readiness board's roster export
    }
    period = {"date_from": (day - timedelta(days=7)).isoformat(), "date_to": (day + timedelta(days=1)).isoformat()}
    urls = []
    for rule in app.url_map.iter_rules():
        if not rule.endpoint.startswith("staff.") or "GET" not in rule.methods or rule.endpoint == "staff.login":
            continue
        if role not in (allowed_roles(rule.endpoint) or ()):
            continue
        names = sorted(rule.arguments)
        unknown = set(names) - set(values)
        assert not unknown, f"{rule.endpoint}: teach this test the argument(s) {unknown}"
        combinations = [{}]
        for name in names:
            combinations = [{**combo, name: value} for combo in combinations for value in values[name]]
        with app.test_request_context():
            for combo in combinations:
                query = period if rule.endpoint in ("staff.finance_export", "staff.finance_ledger") else {}
                urls.append(url_for(rule.endpoint, **combo, **query))
    if role in allowed_roles("staff.finance_booking_lookup"):
        urls += [url_for_lookup(reference, app) for reference in health_side["references"]]
    return urls


def url_for_lookup(reference: str, app) -> str:
    with app.test_request_context():
        return url_for("staff.finance_booking_lookup", reference=reference)


def body_text(response) -> str:
    """The text of a response: a page, a CSV, or every file inside a ZIP (an XLSX, a bundle of CSVs)."""
    data = response.get_data()
    if data.startswith(b"PK"):
        with zipfile.ZipFile(io.BytesIO(data)) as bundle:
            return "\n".join(bundle.read(name).decode("utf-8", "replace") for name in bundle.namelist())
    return data.decode("utf-8-sig", "replace")


def leaks(text: str, forbidden: set[str]) -> list[str]:
    lowered = re.sub(r"\s+", " ", text.lower())
    return sorted(word for word in forbidden if word in lowered)


@pytest.mark.parametrize("role", ["coordinator", "finance"])
def test_no_page_export_or_json_of_coordinators_or_finance_shows_a_screening_outcome(app, staff_user, health_side,
                                                                                     role):
    client, user = signed_in(app, staff_user, role)
    urls = urls_for(app, role, health_side)
    # Finance sees nothing of the intake; coordinators see all of it but medications and allergies.
    forbidden = health_side["forbidden"] | (health_side["intake"] if role == "finance" else set())
    seen = ""
    for url in urls:
        response = client.get(url, follow_redirects=True)
        assert response.status_code == 200, (url, response.status_code)
        text = body_text(response)
        assert not leaks(text, forbidden), (url, leaks(text, forbidden))
        seen += text
    if role == "finance":
        _, token = api_tokens.create_token(user, "Leak check")
        day = now().date()
        for output in ("json", "csv", "xlsx"):
            response = client.get("/api/v1/finance/payments", headers={"Authorization": f"Bearer {token}"},
                                  query_string={"from": (day - timedelta(days=7)).isoformat(),
                                                "to": (day + timedelta(days=1)).isoformat(), "format": output})
            assert response.status_code == 200, response.get_data(as_text=True)
            text = body_text(response)
            assert not leaks(text, forbidden), (output, leaks(text, forbidden))
            seen += text

    # The walk saw the bookings and their statuses: what these roles see instead of an outcome.
    for reference in health_side["references"]:
        assert reference in seen, reference
    if role == "coordinator":
        assert all(word in seen.lower() for word in health_side["intake"]), "coordinators see the intake"
    for status in set(health_side["references"].values()):
        assert BOOKING_STATUS_LABELS[status].lower() in seen.lower() or status in seen, status
    assert client.get("/staff/screenings").status_code == 403


def test_clinicians_see_the_health_side(app, staff_user, health_side):
    client, _ = signed_in(app, staff_user, "clinician")
    html = client.get("/staff/screenings").get_data(as_text=True)
    from retreat.screening.rules import RULE_TITLES  # the rules in words, as the queue shows them

    for word in ("Crisis", "Urgent", RULE_TITLES["phq9_self_harm_item"], RULE_TITLES["cssrs_intent_or_plan"], "PHQ-9"):
        assert word in html, word
