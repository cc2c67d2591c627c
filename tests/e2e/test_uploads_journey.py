"""Documents in real Chromium: a clinician has asked for medical clearance; the applicant follows the manage page's
link, sends an HTML page renamed .pdf (refused by name, nothing kept), then a real PNG; a clinician opens the
booking's documents and downloads it, byte for byte. Screenshots land in test-artifacts/screenshots (uploads-*.png);
with SHOTS_DIR set, at 390 and 1280 px, copied there.
"""

import io
import os
from pathlib import Path

import pytest
from PIL import Image
from playwright.sync_api import Page, expect

from retreat.arrival import uploads
from retreat.booking import services
from retreat.extensions import db
from tests.booking.support import booking_body, eligible_token, make_cohort
from tests.conftest import STAFF_PASSWORD
from tests.e2e.test_booking_journey import assert_page_basics, focus_and_press

pytestmark = pytest.mark.browser


def both_widths(page: Page, screenshots, name: str) -> None:
    extra = os.environ.get("SHOTS_DIR")
    for width in (390, 1280) if extra else (390,):
        page.set_viewport_size({"width": width, "height": 900})
        path = screenshots(page, f"uploads-{name}-{width}.png")
        if extra:
            Path(extra, path.name).write_bytes(path.read_bytes())
    page.set_viewport_size({"width": 390, "height": 844})


@pytest.mark.parametrize("database_url", ["sqlite"], indirect=True)
def test_an_applicant_uploads_a_clearance_document_and_a_clinician_downloads_it(
        app, live_server, phone_page, staff_user, screenshots, tmp_path):
    app.config["UPLOAD_FOLDER"] = str(tmp_path)
    page = phone_page
    made = app.test_client().post("/api/v1/bookings", json=booking_body(make_cohort(), eligible_token()))
    reference, token = made.get_json()["reference"], made.get_json()["manage_token"]
    services.payment_received(reference, kind="deposit", amount_cents=made.get_json()["deposit_cents"],
                              provider="demo", provider_reference="demo_00112233445566aa")
    clinician = staff_user("clinician")
    uploads.ask_for_documents(reference, "clearance", "A resting ECG from the last 3 months", staff=clinician)
    clinician_email = clinician.email
    db.session.remove()

    # 1. The manage page says what is asked and leads to the upload page.
    page.goto(f"{live_server.url}/bookings/manage/{token}")
    asked = page.get_by_role("region", name="Documents the clinic asked for")
    expect(asked).to_contain_text("Medical clearance: waiting for you to send it.")
    both_widths(page, screenshots, "manage-asked")
    focus_and_press(page, asked.get_by_role("link", name="Upload your documents"))
    expect(page.get_by_role("heading", level=1)).to_have_text("Documents for the clinic")
    expect(page.get_by_text("A resting ECG from the last 3 months")).to_be_visible()

    # 2. An HTML page renamed .pdf is refused by what it holds, beside the field.
    page.get_by_label("Choose a file").set_input_files(
        {"name": "ecg.pdf", "mimeType": "application/pdf", "buffer": b"<!doctype html><p>not a scan</p>"})
    focus_and_press(page, page.get_by_role("button", name="Upload this file"))
    expect(page.get_by_role("alert")).to_contain_text("“ecg.pdf” is not a PDF, JPEG or PNG file")
    assert_page_basics(page)
    both_widths(page, screenshots, "refused")
    assert list(tmp_path.iterdir()) == []

    # 3. A real PNG goes through.
    image = io.BytesIO()
    Image.new("RGB", (8, 8), "teal").save(image, "PNG")
    page.get_by_label("Choose a file").set_input_files(
        {"name": "ECG tracing.png", "mimeType": "image/png", "buffer": image.getvalue()})
    focus_and_press(page, page.get_by_role("button", name="Upload this file"))
    expect(page.locator(".flash")).to_contain_text("“ECG tracing.png” is uploaded and stored encrypted")
    expect(page.get_by_text("Sent: 1 file. You may add more.")).to_be_visible()
    assert_page_basics(page)
    both_widths(page, screenshots, "sent")

    # 4. A clinician opens the booking's documents and downloads the file as it was sent.
    page.goto(f"{live_server.url}/staff/login")
    page.get_by_label("Email").fill(clinician_email)
    page.get_by_label("Password").fill(STAFF_PASSWORD)
    page.get_by_role("button", name="Sign in").click()
    page.goto(f"{live_server.url}/staff/bookings/{reference}")
    focus_and_press(page, page.get_by_role("link", name="Open the documents"))
    expect(page.get_by_role("heading", level=1)).to_contain_text("Documents")
    both_widths(page, screenshots, "clinician")
    with page.expect_download() as download:
        page.get_by_role("link", name="ECG tracing.png").click()
    assert download.value.suggested_filename == "ECG tracing.png"
    assert download.value.path().read_bytes() == image.getvalue()
