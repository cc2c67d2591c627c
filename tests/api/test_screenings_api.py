"""Contract tests of POST /api/v1/screenings (shared/API.md, "Pre-screening"; shared/domain/screening.md):
the response shape for each outcome, the secret token (only its hash stored), answers encrypted at rest and
never returned, the on-call alert for a crisis or an urgent review, and a 422 naming the field for every
validation error, with nothing stored."""

import copy
import hashlib
import json
import re
from datetime import UTC, datetime, timedelta

import pytest
import sqlalchemy as sa
import time_machine

from retreat.core import crypto
from retreat.extensions import db
from retreat.notify.models import OutboxEmail
from retreat.screening import services
from retreat.screening.models import Screening
from retreat.screening.rules import RULE_SETS
from tests.screening.test_rules import BASELINE, CONTRACT_V1, DROP, INVALID, INVALID_IDS, answers, cssrs, phq9

URL = "/api/v1/screenings"
ONCALL = "oncall.clinician@clinic.example"
WHEN = datetime(2031, 3, 4, 9, 30, 0, tzinfo=UTC)

RESULT_FIELDS = {"id", "token", "outcome", "rules_version", "reasons", "urgent", "phq9_total", "phq9_severity",
                 "crisis_resources", "valid_until"}
MESSAGES = {rule.code: rule.message for rule in RULE_SETS[1]}

# Distinctive answers, so that a leak of any of them into a response, a column or an email shows.
DISTINCT = {"age": 47, "weight_kg": 83.7, "medications": ["benzodiazepine"], "failed_antidepressant_trials": 4,
            "phq9": [3, 2, 3, 1, 2, 3, 0, 1, 0], "bp_systolic": 133, "bp_diastolic": 77}

# (outcome, answers, reason codes, urgent)
OUTCOME_CASES = {
    "eligible": (answers(age=47, weight_kg=83.7, phq9=[3, 2, 3, 1, 2, 3, 0, 1, 0]), [], False),
    "review": (answers(**DISTINCT), ["interacting_medication"], False),
    "ineligible": (answers(**{**DISTINCT, "pregnant_or_breastfeeding": True}),
                   ["pregnancy", "interacting_medication"], False),
    "crisis": (answers(**{**DISTINCT, "cssrs": cssrs(wish_dead=True, suicidal_thoughts=True, method=False,
                                                     intent=False, plan=True)}),
               ["cssrs_intent_or_plan", "cssrs_ideation", "interacting_medication"], True),
}


@pytest.fixture
def oncall(app):
    app.config["ONCALL_CLINICIAN_EMAIL"] = ONCALL
    return ONCALL


def post(client, body):
    return client.post(URL, json=body)


def screening_count() -> int:
    return db.session.scalar(sa.select(sa.func.count()).select_from(Screening))


def outbox() -> list[OutboxEmail]:
    db.session.expire_all()
    return db.session.scalars(sa.select(OutboxEmail).order_by(OutboxEmail.id)).all()


def leaves(value, key=None):
    """Every (key, scalar) in a JSON value."""
    if isinstance(value, dict):
        for k, v in value.items():
            yield from leaves(v, k)
    elif isinstance(value, list):
        for item in value:
            yield from leaves(item, key)
    else:
        yield key, value


def assert_no_answers_in(text: str, submitted: dict) -> None:
    """Neither an answer's field name (as a JSON key) nor a distinctive answer value appears in the text."""
    for name in (*submitted, *submitted["cssrs"]):
        assert f'"{name}"' not in text, name
    for name, value in submitted.items():
        if isinstance(value, str) and value != "none":
            assert f'"{value}"' not in text, (name, value)
    for medicine in submitted["medications"]:
        assert medicine not in text
    assert "83.7" not in text
    assert json.dumps(submitted["phq9"]) not in text and json.dumps(submitted["phq9"], separators=(",", ":")) \
        not in text


# --- 201: the shape of each outcome --------------------------------------------------------------------------

@pytest.mark.parametrize("outcome", list(OUTCOME_CASES))
def test_each_outcome_answers_201_with_the_contract_shape(client, oncall, outcome):
    submitted, expected_codes, urgent = OUTCOME_CASES[outcome]
    with time_machine.travel(WHEN, tick=False):
        response = post(client, {"answers": submitted})
    assert response.status_code == 201, response.get_data(as_text=True)
    assert response.mimetype == "application/json"
    body = response.get_json()

    assert set(body) == RESULT_FIELDS
    assert isinstance(body["id"], int)
    assert isinstance(body["token"], str)
    assert body["outcome"] == outcome
    assert body["rules_version"] == 1
    assert body["urgent"] is urgent
    assert body["reasons"] == [{"code": code, "message": MESSAGES[code], "outcome": CONTRACT_V1[code]}
                               for code in expected_codes]
    for reason in body["reasons"]:
        assert set(reason) == {"code", "message", "outcome"} and reason["message"]
    assert body["phq9_total"] == sum(submitted["phq9"]) == 15
    assert body["phq9_severity"] == "moderately_severe"

    resources = body["crisis_resources"]
    assert resources and all(set(resource) == {"name", "contact"} for resource in resources)
    assert all(resource["name"] and resource["contact"] for resource in resources)
    contacts = [resource["contact"] for resource in resources]
    assert "988" in contacts and "911" in contacts
    assert contacts[0] == "988"

    valid_until = datetime.fromisoformat(body["valid_until"])
    assert valid_until.utcoffset() == timedelta(0)
    assert valid_until == WHEN + timedelta(days=30)
    assert re.fullmatch(r"\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}(\.\d+)?\+00:00", body["valid_until"])

    assert_no_answers_in(response.get_data(as_text=True), submitted)
    answer_fields = {key for key, _ in leaves(submitted)}
    response_fields = {key for key, _ in leaves(body)}
    assert not response_fields & answer_fields, "an answer's field is in the response"


@pytest.mark.parametrize(("band_total", "severity"), [(0, "minimal"), (4, "minimal"), (5, "mild"), (9, "mild"),
                                                       (10, "moderate"), (14, "moderate"),
                                                       (15, "moderately_severe"), (19, "moderately_severe"),
                                                       (20, "severe"), (24, "severe")])
def test_phq9_total_and_severity_in_the_response(client, band_total, severity):
    response = post(client, {"answers": answers(phq9=phq9(band_total))})
    assert response.status_code == 201
    body = response.get_json()
    assert (body["phq9_total"], body["phq9_severity"]) == (band_total, severity)
    assert ("low_phq9" in [reason["code"] for reason in body["reasons"]]) is (band_total < 10)


def test_intent_after_no_to_suicidal_thoughts_is_a_crisis(client, oncall):
    response = post(client, {"answers": answers(cssrs=cssrs(intent=True))})
    assert response.status_code == 201
    body = response.get_json()
    assert (body["outcome"], body["urgent"]) == ("crisis", True)
    assert [reason["code"] for reason in body["reasons"]] == ["cssrs_intent_or_plan"]


def test_follow_ups_may_be_omitted_after_no_to_suicidal_thoughts(client):
    response = post(client, {"answers": answers(cssrs={"wish_dead": False, "suicidal_thoughts": False,
                                                       "behavior": False})})
    assert response.status_code == 201
    assert response.get_json()["outcome"] == "eligible"


def test_missing_blood_pressure_is_a_review(client):
    response = post(client, {"answers": answers(bp_systolic=DROP, bp_diastolic=DROP)})
    assert response.status_code == 201
    body = response.get_json()
    assert (body["outcome"], [reason["code"] for reason in body["reasons"]]) == ("review", ["bp_unknown"])


# --- The token -----------------------------------------------------------------------------------------------

def test_token_is_long_random_and_only_its_hash_is_stored(client):
    tokens = []
    for _ in range(2):
        response = post(client, {"answers": answers()})
        assert response.status_code == 201
        tokens.append(response.get_json()["token"])
    first, second = tokens
    assert first != second
    for token in tokens:
        assert len(token) >= 32
        assert re.fullmatch(r"[A-Za-z0-9_-]+", token)

    db.session.expire_all()
    rows = db.session.scalars(sa.select(Screening).order_by(Screening.id)).all()
    assert [row.token_hash for row in rows] == [hashlib.sha256(token.encode()).hexdigest() for token in tokens]

    # The raw token is in no column of any table.
    for table in db.metadata.sorted_tables:
        for row in db.session.execute(sa.select(table)).all():
            for value in row:
                if isinstance(value, bytes | memoryview):
                    value = bytes(value)
                    assert all(token.encode() not in value for token in tokens), table.name
                elif value is not None:
                    assert all(token not in str(value) for token in tokens), table.name


# --- Stored: the result readable, the answers encrypted ---------------------------------------------------------

@pytest.mark.parametrize("outcome", list(OUTCOME_CASES))
def test_stored_row_has_the_result_and_encrypted_answers(client, oncall, outcome):
    submitted, expected_codes, urgent = OUTCOME_CASES[outcome]
    with time_machine.travel(WHEN, tick=False):
        response = post(client, {"answers": submitted})
    assert response.status_code == 201
    body = response.get_json()

    db.session.expire_all()
    row = db.session.get(Screening, body["id"])
    assert row.outcome == outcome and row.urgent is urgent and row.rules_version == 1
    findings = services.read_findings(row)
    assert [reason["code"] for reason in findings.reasons] == expected_codes
    assert list(findings.reasons) == body["reasons"]
    assert (findings.phq9_total, findings.phq9_severity) == (body["phq9_total"], body["phq9_severity"])
    assert row.created_at == WHEN and row.expires_at == WHEN + timedelta(days=30)
    assert row.token_used_at is None
    assert row.review_status == ("pending" if urgent else None)

    raw = db.session.execute(sa.text("SELECT answers_encrypted FROM screening WHERE id = :id"),
                             {"id": body["id"]}).scalar_one()
    raw = bytes(raw)
    assert raw.startswith(b"gAAAAA")  # a Fernet token
    for needle in (b"benzodiazepine", b'"age"', b'"age":47', b"83.7", b"phq9", b"cssrs", b"weight_kg"):
        assert needle not in raw
    checked = {**submitted, "weight_kg": float(submitted["weight_kg"])}
    assert crypto.decrypt_json(raw) == checked

    # No readable column holds an answer or a finding: the reasons (codes and wording) and the PHQ-9 score are
    # encrypted like the answers; the outcome and the urgent flag stay readable for routing and the queue.
    stored = dict(db.session.execute(sa.text("SELECT * FROM screening WHERE id = :id"),
                                     {"id": body["id"]}).mappings().one())
    findings_raw = bytes(stored["findings_encrypted"])
    assert findings_raw.startswith(b"gAAAAA")
    readable = {name: value for name, value in stored.items() if not name.endswith("_encrypted")}
    assert not {"reasons", "phq9_total", "phq9_severity"} & set(stored)
    text = json.dumps(readable, default=str)
    needles = ["benzodiazepine", "83.7", '"age"', "phq9", "moderately_severe", *expected_codes,
               *(MESSAGES[code] for code in expected_codes)]
    for needle in needles:
        assert needle not in text, needle
        assert needle.encode() not in findings_raw, needle


# --- Alerts to the on-call clinician ----------------------------------------------------------------------------

URGENT_CASES = {
    "crisis-intent": answers(**{**DISTINCT, "cssrs": cssrs(wish_dead=True, suicidal_thoughts=True, method=True,
                                                           intent=True, plan=False)}),
    "crisis-recent-behavior": answers(**{**DISTINCT, "cssrs": cssrs(behavior=True, behavior_within_3_months=True)}),
    "crisis-and-ineligible": answers(**{**DISTINCT, "age": 16, "cssrs": cssrs(plan=True)}),
    "urgent-review-method": answers(**{**DISTINCT, "cssrs": cssrs(wish_dead=True, suicidal_thoughts=True,
                                                                  method=True, intent=False, plan=False)}),
    "urgent-review-phq9-item9": answers(**{**DISTINCT, "phq9": [3, 2, 3, 1, 2, 3, 0, 1, 1]}),
    "urgent-and-ineligible": answers(**{**DISTINCT, "ketamine_allergy": True,
                                        "phq9": [3, 2, 3, 1, 2, 3, 0, 1, 2]}),
}
NOT_URGENT_CASES = {
    "eligible": answers(),
    "review": answers(**DISTINCT),
    "review-past-behavior": answers(**{**DISTINCT, "cssrs": cssrs(behavior=True, behavior_within_3_months=False)}),
    "review-ideation": answers(**{**DISTINCT, "cssrs": cssrs(wish_dead=True)}),
    "ineligible": answers(**{**DISTINCT, "psychosis": "current", "substance_use": "active"}),
}


@pytest.mark.parametrize("case", list(URGENT_CASES))
def test_crisis_or_urgent_review_queues_one_alert_without_answers(client, oncall, case):
    submitted = URGENT_CASES[case]
    with time_machine.travel(WHEN, tick=False):
        response = post(client, {"answers": submitted})
    assert response.status_code == 201, response.get_data(as_text=True)
    body = response.get_json()
    assert body["urgent"] is True
    assert body["outcome"] == ("crisis" if case.startswith("crisis") else
                               "ineligible" if case == "urgent-and-ineligible" else "review")

    emails = outbox()
    assert len(emails) == 1
    (email,) = emails
    assert email.to_address == ONCALL
    assert email.kind == "screening_alert"
    assert str(body["id"]) in email.subject
    assert_no_answers_in(email.subject + "\n" + email.body, submitted)
    assert "47" not in email.body.replace(str(body["id"]), "")  # the age
    assert body["token"] not in email.body

    db.session.expire_all()
    row = db.session.get(Screening, body["id"])
    assert row.alert_sent_at is not None
    assert row.review_status == "pending"


@pytest.mark.parametrize("case", list(NOT_URGENT_CASES))
def test_non_urgent_outcome_queues_no_email(client, oncall, case):
    response = post(client, {"answers": NOT_URGENT_CASES[case]})
    assert response.status_code == 201
    assert response.get_json()["urgent"] is False
    assert outbox() == []
    db.session.expire_all()
    assert db.session.get(Screening, response.get_json()["id"]).alert_sent_at is None


def test_each_urgent_screening_gets_its_own_alert(client, oncall):
    for submitted in (URGENT_CASES["crisis-intent"], NOT_URGENT_CASES["review"], URGENT_CASES["urgent-review-method"]):
        assert post(client, {"answers": submitted}).status_code == 201
    emails = outbox()
    assert len(emails) == 2
    assert {email.to_address for email in emails} == {ONCALL}


# --- 422: every validation error names the field, and nothing is stored ------------------------------------------

@pytest.mark.parametrize(("answers_", "fields"), [case[1:] for case in INVALID], ids=INVALID_IDS)
def test_every_validation_error_is_a_422_naming_the_field(client, oncall, answers_, fields):
    response = client.post(URL, data=json.dumps({"answers": answers_}), content_type="application/json")
    assert response.status_code == 422, response.get_data(as_text=True)
    error = response.get_json()["error"]
    assert error["code"] == "validation_failed"
    assert error["message"]
    assert set(error["fields"]) == fields
    assert all(messages and all(isinstance(m, str) and m for m in messages) for messages in error["fields"].values())
    assert screening_count() == 0
    assert outbox() == []


@pytest.mark.parametrize(("body", "fields"), [
    ({"answers": BASELINE, "contact": {"email": "a@example.com"}}, {"contact"}),
    ({"answers": BASELINE, "outcome": "eligible"}, {"outcome"}),
    ({"answers": BASELINE, "token": "mine"}, {"token"}),
    ({}, {"answers"}),
    ({"answer": BASELINE}, {"answer", "answers"}),
    ({"age": 35}, {"age", "answers"}),
    ({"answers": None}, {"answers"}),
    ({"answers": []}, {"answers"}),
    ({"answers": "yes"}, {"answers"}),
    ({"answers": 1}, {"answers"}),
])
def test_unknown_top_level_fields_and_missing_answers_are_422(client, body, fields):
    response = post(client, body)
    assert response.status_code == 422
    error = response.get_json()["error"]
    assert error["code"] == "validation_failed"
    assert set(error["fields"]) == fields
    assert screening_count() == 0


@pytest.mark.parametrize("body", [[], [BASELINE], "answers", 1, None, True])
def test_a_body_that_is_not_an_object_is_422(client, body):
    response = client.post(URL, data=json.dumps(body), content_type="application/json")
    assert response.status_code == 422
    assert response.get_json()["error"]["code"] == "validation_failed"
    assert screening_count() == 0


@pytest.mark.parametrize("data", ["", "{", '{"answers": ', "not json", '{"answers": {}', "{'answers': {}}",
                                  '{"answers": {"age": 35,}}', "\x00"])
def test_malformed_json_is_400(client, data):
    response = client.post(URL, data=data, content_type="application/json")
    assert response.status_code == 400
    error = response.get_json()["error"]
    assert error["code"] == "malformed_json" and error["message"]
    assert "fields" not in error
    assert screening_count() == 0


def test_nothing_is_stored_across_a_run_of_failures_then_one_success(client, oncall):
    for _, bad, _ in INVALID[:20]:
        assert client.post(URL, data=json.dumps({"answers": bad}), content_type="application/json").status_code \
            == 422
    assert screening_count() == 0
    ok = copy.deepcopy(URGENT_CASES["crisis-intent"])
    assert post(client, {"answers": ok}).status_code == 201
    assert screening_count() == 1
    assert len(outbox()) == 1


def test_other_methods_are_not_allowed(client):
    response = client.get(URL)
    assert response.status_code == 405
    assert "POST" in response.headers.get("Allow", "")


def test_crisis_without_an_on_call_address_is_still_stored_and_answered(client, app):
    # Misconfiguration must not cost the applicant the result page and its crisis resources.
    app.config["ONCALL_CLINICIAN_EMAIL"] = None
    response = post(client, {"answers": URGENT_CASES["crisis-intent"]})
    assert response.status_code == 201
    body = response.get_json()
    assert (body["outcome"], body["urgent"]) == ("crisis", True)
    assert {"988", "911"} <= {resource["contact"] for resource in body["crisis_resources"]}
    assert screening_count() == 1
    assert outbox() == []
