"""The finance console (/staff/finance...): finance and admin only; the ledger with totals and a chart; a
booking's money; the month close; exports audited; pages write nothing. Admins make and revoke API tokens."""

import csv
import io
import re
import zipfile

import pytest
import sqlalchemy as sa

from retreat.core.audit import AuditEntry
from retreat.extensions import db
from retreat.staff.models import StaffApiToken
from tests.finance.support import EVIL_NAME

MARCH_ARGS = {"date_from": "2027-03-01", "date_to": "2027-03-31"}
PAGES = ["/staff/finance", "/staff/finance?date_from=2027-03-01&date_to=2027-03-31&by=month",
         "/staff/finance/close", "/staff/finance/close?month=2027-03", "/staff/finance/bookings/RT-AAAA22",
         "/staff/finance/export/csv?date_from=2027-03-01&date_to=2027-03-31"]


def audit_count() -> int:
    db.session.rollback()
    return db.session.scalar(sa.select(sa.func.count()).select_from(AuditEntry))


@pytest.mark.parametrize("roles", [("coordinator",), ("clinician",), ("coordinator", "clinician")])
def test_other_roles_get_403_everywhere(ledger, client, login_as, roles):
    login_as(*roles)
    for url in [*PAGES, "/staff/api-tokens"]:
        response = client.get(url)
        assert response.status_code == 403 and b"rtk_" not in response.get_data(), url


def test_finance_and_admin_may_read_and_only_admins_manage_tokens(ledger, app, staff_user):
    from tests.conftest import STAFF_PASSWORD
    for roles, tokens_status in ((("finance",), 403), (("admin",), 200)):
        user = staff_user(*roles)
        client = app.test_client()
        client.post("/staff/login", data={"email": user.email, "password": STAFF_PASSWORD})
        for url in PAGES:
            response = client.get(url)
            response.get_data()  # a streamed export is read to its end
            assert response.status_code == 200, (roles, url)
        assert client.get("/staff/api-tokens").status_code == tokens_status
        nav = client.get("/staff/finance").get_data(as_text=True)
        assert 'href="/staff/finance" aria-current="page">Finance</a>' in nav


def test_the_ledger_page(ledger, client, login_as):
    login_as("finance")
    before = audit_count()
    response = client.get("/staff/finance", query_string=MARCH_ARGS)
    assert response.status_code == 200
    page = response.get_data(as_text=True)
    totals = dict(re.findall(r'data-total="([a-z-]+)">(?:<span[^>]*>)?([^<]+)<', page))
    assert totals == {"count": "5", "gross": "$5,470.00", "refunds": "-$750.00", "fees": "-$29.12",
                      "net": "$4,690.88"}
    assert "1 Stripe payment without a known fee yet" in page
    assert page.count('class="ledger-row') == 5
    assert "RT-AAAA22" in page and "Jane Doe" in page
    assert "&#34;http://evil.example&#34;" in page and EVIL_NAME not in page, "escaped, never raw HTML"
    assert page.count('<tr data-period-start="') == 5, "one chart row per week of March"
    assert 'class="bar-in"' in page and 'class="bar-refund"' in page
    assert "/staff/finance/export/quickbooks?date_from=2027-03-01&amp;date_to=2027-03-31" in page
    assert audit_count() == before, "reading the ledger writes nothing"


def test_ledger_filters_and_paging(ledger, client, login_as):
    login_as("finance")
    page = client.get("/staff/finance", query_string={**MARCH_ARGS, "provider": "stripe", "kind": "refund"})
    assert page.get_data(as_text=True).count('class="ledger-row') == 1
    june = {**MARCH_ARGS, "cohort": ledger.cohorts["june"].id}
    cohort = client.get("/staff/finance", query_string=june).get_data(as_text=True)
    assert "RT-BBBB33" in cohort and "RT-AAAA22" not in cohort
    for bad in ({"date_from": "2027-04-01", "date_to": "2027-03-01"}, {"program": "999999999999999"},
                {"kind": "chargeback"}, {"date_from": "not a date"}, {"date_to": "9999-12-31"}):
        assert client.get("/staff/finance", query_string=bad).status_code == 422, bad
    assert client.get("/staff/finance", query_string={**MARCH_ARGS, "page": 2}).status_code == 200


def test_a_bookings_money_page(ledger, client, login_as):
    login_as("finance")
    page = client.get("/staff/finance/bookings/RT-CCCC44").get_data(as_text=True)
    assert "Payments of booking" in page
    assert page.count('class="ledger-row') == 4
    owed = re.search(r'data-total="owed"><span[^>]*>([^<]+)<', page).group(1)
    assert owed == "$1,500.00"  # the total less what was received: the $250 refund is not owed again
    assert client.get("/staff/finance/bookings/RT-NOPE00").status_code == 404
    found = client.get("/staff/finance/bookings", query_string={"reference": " rt-cccc44 "})
    assert found.status_code == 302 and found.headers["Location"].endswith("/staff/finance/bookings/RT-CCCC44")


def test_the_month_close_page(ledger, client, login_as, time_machine):
    time_machine.move_to("2027-04-05T12:00:00Z")
    login_as("finance")
    page = client.get("/staff/finance/close", query_string={"month": "2027-03"}).get_data(as_text=True)
    assert "Month close: March 2027" in page
    assert 'data-total="reconciled">2<' in page and 'data-total="unreconciled">1<' in page
    assert "pi_bal" in page, "the Stripe payment without a fee is listed"
    assert "RT-CCCC44" in page and "Overdue" in page
    assert "$1,500.00" in page
    assert "owed by bank transfer and not sent yet" in page
    assert client.get("/staff/finance/close", query_string={"month": "2027-13"}).status_code == 422
    assert "Month close: April 2027" in client.get("/staff/finance/close").get_data(as_text=True)


@pytest.mark.parametrize(("export_format", "mimetype"), [
    ("csv", "text/csv"), ("xlsx", "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet"),
    ("quickbooks", "text/csv"), ("xero", "text/csv"),
])
def test_console_exports_are_audited(ledger, client, login_as, export_format, mimetype):
    user = login_as("finance")
    before = audit_count()
    response = client.get(f"/staff/finance/export/{export_format}", query_string=MARCH_ARGS)
    assert response.status_code == 200 and response.mimetype == mimetype
    assert response.headers["Cache-Control"] == "no-store"
    assert "attachment; filename=" in response.headers["Content-Disposition"]
    content = response.get_data()
    if export_format == "csv":
        assert content.startswith(b"\xef\xbb\xbf"), "for Excel"
        assert len(list(csv.DictReader(io.StringIO(content.decode("utf-8-sig"), newline="")))) == 5
    assert audit_count() == before + 1
    entry = db.session.scalars(sa.select(AuditEntry).order_by(AuditEntry.id.desc())).first()
    assert (entry.action, entry.actor_email, entry.target_id) == ("finance.export", user.email,
                                                                  "2027-03-01..2027-03-31")
    assert entry.details == {"format": export_format, "rows": 5, "via": "console", "date_from": "2027-03-01",
                             "date_to": "2027-03-31"}


def test_a_long_period_exports_a_zip_for_the_bank_layouts(app, client, login_as):
    from datetime import UTC, datetime

    from retreat.payments.models import Payment
    from tests.finance.support import make_booking, make_cohort, make_program
    booking = make_booking(make_cohort(make_program()), "RT-MANY22")
    db.session.execute(sa.insert(Payment), [
        {"booking_id": booking.id, "kind": "deposit", "provider": "offline", "provider_reference": f"ref-{n}",
         "status": "succeeded", "currency": "usd", "amount_cents": 100 + n, "note": "",
         "created_at": datetime(2027, 3, 1 + n % 28, 12, tzinfo=UTC)} for n in range(1001)])
    db.session.commit()
    login_as("finance")
    response = client.get("/staff/finance/export/xero", query_string=MARCH_ARGS)
    assert response.mimetype == "application/zip"
    assert response.headers["Content-Disposition"].endswith('_xero-bank-statement.zip"')
    with zipfile.ZipFile(io.BytesIO(response.get_data())) as package:
        parts = sorted(name for name in package.namelist() if name.endswith(".csv"))
        assert [package.read(name).count(b"\r\n") - 1 for name in parts] == [1000, 1]


def test_unknown_export_format_is_404(ledger, client, login_as):
    login_as("finance")
    assert client.get("/staff/finance/export/pdf").status_code == 404
    assert client.get("/staff/finance/export/csv?date_from=2027-04-01&date_to=2027-03-01").status_code == 422


def test_admins_make_a_token_shown_once_and_revoke_it(app, client, login_as, staff_user):
    finance_user = staff_user("finance", email="books@clinic.example")
    staff_user("coordinator")
    admin = login_as("admin")
    page = client.get("/staff/api-tokens").get_data(as_text=True)
    assert "books@clinic.example" in page and "coordinator@clinic.example" not in page, "finance users only"

    response = client.post("/staff/api-tokens", data={"user": str(finance_user.id), "name": "Nightly sync"})
    assert response.status_code == 200
    page = response.get_data(as_text=True)
    token = re.search(r'<code class="one-time token-value">(rtk_[^<]+)</code>', page).group(1)
    assert "shown only once" in page
    db.session.rollback()
    record = db.session.scalar(sa.select(StaffApiToken))
    assert (record.user_id, record.created_by_id, record.name) == (finance_user.id, admin.id, "Nightly sync")
    assert token not in client.get("/staff/api-tokens").get_data(as_text=True), "never shown again"
    api = app.test_client()
    headers = {"Authorization": f"Bearer {token}"}
    allowed = api.get("/api/v1/finance/payments?from=2027-03-01&to=2027-03-31", headers=headers)
    assert allowed.status_code == 200 and allowed.get_data().startswith(b"date,")

    revoked = client.post(f"/staff/api-tokens/{record.id}/revoke")
    assert revoked.status_code == 302
    assert "Revoked" in client.get("/staff/api-tokens").get_data(as_text=True)
    assert api.get("/api/v1/finance/payments?from=2027-03-01&to=2027-03-31", headers=headers).status_code == 401
    assert client.post("/staff/api-tokens/987654/revoke").status_code == 404
    actions = db.session.scalars(sa.select(AuditEntry.action).where(AuditEntry.action.startswith("staff.api_token"))
                                 .order_by(AuditEntry.id)).all()
    assert actions == ["staff.api_token.create", "staff.api_token.revoke"]

    refused = client.post("/staff/api-tokens", data={"user": str(finance_user.id), "name": ""})
    assert refused.status_code == 422
    not_finance = client.post("/staff/api-tokens", data={"user": str(admin.id), "name": "Mine"})
    assert not_finance.status_code == 422, "the form offers finance users only"


def test_the_ledger_is_paginated_keeping_the_filters_and_the_totals_of_every_row(app, client, login_as):
    from retreat.finance import services as finance
    from tests.finance.support import make_booking, make_cohort, make_program, pay, utc

    cohort = make_cohort(make_program())
    booking = make_booking(cohort, "RT-PAGE22")
    count = finance.PAGE_SIZE * 2 + 3  # three pages
    for number in range(count):
        pay(booking, "deposit", 10_000 + number, "demo", f"demo_page_{number}", utc(2027, 3, 1 + number % 28, 12))
    pay(booking, "deposit", 1, "stripe", "pi_outside", utc(2027, 3, 5, 12))  # filtered out: another provider
    db.session.commit()
    login_as("finance")
    args = {"date_from": "2027-03-01", "date_to": "2027-03-31", "provider": "demo", "by": "month"}
    total = sum(10_000 + number for number in range(count))

    first = client.get("/staff/finance", query_string=args).get_data(as_text=True)
    second = client.get("/staff/finance", query_string={**args, "page": 2}).get_data(as_text=True)
    last = client.get("/staff/finance", query_string={**args, "page": 99}).get_data(as_text=True)  # the last page
    for page, rows in ((first, finance.PAGE_SIZE), (second, finance.PAGE_SIZE), (last, 3)):
        assert page.count('class="ledger-row') == rows
        assert re.search(r'data-total="count">([^<]+)<', page).group(1) == f"{count:,}", "totals over every row"
        assert f'data-total="gross"><span class="">${total // 100:,}.{total % 100:02d}<' in page
    assert f"51–100 of {count}, page 2 of 3." in second
    links = [link.replace("&amp;", "&") for link in re.findall(r'<a href="(/staff/finance\?[^"]+)"', second)]
    page_links = [link for link in links if "page=" in link]
    assert {re.search(r"page=(\d+)", link).group(1) for link in page_links} == {"1", "3"}
    for link in page_links:
        for name, value in args.items():
            assert f"{name}={value}" in link, (link, name)
    assert 'aria-current="page"><span class="visually-hidden">Page </span>2<' in second
    assert first.index('id="lookup-heading"') < first.index('id="totals-heading"'), "the booking lookup on top"
