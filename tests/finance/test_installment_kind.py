"""A monthly part of an installment plan is its own kind of money, `installment` (API.md Finance): in the ledger
console's filter and rows, and in the CSV, XLSX and JSON exports."""

import csv
import io
from datetime import UTC, datetime

import openpyxl
import pytest

from retreat.extensions import db
from retreat.staff import api_tokens
from tests.finance.support import make_booking, make_cohort, make_program, pay

MARCH = {"from": "2027-03-01", "to": "2027-03-31"}


@pytest.fixture
def installment(app):
    booking = make_booking(make_cohort(make_program()), "RT-INST22")
    booking.payment_plan = "installments"
    pay(booking, "deposit", 99_400, "stripe", "pi_inst_dep", datetime(2027, 3, 2, 10, tzinfo=UTC))
    pay(booking, "installment", 99_400, "stripe", "pi_inst_1", datetime(2027, 3, 20, 10, tzinfo=UTC), fee=2_912,
        net=96_488)
    db.session.commit()
    return booking


def test_the_exports_carry_the_installment_kind(installment, client, staff_user):
    _, token = api_tokens.create_token(staff_user("finance"), "Sync")
    headers = {"Authorization": f"Bearer {token}"}

    rows = list(csv.DictReader(io.StringIO(client.get("/api/v1/finance/payments", query_string=MARCH,
                                                      headers=headers).get_data(as_text=True))))
    assert [(row["kind"], row["amount"], row["net"]) for row in rows] == [
        ("deposit", "994.00", ""), ("installment", "994.00", "964.88")]

    sheet = openpyxl.load_workbook(io.BytesIO(client.get("/api/v1/finance/payments", headers=headers,
                                                         query_string={**MARCH, "format": "xlsx"}).get_data()))
    header, *cells = list(sheet.active.iter_rows(values_only=True))
    assert [row[header.index("kind")] for row in cells] == ["deposit", "installment"]

    body = client.get("/api/v1/finance/payments", query_string={**MARCH, "format": "json"}, headers=headers)
    assert body.status_code == 200, body.get_data(as_text=True)
    assert [p["kind"] for p in body.get_json()["payments"]] == ["deposit", "installment"]


def test_the_ledger_console_filters_and_names_installments(installment, client, login_as):
    login_as("finance")
    page = client.get("/staff/finance", query_string={"date_from": "2027-03-01", "date_to": "2027-03-31",
                                                      "kind": "installment"}).get_data(as_text=True)
    assert page.count('class="ledger-row') == 1 and "Installment" in page and "RT-INST22" in page
    assert '<option selected value="installment">' in page
