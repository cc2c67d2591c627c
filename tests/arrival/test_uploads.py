"""Documents: a clinician asks (records or clearance), the applicant uploads real PDF, JPEG and PNG files, stored
encrypted under random names; wrong types, oversize files and the 11th file are refused by name and leave nothing
behind; only clinicians list and download (each view audited), coordinators see a count, finance nothing; the
pre-screen's "ask for records" decision shows on the manage page; the checklist step, the applicant's data and its
erasure."""

import io
from pathlib import Path

import flask
import pytest
import sqlalchemy as sa
from PIL import Image
from pypdf import PdfWriter
from werkzeug.exceptions import RequestEntityTooLarge

from retreat import create_app
from retreat.arrival import uploads
from retreat.arrival.uploads_models import DocumentRequest, UploadedDocument
from retreat.booking import services as booking_services
from retreat.booking.models import Booking
from retreat.core.audit import AuditEntry
from retreat.core.transactions import unit_of_work
from retreat.extensions import db
from retreat.notify.models import OutboxEmail
from retreat.screening import review
from tests.booking.support import APPLICANT, confirm_email, eligible_token, make_cohort, review_token
from tests.booking.test_concurrency import answers, race, racing_app  # noqa: F401  (racing_app: a fixture)
from tests.conftest import STAFF_PASSWORD

MARKER = "ECG-QT-INTERVAL-MARKER-4711"


# --- Real files, made here -----------------------------------------------------------------------------------------

def tiny_pdf(title: str = MARKER) -> bytes:
    writer = PdfWriter()
    writer.add_blank_page(width=72, height=72)
    writer.add_metadata({"/Title": title})
    out = io.BytesIO()
    writer.write(out)
    return out.getvalue()


def tiny_image(kind: str) -> bytes:
    out = io.BytesIO()
    Image.new("RGB", (4, 4), "teal").save(out, kind)
    return out.getvalue()


EXE = b"MZ\x90\x00\x03\x00\x00\x00\x04\x00\x00\x00\xff\xff\x00\x00" + b"\x00" * 64 + b"This program cannot be run"
HTML = b"<!doctype html><html><body><script>fetch('/staff/users')</script></body></html>"


# --- Setting the scene -----------------------------------------------------------------------------------------------

@pytest.fixture
def folder(app, tmp_path) -> Path:
    app.config["UPLOAD_FOLDER"] = str(tmp_path / "uploads")
    return tmp_path / "uploads"


def stored_files(folder: Path) -> list[Path]:
    return sorted(folder.iterdir()) if folder.exists() else []


def book(token: str | None = None):
    created = booking_services.create_booking(
        cohort_id=make_cohort().id, screening_token=token or eligible_token(), lodging="shared",
        applicant=dict(APPLICANT), payment_provider="demo", policy_accepted=True)
    return db.session.get(Booking, created.booking.id), created.manage_token


def sign_in(app, user):
    client = app.test_client()
    response = client.post("/staff/login", data={"email": user.email, "password": STAFF_PASSWORD})
    assert response.status_code == 302
    return client


def send(client, token: str, content: bytes | None, name: str = "scan.pdf", **fields):
    data = dict(fields)
    data["file"] = (io.BytesIO(content), name) if content is not None else (io.BytesIO(b""), "")
    return client.post(f"/bookings/manage/{token}/documents", data=data, content_type="multipart/form-data")


def rows() -> int:
    return db.session.scalar(sa.select(sa.func.count()).select_from(UploadedDocument))


def audit_entries(action: str) -> list[AuditEntry]:
    return list(db.session.scalars(sa.select(AuditEntry).where(AuditEntry.action == action).order_by(AuditEntry.id)))


@pytest.fixture
def asked(app, client, folder, staff_user):
    """A held booking whose applicant a clinician has asked for clearance, through the staff page."""
    booking, token = book()
    clinician = staff_user("clinician", email="okafor@clinic.example")
    staff = sign_in(app, clinician)
    response = staff.post(f"/staff/bookings/{booking.reference}/documents",
                          data={"ask-kind": "clearance", "ask-details": "A resting ECG from the last 3 months"})
    assert response.status_code == 303, response.get_data(as_text=True)
    return booking, token, staff


# --- Asking, uploading, downloading ----------------------------------------------------------------------------------

def test_a_clinician_asks_the_applicant_uploads_real_files_stored_encrypted_and_each_download_is_audited(
        client, asked, folder):
    booking, token, staff = asked
    [request] = db.session.scalars(sa.select(DocumentRequest)).all()
    assert (request.kind, request.source) == ("clearance", "clinician")
    assert b"ECG" not in request.details_encrypted
    [entry] = audit_entries("documents.request")
    assert entry.actor_email == "okafor@clinic.example" and entry.details == {"kind": "clearance",
                                                                            "request": request.id}
    [email] = db.session.scalars(sa.select(OutboxEmail).where(OutboxEmail.kind == "documents_requested")).all()
    assert email.to_address == APPLICANT["email"] and f"/bookings/manage/{token}/documents" in email.body
    assert "ECG" not in email.body, "what is asked stays behind the private link"

    manage = client.get(f"/bookings/manage/{token}").get_data(as_text=True)
    assert "Documents the clinic asked for" in manage and "waiting for you to send it" in manage
    page = client.get(f"/bookings/manage/{token}/documents").get_data(as_text=True)
    assert "A resting ECG from the last 3 months" in page and 'enctype="multipart/form-data"' in page

    files = {"ecg.pdf": (tiny_pdf(), "application/pdf"), "labs photo.jpg": (tiny_image("JPEG"), "image/jpeg"),
             "strip.png": (tiny_image("PNG"), "image/png")}
    for name, (content, _) in files.items():
        response = send(client, token, content, name)
        assert response.status_code == 303, response.get_data(as_text=True)
    assert rows() == 3 and len(stored_files(folder)) == 3
    for path in stored_files(folder):  # random names, no plaintext on disk
        assert len(path.name) == 32 and path.suffix == ""
        stored = path.read_bytes()
        assert MARKER.encode() not in stored and b"%PDF" not in stored and b"JFIF" not in stored
        assert b"IHDR" not in stored
    uploaded = audit_entries("documents.upload")
    assert [e.details["type"] for e in uploaded] == ["PDF", "JPEG", "PNG"]
    assert all(e.actor_email == "applicant" and "name" not in e.details for e in uploaded)

    listing = staff.get(f"/staff/bookings/{booking.reference}/documents")
    assert listing.status_code == 200 and "labs photo.jpg" in listing.get_data(as_text=True)
    assert len(audit_entries("documents.list")) == 1
    documents = db.session.scalars(sa.select(UploadedDocument).order_by(UploadedDocument.id)).all()
    for document, (name, (content, content_type)) in zip(documents, files.items(), strict=True):
        download = staff.get(f"/staff/bookings/{booking.reference}/documents/{document.id}/download")
        assert download.status_code == 200
        assert download.data == content and download.mimetype == content_type
        assert download.headers["Content-Disposition"].startswith(f'attachment; filename="{name}"')
        assert download.headers["Cache-Control"] == "no-store"
        assert download.headers["X-Content-Type-Options"] == "nosniff"
    views = audit_entries("documents.view")
    assert [v.details["document"] for v in views] == [d.id for d in documents]
    assert all(v.actor_email == "okafor@clinic.example" for v in views)
    step = uploads.checklist_step(db.session.get(Booking, booking.id))
    assert step.key == "documents" and step.done and step.endpoint == "booking.documents"
    # A request is checked by field, and nothing is asked when it is refused.
    for data, field, reason in (({"ask-kind": "clearance", "ask-details": " "}, "ask-details", "Say what is needed"),
                                ({"ask-kind": "x-ray"}, "ask-kind", "Choose medical records or medical clearance"),
                                ({"ask-kind": "records", "ask-details": "x" * 501}, "ask-details", "under 500")):
        response = staff.post(f"/staff/bookings/{booking.reference}/documents", data=data)
        assert response.status_code == 422
        assert reason in response.get_data(as_text=True), field
    assert db.session.scalar(sa.select(sa.func.count()).select_from(DocumentRequest)) == 1


BAD_FILES = [
    ("program.pdf", EXE, "is not a PDF, JPEG or PNG file"),
    ("letter.pdf", HTML, "is not a PDF, JPEG or PNG file"),
    ("photo.png", b"GIF89a\x01\x00\x01\x00", "is not a PDF, JPEG or PNG file"),
    ("empty.pdf", b"", "is empty"),
    (None, None, "Choose a file to upload"),
    ("huge.pdf", b"%PDF-1.7\n" + b"0" * uploads.MAX_FILE_BYTES, "larger than 10 MB"),
]


def test_bad_files_oversize_bodies_and_the_eleventh_file_are_refused_by_name_leaving_no_file_and_no_row(
        app, client, asked, folder):
    booking, token, _ = asked
    for name, content, reason in BAD_FILES:
        response = send(client, token, content, name or "")
        assert response.status_code == 422, name
        page = response.get_data(as_text=True)
        assert reason in page and 'id="file-error"' in page and "Choose a file:" in page, name
        assert stored_files(folder) == [] and rows() == 0, name
    # A body larger than the route takes: the page again, with the reason beside the field, not a bare 413.
    response = send(client, token, b"%PDF-1.7\n" + b"0" * (uploads.MAX_REQUEST_BYTES + 1), "scan.pdf")
    assert response.status_code == 413
    page = response.get_data(as_text=True)
    assert "larger than 10 MB" in page and 'id="file-error"' in page and "Upload this file" in page
    assert stored_files(folder) == [] and rows() == 0
    assert audit_entries("documents.upload") == []
    # Ten files fit; the eleventh is refused.
    for number in range(uploads.MAX_FILES):
        assert send(client, token, tiny_image("PNG"), f"page-{number}.png").status_code == 303
    response = send(client, token, tiny_image("PNG"), "page-11.png")
    assert response.status_code == 422
    assert "This booking has 10 files, the most we take" in response.get_data(as_text=True)
    assert rows() == uploads.MAX_FILES and len(stored_files(folder)) == uploads.MAX_FILES
    page = client.get(f"/bookings/manage/{token}/documents").get_data(as_text=True)
    assert "the most we take" in page and "Upload this file" not in page
    # The upload's larger limit is its own: another booking page still refuses a body over 1 MB.
    with app.test_request_context(f"/bookings/manage/{token}/cancel", method="POST",
                                  data={"x": "y" * (2 * 1024 * 1024)}), pytest.raises(RequestEntityTooLarge):
        flask.request.form.get("x")


def test_only_clinicians_open_documents_coordinators_see_a_count_and_finance_nothing(app, client, asked,
                                                                                     staff_user):
    booking, token, clinician = asked
    send(client, token, tiny_pdf(), "ecg.pdf")
    document = db.session.scalars(sa.select(UploadedDocument)).one()
    base = f"/staff/bookings/{booking.reference}"
    download = f"{base}/documents/{document.id}/download"
    for role in ("coordinator", "finance", "admin"):
        other = sign_in(app, staff_user(role))
        assert other.get(f"{base}/documents").status_code == 403, role
        assert other.get(download).status_code == 403, role
        assert other.post(f"{base}/documents", data={"ask-kind": "records"}).status_code == 403, role
        page = other.get(base).get_data(as_text=True)
        assert "ecg.pdf" not in page and "A resting ECG" not in page, role
        if role == "finance":
            assert 'id="uploads-heading"' not in page
        else:
            assert 'data-documents="1"' in page and "Only clinicians open the documents" in page, role
    assert audit_entries("documents.view") == []
    clinician_page = clinician.get(base).get_data(as_text=True)
    assert "Open the documents" in clinician_page
    # Another booking's reference does not open this booking's file.
    other_booking, _ = book()
    assert clinician.get(f"/staff/bookings/{other_booking.reference}/documents/{document.id}/download") \
        .status_code == 404


# --- The pre-screen's request for records --------------------------------------------------------------------------

def test_the_pre_screens_records_decision_shows_on_the_manage_page_and_takes_uploads(app, client, folder,
                                                                                      staff_user):
    screening_token = review_token()
    booking, token = book(screening_token)
    confirm_email(booking)  # the review is asked for once the applicant's address is confirmed
    assert booking.status == "pending_review"
    assert uploads.checklist_step(booking) is None
    assert "Documents the clinic asked for" not in client.get(f"/bookings/manage/{token}").get_data(as_text=True)
    clinician = staff_user("clinician")
    review.decide(booking.screening_id, "records_requested", "Need the prescriber's letter.", clinician)
    [row] = db.session.scalars(sa.select(DocumentRequest)).all()
    assert (row.kind, row.source) == ("records", "screening")
    [email] = db.session.scalars(sa.select(OutboxEmail).where(OutboxEmail.kind == "documents_requested")).all()
    assert f"/bookings/manage/{token}/documents" in email.body and "prescriber" not in email.body
    manage = client.get(f"/bookings/manage/{token}").get_data(as_text=True)
    assert "Medical records" in manage and "Upload your documents" in manage
    assert not uploads.checklist_step(booking).done

    assert send(client, token, tiny_pdf(), "letter.pdf").status_code == 303
    assert db.session.scalars(sa.select(UploadedDocument)).one().request_id == row.id
    assert uploads.checklist_step(db.session.get(Booking, booking.id)).done
    booking_services.cancel_booking(db.session.get(Booking, booking.id))
    # The pre-screen books again while it waits for records: no row for the new booking, the request shows.
    later, token = book(screening_token)
    assert later.screening_id == booking.screening_id and later.status == "pending_review"
    [asked] = uploads.requests_of(later)
    assert asked.key == uploads.SCREENING_KEY and asked.id is None and not asked.done
    assert "Medical records" in client.get(f"/bookings/manage/{token}").get_data(as_text=True)
    assert send(client, token, tiny_image("JPEG"), "records.jpg").status_code == 303
    made = db.session.scalars(sa.select(DocumentRequest).where(DocumentRequest.booking_id == later.id)).all()
    assert [(r.kind, r.source) for r in made] == [("records", "screening")]


# --- The checklist, marking received, the applicant's data ---------------------------------------------------------

def test_the_checklist_step_is_done_by_a_file_or_a_clinician_marking_it_received(app, client, asked):
    booking, token, staff = asked
    assert uploads.checklist_step(book()[0]) is None, "nothing asked: no step"
    step = uploads.checklist_step(booking)
    assert not step.done and step.left == "Still to send: medical clearance."
    request = db.session.scalars(sa.select(DocumentRequest)).one()
    response = staff.post(f"/staff/bookings/{booking.reference}/documents/requests/{request.id}/received")
    assert response.status_code == 303
    db.session.expire_all()
    assert uploads.checklist_step(db.session.get(Booking, booking.id)).done
    assert audit_entries("documents.received")[0].details == {"kind": "clearance", "request": request.id}
    page = client.get(f"/bookings/manage/{token}/documents").get_data(as_text=True)
    assert "Received by the clinic" in page and "Upload this file" not in page
    assert send(client, token, tiny_pdf(), "late.pdf").status_code == 303  # flashed: nothing more is asked
    assert rows() == 0


def test_stored_files_read_back_whole_changes_are_refused_and_erasure_removes_files_and_rows(
        client, asked, folder):
    booking, token, staff = asked
    content = b"%PDF-1.7\n" + bytes(range(256)) * 1000  # three chunks and a bit
    assert send(client, token, content, "long.pdf").status_code == 303
    document = db.session.scalars(sa.select(UploadedDocument)).one()
    url = f"/staff/bookings/{booking.reference}/documents/{document.id}/download"
    assert staff.get(url).data == content
    [path] = stored_files(folder)
    stored = path.read_bytes()
    for damaged in (stored[:-1], stored[:uploads.HEADER_BYTES + uploads.CHUNK + uploads.TAG],
                    stored[:100] + bytes([stored[100] ^ 1]) + stored[101:]):
        path.write_bytes(damaged)
        assert staff.get(url).status_code == 500
    assert len(audit_entries("documents.view")) == 1, "a file not given out is not a view"
    path.write_bytes(stored)  # put back whole
    send(client, token, tiny_pdf(), "ecg <final>.pdf")
    send(client, token, tiny_image("PNG"), "strip")
    [_, pdf, png] = uploads.personal_data(db.session.get(Booking, booking.id))
    assert pdf["name"] == "ecg final.pdf" and pdf["content_type"] == "application/pdf"
    assert png["name"] == "strip.png" and png["size_bytes"] == len(tiny_image("PNG"))
    assert pdf["uploaded_at"].endswith("+00:00") and pdf["requested_as"] == "clearance"
    assert len(stored_files(folder)) == 3
    with unit_of_work():
        uploads.erase_personal_data(db.session.get(Booking, booking.id))
        assert len(stored_files(folder)) == 3, "the files go once the erasure commits"
    assert stored_files(folder) == [] and rows() == 0
    assert db.session.scalar(sa.select(sa.func.count()).select_from(DocumentRequest)) == 0
    assert uploads.personal_data(db.session.get(Booking, booking.id)) == []


# --- Names and limits ---------------------------------------------------------------------------------------------

NAMES = [
    ("ecg.pdf", "application/pdf", "ecg.pdf"),
    ("../../etc/passwd", "application/pdf", "passwd.pdf"),
    ("C:\\Users\\alex\\ecg.pdf", "application/pdf", "ecg.pdf"),
    ("scan.PDF", "application/pdf", "scan.PDF"),
    ("photo.jpeg", "image/jpeg", "photo.jpeg"),
    ("photo.png", "image/jpeg", "photo.png.jpg"),
    ('a"b;c\r\n.png', "image/png", "abc.png"),
    ("\u202ecod.exe", "image/png", "cod.exe.png"),
    ("", "image/png", "document.png"),
    ("...", "application/pdf", "document.pdf"),
    ("Überweisung Blutbild.pdf", "application/pdf", "Überweisung Blutbild.pdf"),
    ("x" * 300 + ".pdf", "application/pdf", "x" * 116 + ".pdf"),
]


@pytest.mark.parametrize(("raw", "content_type", "kept"), NAMES)
def test_original_names_are_kept_sanitised_with_the_extension_of_their_real_type(raw, content_type, kept):
    assert uploads.clean_name(raw, content_type) == kept


@pytest.mark.parametrize("database_url", ["sqlite"], indirect=True)  # the limiter does not depend on it
def test_uploads_are_rate_limited_per_address(database_url, tmp_path):
    limited = create_app("testing", SQLALCHEMY_DATABASE_URI=database_url, RATELIMIT_ENABLED=True,
                         RATELIMIT_UPLOADS="2 per minute", UPLOAD_FOLDER=str(tmp_path))
    with limited.app_context():
        try:
            client = limited.test_client()
            url = "/bookings/manage/" + "x" * 43 + "/documents"
            assert [client.post(url).status_code for _ in range(3)] == [404, 404, 429]
            assert client.get(url).status_code == 404, "reading the page is not limited"
        finally:
            db.session.remove()
            db.engine.dispose()


def test_the_upload_checks_its_forms_token_itself_and_keeps_nothing_without_it(app, client, asked, folder):
    """The route reads its own body (within its larger limit), so the app-wide CSRF check skips it: it checks the
    token itself."""
    _, token, _ = asked
    app.config["WTF_CSRF_ENABLED"] = True
    response = send(client, token, tiny_pdf(), "ecg.pdf")
    assert response.status_code == 400 and "This form has expired" in response.get_data(as_text=True)
    assert stored_files(folder) == [] and rows() == 0
    page = client.get(f"/bookings/manage/{token}/documents").get_data(as_text=True)
    csrf_token = page.split('name="csrf_token" type="hidden" value="')[1].split('"')[0]
    assert send(client, token, tiny_pdf(), "ecg.pdf", csrf_token=csrf_token).status_code == 303
    assert rows() == 1


def test_uploads_racing_for_the_last_two_places_take_two_and_leave_no_file_of_the_others(
        client, asked, folder, racing_app):  # noqa: F811  (the fixture imported above)
    booking, token, _ = asked
    for number in range(uploads.MAX_FILES - 2):
        assert send(client, token, tiny_image("PNG"), f"page-{number}.png").status_code == 303
    racing_app.config["UPLOAD_FOLDER"] = str(folder)
    request_key = str(db.session.scalars(sa.select(DocumentRequest.id)).one())
    image, booking_id = tiny_image("PNG"), booking.id

    def attempt(number: int):
        return lambda: uploads.upload(db.session.get(Booking, booking_id), request_key, io.BytesIO(image),
                                      original_name=f"racer-{number}.png").id

    outcomes = race(racing_app, [attempt(number) for number in range(6)])
    assert answers(outcomes) == {"ok": 2, "validation_failed": 4}
    assert rows() == uploads.MAX_FILES and len(stored_files(folder)) == uploads.MAX_FILES
