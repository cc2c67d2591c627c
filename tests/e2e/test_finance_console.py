"""A finance user's month in real Chromium: sign in, open the ledger for March 2027 (totals, chart, rows),
open a booking's money, close the month, download the CSV and the Excel export and check them against the
ledger; the same pages on a phone. Screenshots are saved for a person to look at."""

import csv
import io
import re

import openpyxl
import pytest
from playwright.sync_api import expect

from retreat.extensions import db
from retreat.payments.ledger import record_payment
from tests.conftest import STAFF_PASSWORD
from tests.finance.support import ledger_sums, make_ledger, pay, utc

pytestmark = pytest.mark.browser


def sign_in(page, base_url: str, email: str) -> None:
    page.goto(f"{base_url}/staff/login")
    page.get_by_label("Email").fill(email)
    page.get_by_label("Password").fill(STAFF_PASSWORD)
    page.get_by_role("button", name="Sign in").click()
    expect(page.get_by_role("navigation", name="Main").get_by_role("link", name="Finance")).to_be_visible()


def test_finance_user_reads_the_ledger_closes_the_month_and_exports(app, staff_user, live_server, desktop_page,
                                                                    screenshots, request_log, tmp_path):
    ledger = make_ledger()
    expected = ledger_sums(ledger)
    finance_user = staff_user("finance")
    page = desktop_page
    sign_in(page, live_server.url, finance_user.email)
    expect(page.get_by_role("list", name="To do").get_by_role("link", name=re.compile("Bank transfers awaited"))
           ).to_be_visible()
    screenshots(page, "staff-home-finance.png")

    page.get_by_role("navigation", name="Main").get_by_role("link", name="Finance").click()
    expect(page.get_by_role("heading", level=1, name="Payments ledger")).to_be_visible()
    expect(page.get_by_role("heading", name="A booking's payments")).to_be_in_viewport()  # the lookup on top
    page.get_by_label("From").fill("2027-03-01")
    page.get_by_label("To", exact=True).fill("2027-03-31")
    page.get_by_role("button", name="Show", exact=True).click()
    expect(page).to_have_url(re.compile(r"date_from=2027-03-01"))
    expect(page.locator('[data-total="count"]')).to_have_text("5")
    expect(page.locator('[data-total="gross"]')).to_have_text("$5,470.00")
    expect(page.locator('[data-total="refunds"]')).to_have_text("-$750.00")
    expect(page.locator('[data-total="net"]')).to_have_text("$4,690.88")
    expect(page.locator("tr.ledger-row")).to_have_count(expected["count"])
    expect(page.locator("svg.money-bar")).to_have_count(5)
    expect(page.get_by_text('=HYPERLINK("http://evil.example","Click") Smith').first).to_be_visible()
    screenshots(page, "finance-ledger.png")

    with page.expect_download() as csv_download:
        page.get_by_role("link", name="CSV", exact=True).first.click()
    csv_path = tmp_path / csv_download.value.suggested_filename
    csv_download.value.save_as(csv_path)
    assert csv_path.name == "retreat-payments_2027-03-01_to_2027-03-31.csv"
    rows = list(csv.DictReader(io.StringIO(csv_path.read_text(encoding="utf-8-sig"), newline="")))
    assert len(rows) == expected["count"]
    assert sum(int(row["amount"].replace(".", "")) for row in rows) == expected["amount"]
    assert {row["payer_name"] for row in rows} >= {"'=HYPERLINK(\"http://evil.example\",\"Click\") Smith", "'-2 +1"}

    with page.expect_download() as xlsx_download:
        page.get_by_role("link", name="Excel (XLSX)").first.click()
    xlsx_path = tmp_path / xlsx_download.value.suggested_filename
    xlsx_download.value.save_as(xlsx_path)
    sheet = openpyxl.load_workbook(xlsx_path).active
    values = list(sheet.iter_rows(values_only=True))
    assert values[0][:3] == ("date", "payment_id", "booking_reference")
    assert round(sum(row[12] for row in values[1:]) * 100) == expected["amount"]
    assert sum(round((row[13] or 0) * 100) for row in values[1:]) == expected["fees"]

    page.get_by_role("link", name="RT-CCCC44").first.click()
    expect(page.get_by_role("heading", level=1)).to_contain_text("RT-CCCC44")
    expect(page.locator('[data-total="owed"]')).to_have_text("$1,500.00")  # the $250 refund is not owed again
    screenshots(page, "finance-booking.png")

    page.get_by_role("navigation", name="Finance").get_by_role("link", name="Month close").click()
    page.get_by_label("Month", exact=True).fill("2027-03")
    page.get_by_role("button", name="Show").click()
    expect(page.get_by_role("heading", level=1)).to_have_text("Month close: March 2027")
    expect(page.locator('[data-total="unreconciled"]')).to_have_text("1")
    expect(page.get_by_text("pi_bal")).to_be_visible()
    expect(page.locator('[data-total="owed"]')).to_have_text("$1,500.00")  # the $250 refund is not owed again
    screenshots(page, "finance-month-close.png")
    assert not request_log.foreign(), request_log.foreign()


def test_the_finance_pages_read_well_on_a_phone(app, staff_user, live_server, phone_page, screenshots,
                                                request_log):
    ledger = make_ledger()
    # 55 payments on one June day: more than one ledger page (50 rows a page).
    for number in range(55):
        pay(ledger.bookings["jane"], "deposit", 10_000 + number, "demo", f"demo_june_{number:02d}",
            utc(2027, 6, 1, 12, 0, number))
    db.session.commit()
    finance_user = staff_user("finance")
    page = phone_page
    sign_in(page, live_server.url, finance_user.email)
    page.goto(f"{live_server.url}/staff/finance?date_from=2027-03-01&date_to=2027-03-31")
    expect(page.locator('[data-total="net"]')).to_have_text("$4,690.88")
    width = page.evaluate("document.documentElement.scrollWidth")
    assert width <= 390, f"the ledger scrolls sideways on a phone ({width}px)"
    screenshots(page, "finance-ledger-phone.png")
    page.goto(f"{live_server.url}/staff/finance/close?month=2027-03")
    expect(page.get_by_role("heading", level=1)).to_have_text("Month close: March 2027")
    assert page.evaluate("document.documentElement.scrollWidth") <= 390
    screenshots(page, "finance-month-close-phone.png")
    page.goto(f"{live_server.url}/staff/finance/bookings/RT-AAAA22")
    assert page.evaluate("document.documentElement.scrollWidth") <= 390
    screenshots(page, "finance-booking-phone.png")

    # The ledger of June in pages: the totals count all 55, the rows come 50 then 5.
    page.goto(f"{live_server.url}/staff/finance?date_from=2027-06-01&date_to=2027-06-30")
    expect(page.locator('[data-total="count"]')).to_have_text("55")
    expect(page.locator("tr.ledger-row")).to_have_count(50)
    pages = page.get_by_role("navigation", name=re.compile("[Pp]ages"))
    expect(pages.locator("[aria-current=page]")).to_have_text("Page 1")
    pages.get_by_role("link", name="Next page").click()
    expect(page).to_have_url(re.compile(r"page=2"))
    expect(page.locator("tr.ledger-row")).to_have_count(5)
    expect(page.locator('[data-total="count"]')).to_have_text("55")
    assert page.evaluate("document.documentElement.scrollWidth") <= 390
    screenshots(page, "finance-ledger-page-2-phone.png")

    # A page of another role's work: the staff 403 page says why, and leads home.
    page.goto(f"{live_server.url}/staff/screenings")
    expect(page.get_by_role("heading", level=1)).to_have_text("This page is not open to you.")
    expect(page.get_by_role("main")).to_contain_text("ask an administrator")
    page.get_by_role("link", name="Go to your staff home").click()
    expect(page).to_have_url(f"{live_server.url}/staff/")
    assert not request_log.foreign(), request_log.foreign()


def test_admin_makes_an_api_token_in_the_console(app, staff_user, live_server, desktop_page, screenshots):
    staff_user("finance", email="books@clinic.example")
    admin = staff_user("admin")
    ledger = make_ledger()
    record_payment(ledger.bookings["signs"], kind="balance", amount_cents=123_450, provider="offline",
                   provider_reference="bank-0412", actor="finance import")
    db.session.commit()
    page = desktop_page
    sign_in(page, live_server.url, admin.email)

    # The audit log shows the amount in dollars, never in cents.
    page.get_by_role("navigation", name="Main").get_by_role("link", name="Audit log").click()
    entry = page.locator("tr", has_text="bank-0412")
    expect(entry).to_contain_text("$1,234.50")
    expect(entry).not_to_contain_text("123450")
    screenshots(page, "staff-audit-log.png")

    page.goto(f"{live_server.url}/staff/api-tokens")
    page.get_by_label("Finance user").select_option(label="Test finance (books@clinic.example)")
    page.get_by_label("What it is for").fill("Nightly accounting sync")
    page.get_by_role("button", name="Make token").click()
    token = page.locator("code.token-value").inner_text()
    assert token.startswith("rtk_")
    screenshots(page, "finance-api-token-made.png")
    response = page.request.get(f"{live_server.url}/api/v1/finance/payments?from=2027-03-01&to=2027-03-31",
                                headers={"Authorization": f"Bearer {token}"})
    assert response.status == 200 and response.text().startswith("date,payment_id,")
    page.get_by_role("button", name=re.compile("^Revoke")).click()
    expect(page.get_by_text("is revoked; it no longer works")).to_be_visible()
    response = page.request.get(f"{live_server.url}/api/v1/finance/payments?from=2027-03-01&to=2027-03-31",
                                headers={"Authorization": f"Bearer {token}"})
    assert response.status == 401
