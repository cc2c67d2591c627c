"""Receipts and superbills in real Chromium: an applicant downloads the receipt of their confirmed booking from the
manage page; once the program has started and a clinician has recorded the diagnosis, they ask for the superbill,
give their date of birth (a mistake named first), and download it. The PDFs are read back with pypdf. Screenshots
land in test-artifacts/screenshots (pdfs-*.png) at 390 and 1280 px.
"""

import io
import os
from datetime import timedelta
from pathlib import Path

import pytest
import time_machine
from playwright.sync_api import Page, expect
from pypdf import PdfReader

from retreat.booking import services, superbills
from retreat.booking.models import Booking
from retreat.extensions import db
from tests.booking.support import booking_body, eligible_token, make_cohort
from tests.booking.test_receipts_and_superbills import at_clinic
from tests.e2e.test_booking_journey import assert_page_basics, focus_and_press

pytestmark = pytest.mark.browser


def downloaded_text(page: Page, link_name: str) -> tuple[str, str]:
    with page.expect_download(timeout=60_000) as download:  # the process's first PDF loads WeasyPrint's fonts
        page.get_by_role("link", name=link_name).click()
    data = download.value.path().read_bytes()
    text = " ".join(part.extract_text() for part in PdfReader(io.BytesIO(data)).pages)
    return " ".join(text.split()), download.value.suggested_filename


def both_widths(page: Page, screenshots, name: str) -> None:
    """A screenshot at a phone's width for a person to look at; with SHOTS_DIR set, at a desktop's too, copied
    there (screenshots are a good part of a browser test's time)."""
    extra = os.environ.get("SHOTS_DIR")
    for width in (390, 1280) if extra else (390,):
        page.set_viewport_size({"width": width, "height": 900})
        path = screenshots(page, f"pdfs-{name}-{width}.png")
        if extra:
            Path(extra, path.name).write_bytes(path.read_bytes())
    page.set_viewport_size({"width": 390, "height": 844})


@pytest.mark.parametrize("database_url", ["sqlite"], indirect=True)
def test_an_applicant_downloads_the_receipt_then_the_superbill_with_their_date_of_birth(
        app, live_server, phone_page, staff_user, screenshots):
    page = phone_page
    cohort = make_cohort(starts_in_days=20)
    made = app.test_client().post("/api/v1/bookings", json=booking_body(cohort, eligible_token()))
    reference, token = made.get_json()["reference"], made.get_json()["manage_token"]
    booking = db.session.query(Booking).filter_by(reference=reference).one()
    services.payment_received(reference, kind="deposit", amount_cents=booking.deposit_cents, provider="demo",
                              provider_reference="demo_0123456789abcdef")
    manage = f"{live_server.url}/bookings/manage/{token}"

    # 1. The receipt, from the manage page: the items with their codes, the deposit paid, the clinic's tax id.
    page.goto(manage)
    documents = page.get_by_role("region", name="Receipt and superbill")
    expect(documents).to_contain_text("the clinic does not bill insurers")
    expect(documents).to_contain_text("Once your program has started")
    assert_page_basics(page)
    both_widths(page, screenshots, "manage-before-start")
    text, filename = downloaded_text(page, "Download your receipt and itemised statement (PDF)")
    assert filename == f"receipt-{reference}.pdf"
    for words in (f"Booking {reference}", "Alex Rivera", "Tax ID (EIN) 12-3456789", "90792", "96365", "90837",
                  "Total charged $4,970.00", "Deposit test payment, no money moved", "Balance due: $3,976.00"):
        assert words in text, words

    # 2. The program has started and a clinician has recorded the diagnosis: the superbill asks the date of birth.
    with time_machine.travel(at_clinic(cohort.start_date + timedelta(days=1), 9), tick=True):
        superbills.record_diagnosis(reference, "F33.2", staff=staff_user("clinician"))
        page.goto(manage)
        focus_and_press(page, page.get_by_role("link", name="Download your superbill (PDF)"))
        expect(page.get_by_role("heading", level=1)).to_have_text("Your superbill")
        focus_and_press(page, page.get_by_role("button", name="Save and continue"))
        expect(page.get_by_role("alert")).to_contain_text("Give your date of birth.")
        assert_page_basics(page)
        both_widths(page, screenshots, "birth-date-refused")
        page.get_by_label("Your date of birth", exact=True).fill("1984-03-27")
        focus_and_press(page, page.get_by_role("button", name="Save and continue"))
        expect(page.locator(".flash")).to_contain_text(
            "your superbill is ready to download")
        both_widths(page, screenshots, "manage-superbill-ready")
        text, filename = downloaded_text(page, "Download your superbill (PDF)")

    assert filename == f"superbill-{reference}.pdf"
    for words in ("Superbill", "NPI 1234567893", "Tax ID (EIN) 12-3456789", "Name Alex Rivera",
                  "Date of birth 03/27/1984", "Treating clinician Test clinician", "F33.2",
                  "96365 A 4 $600.00 $2,400.00", "does not bill insurers"):
        assert words in text, words
