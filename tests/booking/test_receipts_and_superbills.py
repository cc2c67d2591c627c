"""Receipts and superbills: the PDFs read back with pypdf (amounts, codes, names, the clinic's NPI and tax id), when
a superbill is ready, who may see and record a diagnosis, the receipt attached to the emails about money.

Rendering a PDF is slow: each database renders one receipt and one superbill for real (the first two tests); the
tests of access and email put a stand-in for the renderer, as they check who gets a document, not what it says.
"""

import io
import re
from datetime import UTC, date, datetime, time, timedelta

import pytest
import sqlalchemy as sa
import time_machine
from cryptography.fernet import Fernet
from pypdf import PdfReader

from retreat import create_app
from retreat.booking import documents, services, superbills
from retreat.booking.models import Booking
from retreat.booking.payments import issue_refunds
from retreat.core.audit import AuditEntry
from retreat.core.clinic import clinic_zone
from retreat.core.errors import ValidationFailed
from retreat.core.transactions import unit_of_work
from retreat.extensions import db
from retreat.notify import services as notify
from retreat.notify.models import OutboxEmail
from retreat.web import pdf
from tests.booking.support import booking_body, eligible_token, make_cohort
from tests.screening.test_outbox import smtp_server, use_smtp  # noqa: F401  (smtp_server: a fixture)
from tests.screening.test_purge_and_encryption import OLD_KEY, use_keys

CODES_TYPED = "F33.2, f4310"
CODES = ("F33.2", "F43.10")


def pdf_text(data: bytes) -> str:
    """The words of a PDF, in reading order, with runs of white space made one space."""
    assert data.startswith(b"%PDF-"), data[:40]
    text = " ".join(page.extract_text() for page in PdfReader(io.BytesIO(data)).pages)
    return " ".join(text.split())


def booked(client, *, discount_cents: int = 0, code: str | None = None, reduction_cents: int = 0,
           starts_in_days: int = 40) -> tuple[Booking, str]:
    """A held booking of the 7-day IV/EMDR program with a shared room ($4,970), with a discount and a reduced fee
    taken off its total as the discount and reduction services freeze them."""
    cohort = make_cohort(starts_in_days=starts_in_days)
    made = client.post("/api/v1/bookings", json=booking_body(cohort, eligible_token()))
    assert made.status_code == 201, made.get_json()
    booking = db.session.scalar(sa.select(Booking).where(Booking.reference == made.get_json()["reference"]))
    if discount_cents or reduction_cents:
        booking.discount_cents, booking.discount_code, booking.reduction_cents = discount_cents, code, reduction_cents
        booking.total_cents -= discount_cents + reduction_cents
        booking.balance_cents = booking.total_cents - booking.deposit_cents
        db.session.commit()
    return booking, made.get_json()["manage_token"]


def pay(booking: Booking, kind: str, cents: int, reference: str) -> None:
    services.payment_received(booking.reference, kind=kind, amount_cents=cents, provider="demo",
                              provider_reference=reference)


def bearer(token: str) -> dict:
    return {"Authorization": f"Bearer {token}"}


def at_clinic(day: date, hour: int = 10) -> datetime:
    return datetime.combine(day, time(hour), tzinfo=clinic_zone()).astimezone(UTC)


def usd(cents: int) -> str:
    sign = "-" if cents < 0 else ""
    return f"{sign}${abs(cents) // 100:,}.{abs(cents) % 100:02d}"


# --- The receipt, read back ------------------------------------------------------------------------------------

def test_the_receipt_itemises_the_booking_its_payments_refunds_and_balance(client):
    booking, token = booked(client, discount_cents=497_00, code="SPRING10", reduction_cents=500_00)
    assert booking.total_cents == 3_973_00
    pay(booking, "deposit", booking.deposit_cents, "demo_deposit")
    pay(booking, "balance", 1_000_00, "demo_part")
    with unit_of_work():
        issue_refunds(db.session.get(Booking, booking.id), 100_00, reason="goodwill", actor="test")

    response = client.get(f"/api/v1/bookings/{booking.reference}/receipt.pdf", headers=bearer(token))
    assert response.status_code == 200
    assert response.mimetype == "application/pdf"
    assert response.headers["Cache-Control"] == "no-store"
    assert f'filename="receipt-{booking.reference}.pdf"' in response.headers["Content-Disposition"]
    text = pdf_text(response.data)

    for words in ("Cedar House Retreats", "Cedar House, 14 Orchard Lane, Asheville, NC 28801",
                  "Tax ID (EIN) 12-3456789", f"Booking {booking.reference}", "Alex Rivera",
                  "Seven-day IV ketamine with EMDR", "Status Confirmed"):
        assert words in text, words
    # The items of price list 1 with their CPT codes, quantities and amounts.
    assert re.search(r"Medical and psychiatric intake assessment 90792 1 booking \$300\.00 \$300\.00", text)
    assert re.search(r"96365 4 sessions \$600\.00 \$2,400\.00", text)
    assert re.search(r"EMDR integration psychotherapy, 60–90 min 90837 4 sessions \$200\.00 \$800\.00", text)
    assert re.search(r"Lodging, shared room \(not a medical expense\) — 6 nights \$120\.00 \$720\.00", text)
    assert "Price of the program $4,970.00" in text
    assert "Discount (code SPRING10) -$497.00" in text
    assert "Reduced fee granted by the clinic -$500.00" in text
    assert "Total charged $3,973.00" in text
    # Every movement of money, and what is left.
    assert f"Deposit test payment, no money moved demo_deposit {usd(booking.deposit_cents)}" in text
    assert "Balance test payment, no money moved demo_part $1,000.00" in text
    assert re.search(r"Refund test payment, no money moved \S+ -\$100\.00", text)
    paid = booking.deposit_cents + 1_000_00 - 100_00
    assert f"Paid, less refunds {usd(paid)}" in text
    owed = 3_973_00 - booking.deposit_cents - 1_000_00  # a goodwill refund is not owed again
    assert f"Balance due: {usd(owed)}, by {booking.balance_due_date:%a} {booking.balance_due_date.day}" in text
    assert "for you to submit to your HSA/FSA plan or insurer yourself: Cedar House Retreats does not bill insurers" \
        in text


# --- The superbill: when it is ready, and what it says ---------------------------------------------------------

def test_the_superbill_waits_for_the_start_the_diagnosis_and_the_birth_date_then_says_it_all(
        app, client, staff_user):
    booking, token = booked(client, starts_in_days=20)
    pay(booking, "deposit", booking.deposit_cents, "demo_deposit")
    url = f"/api/v1/bookings/{booking.reference}/superbill.pdf"

    def refusal() -> str:
        response = client.get(url, headers=bearer(token))
        assert response.status_code == 409
        assert response.get_json()["error"]["code"] == "superbill_not_ready"
        return response.get_json()["error"]["message"]

    start = booking.cohort.start_date
    with time_machine.travel(at_clinic(start - timedelta(days=1), 23), tick=False):
        assert "once your program has started" in refusal()
        assert _manage_superbill_state(client, token) == "later"
    clinician = staff_user("clinician", email="okafor@clinic.example")
    with time_machine.travel(at_clinic(start, 0), tick=False):  # midnight in the clinic: its first day
        assert "once your clinician has recorded the diagnosis" in refusal()
        superbills.record_diagnosis(booking.reference, CODES_TYPED, staff=clinician)
        message = refusal()
        assert "date of birth" in message
        # The manage page sends the applicant to give it, then the superbill downloads.
        asked = client.get(f"/bookings/manage/{token}/superbill.pdf")
        assert asked.status_code == 303 and asked.headers["Location"].endswith(f"/bookings/manage/{token}/superbill")
        saved = client.post(f"/bookings/manage/{token}/superbill", data={"birth_date": "1984-03-27"})
        assert saved.status_code == 303
        response = client.get(url, headers=bearer(token))

    assert response.status_code == 200 and response.mimetype == "application/pdf"
    text = pdf_text(response.data)
    for words in ("Superbill", "NPI 1234567893", "Tax ID (EIN) 12-3456789", "Cedar House Retreats",
                  "Treating clinician Test clinician", "Name Alex Rivera", "Date of birth 03/27/1984",
                  f"Booking {booking.reference}", "F33.2", "F43.10",
                  f"{start:%m/%d/%Y} to {booking.cohort.end_date:%m/%d/%Y}",
                  "does not bill insurers"):
        assert words in text, words
    # Each medical service with its code, diagnosis pointers, units, fee and charge; lodging is no medical service.
    dates = f"{start:%m/%d/%y}–{booking.cohort.end_date:%m/%d/%y}"
    for label, code, units, fee, charge in (
            ("Medical and psychiatric intake assessment", "90792", 1, "$300.00", "$300.00"),
            ("monitoring", "96365", 4, "$600.00", "$2,400.00"),
            ("EMDR integration psychotherapy, 60–90 min", "90837", 4, "$200.00", "$800.00"),
            ("Half-day EMDR therapy intensive", "none", 1, "$750.00", "$750.00")):
        assert re.search(re.escape(f"{dates} ") + r".*?" + re.escape(f"{label} {code} A,B {units} {fee} {charge}"),
                         text), label
    assert "Total charges for these services $4,250.00" in text
    assert "Lodging, shared room" not in text
    assert f"Paid by the patient, net of refunds {usd(booking.deposit_cents)}" in text


def _manage_superbill_state(client, token: str) -> str:
    page = client.get(f"/bookings/manage/{token}").get_data(as_text=True)
    if "Download your superbill" in page:
        return "ready"
    return "later" if "Once your program has started" in page else "waiting"


# --- Who gets which document (the renderer stood in for) -------------------------------------------------------

@pytest.fixture
def rendered(monkeypatch):
    """A stand-in for WeasyPrint: the templates are still rendered (so they must work), the PDF is not made."""
    made = []

    def render(template: str, **context) -> bytes:
        from flask import render_template
        made.append((template, render_template(template, **context)))
        return b"%PDF-stand-in " + template.encode()

    monkeypatch.setattr(documents, "render_pdf", render)
    return made


def test_no_token_a_wrong_token_or_another_bookings_token_gets_no_document(client, rendered):
    booking, token = booked(client)
    other, other_token = booked(client)
    for document in ("receipt.pdf", "superbill.pdf"):
        url = f"/api/v1/bookings/{booking.reference}/{document}"
        for headers in ({}, bearer("x" * 43), bearer(other_token), {"Authorization": token}):
            response = client.get(url, headers=headers)
            assert response.status_code == 401, (document, headers)
            assert response.get_json()["error"]["code"] == "unauthorized"
            assert response.headers["WWW-Authenticate"].startswith("Bearer")
        assert client.get(f"/api/v1/bookings/RT-NOSUCH/{document}", headers=bearer(token)).status_code == 401
    assert client.get("/bookings/manage/" + "x" * 43 + "/receipt.pdf").status_code == 404
    assert rendered == []
    # The right token gets its own booking's receipt.
    response = client.get(f"/api/v1/bookings/{other.reference}/receipt.pdf", headers=bearer(other_token))
    assert response.status_code == 200 and other.reference in rendered[0][1] and booking.reference not in \
        rendered[0][1]

    # The manage page offers the receipt (a held booking: no superbill yet), and its link gives it.
    page = client.get(f"/bookings/manage/{token}").get_data(as_text=True)
    assert f"/bookings/manage/{token}/receipt.pdf" in page and "Download your superbill" not in page
    response = client.get(f"/bookings/manage/{token}/receipt.pdf")
    assert response.status_code == 200 and response.mimetype == "application/pdf"
    assert response.headers["Cache-Control"] == "no-store" and response.headers["Referrer-Policy"] == "no-referrer"
    # A held booking has no superbill to ask a date of birth for.
    refused = client.post(f"/bookings/manage/{token}/superbill", data={"birth_date": "1984-03-27"})
    assert refused.status_code == 303 and superbills.birth_date(booking) is None


BAD_BIRTH_DATES = [
    ("", "Give your date of birth."),
    ("27/03/1984", "Give a real date"),
    ("1984-02-30", "Give a real date"),
    ("2099-01-01", "a day in the past"),
    ("1899-12-31", "from 1900 on"),
    ("1984-03-27'; DROP TABLE booking;--", "Give a real date"),
]


def test_documents_are_rate_limited_per_address(database_url):
    limited = create_app("testing", SQLALCHEMY_DATABASE_URI=database_url, RATELIMIT_ENABLED=True,
                         RATELIMIT_DOCUMENTS="2 per minute")
    with limited.app_context():
        try:
            client = limited.test_client()
            pages = [client.get("/bookings/manage/" + "x" * 43 + "/receipt.pdf").status_code for _ in range(3)]
            assert pages == [404, 404, 429]
            api = [client.get("/api/v1/bookings/RT-AAAAAA/superbill.pdf").status_code for _ in range(3)]
            assert api == [401, 401, 429]
        finally:
            db.session.remove()
            db.engine.dispose()


def test_the_date_of_birth_is_checked_and_stored_encrypted_as_the_diagnosis_is_audited_without_them(
        app, client, staff_user, rendered):
    booking, token = booked(client)
    pay(booking, "deposit", booking.deposit_cents, "demo_deposit")
    for typed, reason in BAD_BIRTH_DATES:
        response = client.post(f"/bookings/manage/{token}/superbill", data={"birth_date": typed})
        assert response.status_code == 422, typed
        page = response.get_data(as_text=True)
        assert reason in page and 'aria-invalid="true"' in page, typed
    assert superbills.birth_date(booking) is None

    assert client.post(f"/bookings/manage/{token}/superbill", data={"birth_date": "1984-03-27"}).status_code == 303
    superbills.record_diagnosis(booking.reference, CODES_TYPED, staff=staff_user("clinician"))
    row = db.session.execute(sa.text("SELECT birth_date_encrypted, diagnosis_encrypted FROM superbill_detail")).one()
    stored = b"".join(bytes(value) for value in row)
    assert b"1984" not in stored and b"F33" not in stored
    assert superbills.birth_date(booking) == date(1984, 3, 27) and superbills.diagnosis_codes(booking) == list(CODES)
    entries = db.session.scalars(sa.select(AuditEntry).where(AuditEntry.action.in_(
        ("booking.birth_date_given", "booking.diagnosis_record")))).all()
    assert sorted(entry.action for entry in entries) == ["booking.birth_date_given", "booking.diagnosis_record"]
    assert all("1984" not in str(entry.details) and "F33" not in str(entry.details) for entry in entries)

    # They move to a new key with the screening answers (`flask screening rotate-keys`).
    new_key = Fernet.generate_key().decode()
    use_keys(app, new_key, OLD_KEY)
    result = app.test_cli_runner().invoke(args=["screening", "rotate-keys"])
    assert result.exit_code == 0 and "Re-encrypted 1 superbill detail(s) under the newest key." in result.output
    use_keys(app, new_key)  # the old key removed
    db.session.expire_all()
    assert superbills.birth_date(booking) == date(1984, 3, 27) and superbills.diagnosis_codes(booking) == list(CODES)


def test_only_a_clinician_sees_and_records_the_diagnosis_and_every_booking_role_gets_the_receipt(
        app, client, staff_user, rendered):
    booking, _ = booked(client)
    pay(booking, "deposit", booking.deposit_cents, "demo_deposit")
    page_url = f"/staff/bookings/{booking.reference}"

    def sign_in(*roles):
        client.post("/staff/logout")
        user = staff_user(*roles, email=f"{'-'.join(roles)}@clinic.example")
        assert client.post("/staff/login", data={"email": user.email, "password": "correct horse battery staple"}
                           ).status_code == 302
        return user

    sign_in("clinician")
    refused = client.post(f"{page_url}/diagnosis", data={"diagnosis-diagnosis_codes": "depression"})
    assert refused.status_code == 422 and "is not an ICD-10 code" in refused.get_data(as_text=True)
    assert superbills.diagnosis_codes(booking) == []
    done = client.post(f"{page_url}/diagnosis", data={"diagnosis-diagnosis_codes": CODES_TYPED})
    assert done.status_code == 303
    page = client.get(page_url).get_data(as_text=True)
    assert "F33.2, F43.10" in page and "Recorded by Test clinician" in page

    for roles in (("finance",), ("coordinator",), ("admin",)):
        sign_in(*roles)
        page = client.get(page_url)
        assert page.status_code == 200
        text = page.get_data(as_text=True)
        assert "F33.2" not in text and "F43.10" not in text and "diagnosis-heading" not in text, roles
        receipt = client.get(f"{page_url}/receipt.pdf")
        assert receipt.status_code == 200 and receipt.mimetype == "application/pdf", roles
        assert client.post(f"{page_url}/diagnosis", data={"diagnosis-diagnosis_codes": "Z00.00"}
                           ).status_code == 403, roles
    assert superbills.diagnosis_codes(booking) == list(CODES)
    # The receipt has no health data: no diagnosis, no date of birth.
    assert all("F33" not in html for _, html in rendered)


# --- The receipt attached to the emails about money ------------------------------------------------------------

def test_the_payment_and_refund_emails_carry_the_receipt(app, client, rendered, smtp_server):  # noqa: F811
    booking, _ = booked(client)
    pay(booking, "deposit", booking.deposit_cents, "demo_deposit")
    with unit_of_work():
        issue_refunds(db.session.get(Booking, booking.id), 50_00, reason="goodwill", actor="test")
    emails = db.session.scalars(sa.select(OutboxEmail).where(OutboxEmail.kind.in_(
        ("receipt_deposit", "refund_issued"))).order_by(OutboxEmail.id)).all()
    assert [(email.kind, email.attachment) for email in emails] == [
        ("receipt_deposit", f"receipt:{booking.reference}"), ("refund_issued", f"receipt:{booking.reference}")]

    use_smtp(app, smtp_server.server_address[1])
    db.session.execute(sa.update(OutboxEmail).values(sent_at=None, attempts=0))
    db.session.commit()
    assert notify.send_pending() >= 2
    sent = {message["Subject"]: message for message in smtp_server.messages}
    for subject in (f"Cedar House Retreats: receipt for your deposit ({booking.reference})",
                    f"Cedar House Retreats: your refund ({booking.reference})"):
        [attachment] = list(sent[subject].iter_attachments())
        assert attachment.get_content_type() == "application/pdf"
        assert attachment.get_filename() == f"receipt-{booking.reference}.pdf"
        assert attachment.get_content().startswith(b"%PDF-")
        assert "attached PDF" in sent[subject].get_body(("plain",)).get_content()


# --- The statement's arithmetic ---------------------------------------------------------------------------------

def test_the_statement_always_adds_up_to_the_price_charged(client):
    booking, _ = booked(client)
    list_price = booking.list_price_cents
    for discount, reduction, sessions_edited in ((0, 0, False), (497_00, 0, False), (0, 1_200_00, False),
                                                (250_00, 300_00, False), (0, 0, True), (100_00, 0, True)):
        booking.discount_cents, booking.discount_code = discount, "CODE" if discount else None
        booking.reduction_cents = reduction
        booking.total_cents = list_price - discount - reduction
        # The program gained a session after the booking froze its price, or not.
        booking.cohort.program.dosing_sessions = 5 if sessions_edited else 4
        db.session.commit()
        statement = documents.statement(booking)
        assert statement.list_price_cents + sum(line.total_cents for line in statement.adjustments) == \
            booking.total_cents
        labels = [line.label for line in statement.adjustments]
        assert ("Discount (code CODE)" in labels) == bool(discount)
        assert ("Reduced fee granted by the clinic" in labels) == bool(reduction)
        assert any(label.startswith("Difference") for label in labels) == sessions_edited


READINESS = [  # status, started, diagnosed, born, ready
    ("confirmed", True, True, True, True),
    ("paid_in_full", True, True, True, True),
    ("confirmed", False, True, True, False),
    ("confirmed", True, True, False, False),
    ("cancelled", True, True, True, False),
    ("held", True, True, True, False),
    ("confirmed", True, False, True, False),
]


def test_when_a_superbill_is_ready(client, staff_user):
    booking, _ = booked(client, starts_in_days=20)
    clinician = staff_user("clinician")
    for status, started, diagnosed, born, ready in READINESS:
        detail = db.session.scalar(sa.select(superbills.SuperbillDetail))
        if detail is not None:
            db.session.delete(detail)
        booking.status = status
        db.session.commit()
        if born:
            superbills.give_birth_date(booking, "1990-01-02")
        if diagnosed:
            superbills.record_diagnosis(booking.reference, "F33.1", staff=clinician)
        day = booking.cohort.start_date if started else booking.cohort.start_date - timedelta(days=1)
        with time_machine.travel(at_clinic(day, 12), tick=False):
            if ready:
                superbills.check_superbill_ready(booking)
            else:
                with pytest.raises(superbills.SuperbillNotReady):
                    superbills.check_superbill_ready(booking)


# --- Rules without a database -----------------------------------------------------------------------------------

@pytest.mark.parametrize("typed, codes", [
    ("F33.2", ["F33.2"]),
    ("f33.2", ["F33.2"]),
    ("F332", ["F33.2"]),
    ("F33.2, F43.10; F41.1", ["F33.2", "F43.10", "F41.1"]),
    ("F33.2 F33.2", ["F33.2"]),
    ("F32.A", ["F32.A"]),
    ("T74.11XA", ["T74.11XA"]),
    ("F32", ["F32"]),
])
def test_icd10_codes_are_read_as_typed(typed, codes):
    assert superbills.parse_diagnosis_codes(typed) == codes


@pytest.mark.parametrize("typed", ["", "   ", "depression", "33.2", "F3", "F33.22222", "F33..2", "<script>",
                                   ", ".join(f"F3{i}.0" for i in range(10)) + ", F40.0, F41.0, F42.0",
                                   None, 332])
def test_anything_else_is_refused_naming_the_field(typed):
    with pytest.raises(ValidationFailed) as refused:
        superbills.parse_diagnosis_codes(typed)
    assert list(refused.value.fields) == ["diagnosis_codes"]


def test_a_birth_date_is_a_real_day_before_today_in_the_clinic():
    with time_machine.travel(datetime(2027, 3, 2, 3, 0, tzinfo=UTC), tick=False):  # 1 March, 10 PM in New York
        assert superbills.parse_birth_date("2027-02-28") == date(2027, 2, 28)
        with pytest.raises(ValidationFailed, match="Some fields"):
            superbills.parse_birth_date("2027-03-01")  # today in the clinic
        with pytest.raises(ValidationFailed):
            superbills.parse_birth_date("2027-02-29")  # no such day


def test_documents_load_nothing_while_rendering():
    fetcher = pdf._fetcher()
    fetch = getattr(fetcher, "fetch", fetcher)
    for url in ("http://127.0.0.1:9/x.png", "https://example.org/a.css", "file:///etc/passwd",
                "data:text/css,body{}"):
        with pytest.raises(pdf.FetchRefused):
            fetch(url)


# --- The estimate names each line's CPT code; the API's estimate stays as API.md has it ---------------------------

def test_the_estimate_page_shows_each_lines_cpt_code_and_the_api_adds_no_field(client):
    made = client.post("/api/v1/estimates", json={
        "duration_days": 7, "ketamine_route": "esketamine", "dosing_sessions": 2, "therapy_modality": "ifs",
        "integration_sessions": 2, "intensive_sessions": 1, "lodging": "shared"})
    assert made.status_code == 201
    assert {key for item in made.get_json()["line_items"] for key in item} == {
        "code", "label", "quantity", "unit_cents", "total_cents", "hsa_fsa_eligible"}
    page = client.get(f"/estimates/{made.get_json()['id']}").get_data(as_text=True)
    codes = re.findall(r'<span class="cpt-code">([^<]+)</span>', page)
    # Intake, esketamine (the first of G2082/G2083), integration; the intensive and lodging have none.
    assert codes == ["90792", "G2082", "90837"]
