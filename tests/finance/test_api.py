"""GET /api/v1/finance/payments with staff API tokens: 401 without a usable token (with WWW-Authenticate), 403
for a user without the finance or admin role, 422 for a bad period, 200 in CSV, XLSX and JSON; audited."""

import csv
import hashlib
import io

import openpyxl
import pytest
import sqlalchemy as sa

from retreat.core.audit import AuditEntry
from retreat.extensions import db
from retreat.staff import api_tokens, services
from retreat.staff.models import StaffApiToken
from tests.finance.support import ledger_sums

URL = "/api/v1/finance/payments"
MARCH = {"from": "2027-03-01", "to": "2027-03-31"}


@pytest.fixture
def finance_token(staff_user):
    user = staff_user("finance")
    _, token = api_tokens.create_token(user, "Nightly sync")
    return token


def get(client, token=None, headers=None, **params):
    headers = dict(headers or {})
    if token:
        headers["Authorization"] = f"Bearer {token}"
    response = client.get(URL, query_string={**MARCH, **params}, headers=headers)
    response.get_data()  # read a streamed body now, inside the test, as a server would before closing it
    return response


def assert_refused(response, status, code):
    assert response.status_code == status, response.get_data(as_text=True)
    assert response.mimetype == "application/json"
    assert response.get_json()["error"]["code"] == code
    if status == 401:
        assert response.headers["WWW-Authenticate"].startswith("Bearer")


BAD_AUTHORIZATION = [
    None, "", "Bearer", "Bearer ", "Basic ZmluYW5jZTpwYXNz", "Bearer rtk_not-a-real-token",
    "Bearer not-even-our-prefix", "bearer rtk_" + "x" * 300, "Token rtk_abc", "Bearer rtk_a rtk_b",
]


def test_a_missing_or_bad_token_is_401(app, client, finance_token):
    for authorization in BAD_AUTHORIZATION:
        headers = {} if authorization is None else {"Authorization": authorization}
        assert_refused(get(client, headers=headers), 401, "unauthorized")
    assert get(client, finance_token).status_code == 200


def test_a_revoked_token_is_401(app, client, finance_token):
    assert get(client, finance_token).status_code == 200
    record = db.session.scalar(sa.select(StaffApiToken))
    api_tokens.revoke_token(record.id)
    assert_refused(get(client, finance_token), 401, "unauthorized")


def test_a_disabled_users_token_is_401(app, client, finance_token):
    record = db.session.scalar(sa.select(StaffApiToken))
    services.set_active(services.get_user(record.user_id), False)
    assert_refused(get(client, finance_token), 401, "unauthorized")


def test_a_token_whose_user_lost_the_finance_role_is_403(app, client, finance_token):
    record = db.session.scalar(sa.select(StaffApiToken))
    services.set_roles(services.get_user(record.user_id), ["coordinator"])
    response = get(client, finance_token)
    assert_refused(response, 403, "forbidden")
    assert "WWW-Authenticate" not in response.headers
    services.set_roles(services.get_user(record.user_id), ["admin"])
    assert get(client, finance_token).status_code == 200, "admins may read finance data too"


def test_the_staff_session_is_not_a_token(app, client, login_as):
    login_as("finance")
    assert_refused(client.get(URL, query_string=MARCH), 401, "unauthorized")


BAD_PARAMS = [
    ({"from": ""}, "from"),
    ({"to": ""}, "to"),
    ({"from": "2027-3-1"}, "from"),
    ({"from": "01/03/2027"}, "from"),
    ({"to": "2027-02-30"}, "to"),
    ({"from": "2027-04-01"}, "to"),
    ({"to": "9999-12-31"}, "to"),
    ({"format": "pdf"}, "format"),
]


def test_a_bad_period_or_format_is_422(app, client, finance_token):
    for params, field in BAD_PARAMS:
        response = get(client, finance_token, **params)
        assert response.status_code == 422, params
        assert field in response.get_json()["error"]["fields"], params
    assert client.get(URL, query_string={"format": "json"},
                      headers={"Authorization": f"Bearer {finance_token}"}).get_json()["error"]["fields"].keys() \
        == {"from", "to"}


def test_csv(app, client, ledger, finance_token):
    response = client.get(URL, query_string=MARCH, headers={"Authorization": f"Bearer {finance_token}"})
    assert response.is_streamed and "Content-Length" not in response.headers
    assert response.status_code == 200
    assert response.mimetype == "text/csv"
    assert response.headers["Content-Disposition"] == \
        'attachment; filename="retreat-payments_2027-03-01_to_2027-03-31.csv"'
    assert response.headers["Cache-Control"] == "no-store"
    content = response.get_data()
    assert not content.startswith(b"\xef\xbb\xbf"), "no byte-order mark for automation"
    rows = list(csv.DictReader(io.StringIO(content.decode(), newline="")))
    assert len(rows) == ledger_sums(ledger)["count"]
    assert sum(int(row["amount"].replace(".", "")) for row in rows) == ledger_sums(ledger)["amount"]
    assert get(client, finance_token, format="csv").get_data() == content, "csv is the default"


def test_xlsx(app, client, ledger, finance_token):
    response = get(client, finance_token, format="xlsx")
    assert response.status_code == 200
    assert response.mimetype == "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet"
    sheet = openpyxl.load_workbook(io.BytesIO(response.get_data())).active
    rows = list(sheet.iter_rows(values_only=True))
    assert rows[0][0] == "date" and len(rows) == 1 + ledger_sums(ledger)["count"]
    assert round(sum(row[12] for row in rows[1:]) * 100) == ledger_sums(ledger)["amount"]


def test_json(app, client, ledger, finance_token):
    response = get(client, finance_token, format="json")
    assert response.status_code == 200 and response.mimetype == "application/json"
    body = response.get_json()
    assert (body["from"], body["to"]) == ("2027-03-01", "2027-03-31")
    payments = body["payments"]
    assert len(payments) == ledger_sums(ledger)["count"]
    assert sum(p["amount_cents"] for p in payments) == ledger_sums(ledger)["amount"]
    first = payments[0]
    assert first["payment_id"] == ledger.payments["jane_deposit"].id
    assert (first["date"], first["kind"], first["amount_cents"], first["fee_cents"], first["net_cents"]) == (
        "2027-03-01", "deposit", 99_400, 2_912, 96_488)
    assert payments[-1]["fee_cents"] is None
    assert set(first) >= {"date", "payment_id", "booking_reference", "payer_name", "payer_email", "program",
                          "cohort_start", "kind", "provider", "provider_reference", "status", "currency"}
    empty = get(client, finance_token, format="json", **{"from": "2020-01-01", "to": "2020-01-31"})
    assert empty.get_json()["payments"] == []


def test_every_export_is_audited_and_the_token_notes_its_last_use(app, client, ledger, finance_token):
    assert get(client, finance_token, format="json").status_code == 200
    db.session.rollback()
    [entry] = db.session.scalars(sa.select(AuditEntry).where(AuditEntry.action == "finance.export")).all()
    assert entry.actor_email == "finance@clinic.example"
    assert entry.target_id == "2027-03-01..2027-03-31"
    assert entry.details["format"] == "json" and entry.details["rows"] == 5 and entry.details["via"] == "api"
    record = db.session.scalar(sa.select(StaffApiToken))
    assert record.last_used_at is not None


def test_tokens_are_stored_hashed_and_limited_to_finance(app, staff_user):
    finance_user = staff_user("finance")
    record, token = api_tokens.create_token(finance_user, "  Nightly   sync ")
    assert token.startswith("rtk_") and len(token) >= 40
    assert record.token_hash == hashlib.sha256(token.encode()).hexdigest()
    assert record.prefix == token[:12] and record.name == "Nightly sync"
    db.session.rollback()
    stored = db.session.scalar(sa.select(StaffApiToken))
    assert token not in (stored.token_hash, stored.prefix, stored.name)
    assert api_tokens.authenticate(token).id == finance_user.id
    assert api_tokens.authenticate(token[:-1] + ("A" if token[-1] != "A" else "B")) is None

    for roles in (["coordinator"], ["clinician"], ["admin"]):
        other = staff_user(*roles)
        with pytest.raises(api_tokens.ValidationFailed) as refused:
            api_tokens.create_token(other, "Sync")
        assert "user" in refused.value.fields
    with pytest.raises(api_tokens.ValidationFailed) as refused:
        api_tokens.create_token(finance_user, " ")
    assert "name" in refused.value.fields
    actions = db.session.scalars(sa.select(AuditEntry.action).where(AuditEntry.action.startswith("staff.api"))).all()
    assert actions == ["staff.api_token.create"]


def test_the_openapi_document_describes_the_endpoint(client):
    document = client.get("/api/v1/openapi.json").get_json()
    operation = document["paths"][URL]["get"]
    assert operation["security"] == [{"staffApiToken": []}]
    assert document["components"]["securitySchemes"]["staffApiToken"]["scheme"] == "bearer"
    assert {p["name"]: p["required"] for p in operation["parameters"]} == {"from": True, "to": True,
                                                                            "format": False}
    assert {"200", "401", "403", "422"} <= set(operation["responses"])
    assert set(operation["responses"]["200"]["content"]) == {
        "text/csv", "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet", "application/json"}
