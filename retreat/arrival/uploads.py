"""Documents a clinician asks a booking's applicant for, and the files the applicant uploads.

A request is for medical records ("records") or for what medical clearance needs ("clearance": an ECG, labs, with
the clinician's words of what is asked). A clinician asks on the booking's documents page (staff); the pre-screen's
"ask for records" decision is a records request too, shown on the manage page of a booking made with that
pre-screen while the pre-screen waits for them.

Files: PDF, JPEG or PNG, the type found from the content's first bytes (never the name or the browser's word), at
most MAX_FILE_BYTES each and MAX_FILES per booking. Each file is encrypted with its own random 256-bit key
(AES-GCM, in 64 KiB chunks: each chunk's nonce is the file's random prefix, the chunk's number and a last-chunk flag,
so no chunk can be reordered, dropped or cut short unseen) as it is read, and written under a random name in
UPLOAD_FOLDER, outside the web root. The key is wrapped by core.crypto (the keys of the screening answers) and kept
in the row, so the folder alone reveals nothing and `flask screening rotate-keys` re-wraps keys without touching
files. The original file name is kept only to show and to name the download: sanitised, encrypted.

Only clinicians list and download the files, each read audited; coordinators see how many there are; finance
nothing. The audit log names kinds, types and sizes, never a file's name or what was asked.
"""

from __future__ import annotations

import base64
import contextlib
import os
import re
import secrets
import unicodedata
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import BinaryIO

import sqlalchemy as sa
from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives.ciphers.aead import AESGCM
from flask import current_app

from retreat.arrival.step import Step
from retreat.arrival.uploads_models import REQUEST_KINDS, DocumentRequest, UploadedDocument
from retreat.booking.access import booking_by_reference, manage_token
from retreat.booking.models import ACTIVE_STATUSES, Booking
from retreat.core import audit, crypto
from retreat.core import clinic as the_clinic
from retreat.core.clock import now
from retreat.core.errors import DomainError, NotFound, ValidationFailed
from retreat.core.links import external_url
from retreat.core.transactions import after_commit, in_unit_of_work, unit_of_work
from retreat.extensions import db
from retreat.notify import services as notify
from retreat.screening.models import Screening
from retreat.screening.review import screening_decided

MAX_FILE_BYTES = 10 * 1024 * 1024
MAX_FILES = 10
# One file per upload: the request's limit is the file's and room for the rest of the form.
MAX_REQUEST_BYTES = MAX_FILE_BYTES + 64 * 1024
DETAILS_MAX_LENGTH = 500
NAME_MAX_LENGTH = 120
CHUNK = 64 * 1024
TAG = 16
MAGIC = b"RTU1"
PREFIX_BYTES = 7
HEADER_BYTES = len(MAGIC) + PREFIX_BYTES

# The types taken, by how their content starts, with the words shown and the extensions a name may keep.
SIGNATURES = (
    (b"%PDF-", "application/pdf"),
    (b"\xff\xd8\xff", "image/jpeg"),
    (b"\x89PNG\r\n\x1a\n", "image/png"),
)
TYPE_WORDS = {"application/pdf": "PDF", "image/jpeg": "JPEG", "image/png": "PNG"}
EXTENSIONS = {"application/pdf": (".pdf",), "image/jpeg": (".jpg", ".jpeg", ".jpe"), "image/png": (".png",)}
KIND_LABELS = {"records": "Medical records", "clearance": "Medical clearance"}
KIND_WORDS = {"records": "medical records", "clearance": "a document for your medical clearance"}
KIND_HINTS = {
    "records": "Recent records from your doctor, psychiatrist or therapist: for example a list of your current "
               "medicines, a recent blood-pressure reading or a letter from your prescriber.",
    "clearance": "What your clinician needs before your program can start.",
}
SCREENING_KEY = "screening"
CLINICIANS = ("clinician",)
SEE_COUNTS = ("coordinator", "admin")


class StoredFileDamaged(DomainError):
    status = 500
    code = "document_unreadable"


class _TooLarge(Exception):
    pass


# --- Storage: encrypted files under random names -----------------------------------------------------------------

def upload_folder() -> Path:
    folder = Path(current_app.config.get("UPLOAD_FOLDER") or Path(current_app.instance_path) / "uploads")
    folder.mkdir(parents=True, exist_ok=True, mode=0o700)
    return folder


def stored_path(stored_name: str) -> Path:
    if not re.fullmatch(r"[0-9a-f]{32}", stored_name):
        raise ValueError("not a stored document's name")
    return upload_folder() / stored_name


def _read_full(stream: BinaryIO, size: int) -> bytes:
    """`size` bytes, fewer only at the end of the stream (a socket may give less at a time)."""
    parts, left = [], size
    while left:
        part = stream.read(left)
        if not part:
            break
        parts.append(part)
        left -= len(part)
    return b"".join(parts)


def _nonce(prefix: bytes, index: int, last: bool) -> bytes:
    return prefix + index.to_bytes(4, "big") + (b"\x01" if last else b"\x00")


def _write_encrypted(first: bytes, stream: BinaryIO, path: Path, key: bytes) -> int:
    """Encrypt `first` and the rest of `stream` into a new file at `path`, chunk by chunk; returns the plaintext's
    size. Raises _TooLarge (leaving the partial file for the caller to remove) past MAX_FILE_BYTES."""
    aes = AESGCM(key)
    prefix = os.urandom(PREFIX_BYTES)
    header = MAGIC + prefix
    size, index, chunk = 0, 0, first
    descriptor = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    with os.fdopen(descriptor, "wb") as out:
        out.write(header)
        while True:
            size += len(chunk)
            if size > MAX_FILE_BYTES:
                raise _TooLarge
            following = _read_full(stream, CHUNK)
            out.write(aes.encrypt(_nonce(prefix, index, not following), chunk, header))
            if not following:
                break
            chunk, index = following, index + 1
        out.flush()
        os.fsync(out.fileno())
    return size


def _decrypt(path: Path, key: bytes) -> bytes:
    """The whole plaintext, every chunk's tag checked before any of it is given out."""
    aes = AESGCM(key)
    parts = []
    try:
        with open(path, "rb") as stored:
            header = stored.read(HEADER_BYTES)
            if len(header) != HEADER_BYTES or not header.startswith(MAGIC):
                raise InvalidTag
            prefix = header[len(MAGIC):]
            sealed, index = _read_full(stored, CHUNK + TAG), 0
            while True:
                following = _read_full(stored, CHUNK + TAG)
                parts.append(aes.decrypt(_nonce(prefix, index, not following), sealed, header))
                if not following:
                    break
                sealed, index = following, index + 1
    except (InvalidTag, OSError):
        raise StoredFileDamaged("This file cannot be read back: it is missing or damaged in the upload folder. "
                                "Ask the applicant to upload it again.") from None
    return b"".join(parts)


def _wrap(key: bytes) -> bytes:
    return crypto.encrypt_json(base64.b64encode(key).decode())


def _unwrap(token: bytes) -> bytes:
    return base64.b64decode(crypto.decrypt_json(token))


def _remove(stored_names: Iterable[str]) -> None:
    for name in stored_names:
        with contextlib.suppress(FileNotFoundError):
            stored_path(name).unlink()


def sniff(head: bytes) -> str | None:
    """The content type a file's first bytes show, if it is one taken."""
    return next((content_type for magic, content_type in SIGNATURES if head.startswith(magic)), None)


def clean_name(raw: object, content_type: str) -> str:
    """The name to show and to download under: the last part of a path, without control or formatting characters,
    quotes or separators, at most NAME_MAX_LENGTH characters, ending in an extension of its real type."""
    name = unicodedata.normalize("NFC", raw if isinstance(raw, str) else "")
    name = re.split(r"[\\/]", name)[-1]
    name = "".join(ch for ch in name if not unicodedata.category(ch).startswith(("C", "Z")) or ch == " ")
    name = re.sub(r'["<>:|?*;%]', "", name)
    name = " ".join(name.split()).strip(" .")
    stem, dot, extension = name.rpartition(".")
    if not dot or f".{extension.lower()}" not in EXTENSIONS[content_type]:
        stem, extension = name, EXTENSIONS[content_type][0].lstrip(".")
    stem = stem[:NAME_MAX_LENGTH - len(extension) - 1].rstrip(" .") or "document"
    return f"{stem}.{extension}"


def size_words(size: int) -> str:
    if size < 1024 * 1024:
        return f"{max(1, round(size / 1024))} KB"
    return f"{size / (1024 * 1024):.1f} MB"


# --- What was asked, and what came ---------------------------------------------------------------------------------

@dataclass(frozen=True)
class DocumentView:
    id: int
    name: str
    content_type: str
    size_bytes: int
    uploaded_at: datetime
    request_id: int | None

    @property
    def type_words(self) -> str:
        return TYPE_WORDS[self.content_type]

    @property
    def size_words(self) -> str:
        return size_words(self.size_bytes)


@dataclass(frozen=True)
class RequestView:
    key: str  # the request's id, or SCREENING_KEY for the pre-screen's request before anything was done with it
    id: int | None
    kind: str
    source: str
    details: str
    requested_at: datetime | None
    received_at: datetime | None
    files: tuple[DocumentView, ...]
    screening_waiting: bool  # the pre-screen's request, while the pre-screen still waits for records

    @property
    def label(self) -> str:
        return KIND_LABELS[self.kind]

    @property
    def hint(self) -> str:
        return KIND_HINTS[self.kind]

    @property
    def settled_by_decision(self) -> bool:
        """The pre-screen's request once a clinician decided the pre-screen: nothing more is waited for."""
        return self.source == "screening" and not self.screening_waiting

    @property
    def done(self) -> bool:
        return bool(self.files) or self.received_at is not None or self.settled_by_decision

    @property
    def open(self) -> bool:
        """Files are still taken for it: not marked received, and not settled by the pre-screen's decision."""
        return self.received_at is None and not self.settled_by_decision


def _screening_waits(booking: Booking) -> Screening | None:
    if booking.screening_id is None:
        return None
    screening = db.session.get(Screening, booking.screening_id)
    return screening if screening is not None and screening.review_status == "records_requested" else None


def _documents(booking: Booking) -> list[UploadedDocument]:
    return list(db.session.scalars(sa.select(UploadedDocument).where(UploadedDocument.booking_id == booking.id)
                                   .order_by(UploadedDocument.uploaded_at, UploadedDocument.id)))


def _request_rows(booking: Booking) -> list[DocumentRequest]:
    return list(db.session.scalars(sa.select(DocumentRequest).where(DocumentRequest.booking_id == booking.id)
                                   .order_by(DocumentRequest.requested_at, DocumentRequest.id)))


def _document_view(document: UploadedDocument) -> DocumentView:
    return DocumentView(document.id, crypto.decrypt_json(document.name_encrypted), document.content_type,
                        document.size_bytes, document.uploaded_at, document.request_id)


def requests_of(booking: Booking, *, with_names: bool = True) -> list[RequestView]:
    """The booking's requests, oldest first, each with its files; the pre-screen's request for records comes first
    while the pre-screen waits for them, even before a row was written for it. `with_names=False` leaves the file
    names encrypted (the lists that only count)."""
    waiting = _screening_waits(booking)
    documents = _documents(booking)
    views = []
    rows = _request_rows(booking)
    if waiting is not None and not any(row.source == "screening" for row in rows):
        views.append(RequestView(SCREENING_KEY, None, "records", "screening", "", waiting.reviewed_at, None, (),
                                 True))
    for row in rows:
        files = tuple(_document_view(d) if with_names else DocumentView(d.id, "", d.content_type, d.size_bytes,
                                                                          d.uploaded_at, d.request_id)
                      for d in documents if d.request_id == row.id)
        details = crypto.decrypt_json(row.details_encrypted) if row.details_encrypted is not None else ""
        views.append(RequestView(str(row.id), row.id, row.kind, row.source, details, row.requested_at,
                                 row.received_at, files, row.source == "screening" and waiting is not None))
    return views


def documents_of(booking: Booking) -> list[DocumentView]:
    return [_document_view(document) for document in _documents(booking)]


def file_count(booking: Booking) -> int:
    return db.session.scalar(sa.select(sa.func.count()).select_from(UploadedDocument)
                             .where(UploadedDocument.booking_id == booking.id)) or 0


def takes_uploads(booking: Booking) -> bool:
    return booking.status in ACTIVE_STATUSES


# --- A clinician asks ------------------------------------------------------------------------------------------------

def _check_clinician(staff, what: str) -> None:
    if "clinician" not in (getattr(staff, "roles", None) or ()):
        raise DomainError(f"Only a clinician can {what}.", code="forbidden", status=403)


def check_request(kind: object, details: object) -> tuple[str, str]:
    if kind not in REQUEST_KINDS:
        raise ValidationFailed({"kind": ["Choose medical records or medical clearance."]})
    details = details.strip() if isinstance(details, str) else ""
    if kind == "clearance" and not details:
        raise ValidationFailed({"details": ["Say what is needed, such as “a resting ECG from the last 3 months” or "
                                            "“liver function tests”: the applicant reads it on their booking page."]})
    if len(details) > DETAILS_MAX_LENGTH:
        raise ValidationFailed({"details": [f"Keep it under {DETAILS_MAX_LENGTH} characters."]})
    return kind, details


def _documents_url(booking: Booking) -> str:
    return external_url("booking.documents", token=manage_token(booking))


def request_email(booking: Booking, kind: str) -> tuple[str, str]:
    """Subject and body of the email asking the applicant for documents. Never what is asked in detail (email is not
    a private channel): that is on the booking's page, behind its private link."""
    clinic = notify.clinic_name()
    greeting = f"Dear {booking.applicant_first_name}," if booking.applicant_first_name else "Hello,"
    subject = f"{clinic}: please send us {KIND_WORDS[kind]}"
    body = (
        f"{greeting}\n\n"
        f"A clinician at {clinic} has asked you for {KIND_WORDS[kind]} for your booking {booking.reference}. "
        "What is needed, and where to upload it (PDF, JPEG or PNG files), is on your booking's private page:\n\n"
        f"{_documents_url(booking)}\n\n"
        "Keep this link to yourself: anyone with it can manage your booking. Files uploaded there are stored "
        "encrypted and only the clinic's clinicians can open them. Please do not reply to this email with medical "
        f"documents: ordinary email is not private enough for them. If you have a question, "
        f"{the_clinic.contact_words()}.\n\n"
        f"With warm regards,\nThe clinical team at {clinic}\n\n{notify.clinic_contact()}\n\n"
        "If you are struggling right now: call or text 988 (Suicide & Crisis Lifeline, US). In immediate danger, "
        "call 911 or go to the nearest emergency room.\n"
    )
    return subject, body


def ask_for_documents(reference: str, kind: object, details: object, *, staff) -> DocumentRequest:
    """A clinician asks the applicant for documents: the request (its details encrypted), audited without them, and
    an email with the link to upload. One unit of work."""
    _check_clinician(staff, "ask for documents")
    kind, details = check_request(kind, details)
    with unit_of_work():
        booking = booking_by_reference(reference)
        if not takes_uploads(booking):
            raise DomainError("This booking is no longer active, so no documents are asked for it.",
                              code="booking_not_active")
        request = DocumentRequest(booking_id=booking.id, kind=kind, source="clinician", requested_by_id=staff.id,
                                  details_encrypted=crypto.encrypt_json(details) if details else None)
        db.session.add(request)
        db.session.flush()
        audit.record("documents.request", "booking", booking.reference, {"kind": kind, "request": request.id},
                     actor=staff)
        notify.enqueue("documents_requested", booking.applicant_email, *request_email(booking, kind))
    return request


def mark_received(reference: str, request_id: int, *, staff) -> DocumentRequest:
    """A clinician marks a request received (the documents came another way, or those uploaded are enough)."""
    _check_clinician(staff, "mark documents received")
    with unit_of_work():
        booking = booking_by_reference(reference)
        request = db.session.get(DocumentRequest, request_id)
        if request is None or request.booking_id != booking.id:
            raise NotFound("This booking has no such request for documents.")
        if request.received_at is None:
            request.received_at = now()
            request.received_by_id = staff.id
            audit.record("documents.received", "booking", booking.reference,
                         {"kind": request.kind, "request": request.id}, actor=staff)
    return request


@screening_decided.connect
def on_screening_decided(screening: Screening, *, decision: str, clinician) -> bool:
    """The pre-screen's "ask for records" decision, in its unit of work: each active booking made with the pre-screen
    gets the request, and its applicant an email with the link to upload. Returns False: it tells of no approval."""
    if decision != "records_requested":
        return False
    bookings = db.session.scalars(sa.select(Booking).where(Booking.screening_id == screening.id,
                                                           Booking.status.in_(ACTIVE_STATUSES))).all()
    for booking in bookings:
        _screening_request(booking, clinician_id=getattr(clinician, "id", None))
        audit.record("documents.request", "booking", booking.reference, {"kind": "records", "from": "pre-screen"},
                     actor=clinician)
        notify.enqueue("documents_requested", booking.applicant_email, *request_email(booking, "records"))
    return False


def _screening_request(booking: Booking, *, clinician_id: int | None = None) -> DocumentRequest:
    """The row of the pre-screen's request for records, written the first time something is done with it."""
    row = db.session.scalar(sa.select(DocumentRequest).where(DocumentRequest.booking_id == booking.id,
                                                             DocumentRequest.source == "screening"))
    if row is None:
        row = DocumentRequest(booking_id=booking.id, kind="records", source="screening",
                              requested_by_id=clinician_id)
        db.session.add(row)
        db.session.flush()
    return row


# --- The applicant uploads -----------------------------------------------------------------------------------------

def open_requests(booking: Booking) -> list[RequestView]:
    return [request for request in requests_of(booking, with_names=False) if request.open]


def _shown(raw: object) -> str:
    name = raw if isinstance(raw, str) else ""
    name = re.split(r"[\\/]", name)[-1]
    name = "".join(ch for ch in name if ch.isprintable())[:60]
    return f"“{name}”" if name else "The file"


def upload(booking: Booking, request_key: object, file, *, original_name: object = None) -> UploadedDocument:
    """Take one file for one of the booking's open requests: checked (type from its content, size, the booking's
    count), encrypted as it is read, stored under a random name, then its row in one unit of work. A refusal names
    its field ("request" or "file") and leaves nothing behind: no file on disk, no row.

    `file` is a binary stream (a werkzeug FileStorage's, or a file); `original_name` the name the browser gave."""
    if not takes_uploads(booking):
        raise DomainError("This booking is no longer active, so it takes no documents.", code="booking_not_active")
    requests = open_requests(booking)
    if not requests:
        raise DomainError("The clinic has not asked for any documents, or has all it asked for.",
                          code="no_documents_asked")
    chosen = next((r for r in requests if r.key == request_key), None)
    if chosen is None:
        if len(requests) > 1:
            raise ValidationFailed({"request": ["Choose which of the clinic's requests this file is for."]})
        chosen = requests[0]
    if file is None:
        raise ValidationFailed({"file": ["Choose a file to upload: a PDF, JPEG or PNG."]})
    if file_count(booking) >= MAX_FILES:
        raise ValidationFailed({"file": [f"This booking has {MAX_FILES} files already, the most we take. If the "
                                         f"clinic needs more, {the_clinic.contact_words()}."]})
    first = _read_full(file, CHUNK)
    if not first:
        raise ValidationFailed({"file": ["Choose a file to upload: a PDF, JPEG or PNG." if original_name in (None, "")
                                         else f"{_shown(original_name)} is empty."]})
    content_type = sniff(first)
    if content_type is None:
        raise ValidationFailed({"file": [
            f"{_shown(original_name)} is not a PDF, JPEG or PNG file: we go by what the file holds, not by its name. "
            "Save or scan it as a PDF, JPEG or PNG and upload that."]})
    key = AESGCM.generate_key(bit_length=256)
    stored_name = secrets.token_hex(16)
    path = stored_path(stored_name)
    try:
        try:
            size = _write_encrypted(first, file, path, key)
        except _TooLarge:
            raise ValidationFailed({"file": [too_large_message(original_name)]}) from None
        with unit_of_work():
            locked = db.session.scalar(sa.select(Booking).where(Booking.id == booking.id).with_for_update()
                                       .execution_options(populate_existing=True))
            if file_count(locked) >= MAX_FILES:  # another upload took the last place meanwhile
                raise ValidationFailed({"file": [f"This booking has {MAX_FILES} files already, the most we take."]})
            request_id = chosen.id if chosen.id is not None else _screening_request(locked).id
            document = UploadedDocument(booking_id=locked.id, request_id=request_id, stored_name=stored_name,
                                        name_encrypted=crypto.encrypt_json(clean_name(original_name, content_type)),
                                        content_type=content_type, size_bytes=size, key_encrypted=_wrap(key))
            db.session.add(document)
            db.session.flush()
            audit.record("documents.upload", "booking", locked.reference,
                         {"kind": chosen.kind, "document": document.id, "type": TYPE_WORDS[content_type],
                          "size": size_words(size)}, actor="applicant")
    except BaseException:
        _remove([stored_name])
        raise
    return document


def too_large_message(original_name: object = None) -> str:
    return (f"{_shown(original_name)} is larger than {MAX_FILE_BYTES // (1024 * 1024)} MB, the most we take for one "
            "file. Scan it at a lower resolution, or save it in parts, and upload each part.")


# --- Clinicians read -------------------------------------------------------------------------------------------------

def list_for_clinician(reference: str, *, staff) -> tuple[Booking, list[RequestView], list[DocumentView]]:
    """The booking's requests and files, names included: for clinicians only, the read audited."""
    _check_clinician(staff, "see a booking's documents")
    with unit_of_work():
        booking = booking_by_reference(reference)
        requests = requests_of(booking)
        documents = documents_of(booking)
        audit.record("documents.list", "booking", booking.reference, {"files": len(documents)}, actor=staff)
    return booking, requests, documents


def read_document(reference: str, document_id: int, *, staff) -> tuple[DocumentView, bytes]:
    """One file, decrypted, for a clinician to download: the view audited (who, which file, when, from where)."""
    _check_clinician(staff, "open a booking's documents")
    booking = booking_by_reference(reference)
    document = db.session.get(UploadedDocument, document_id)
    if document is None or document.booking_id != booking.id:
        raise NotFound("This booking has no such document.")
    content = _decrypt(stored_path(document.stored_name), _unwrap(document.key_encrypted))
    view = _document_view(document)
    with unit_of_work():
        audit.record("documents.view", "booking", booking.reference,
                     {"document": document.id, "type": view.type_words, "size": view.size_words}, actor=staff)
    return view, content


@dataclass(frozen=True)
class Summary:
    """What the staff booking page says of documents to coordinators: how many, never which."""

    files: int
    asked: int
    waiting: int


def summary(booking: Booking) -> Summary:
    requests = requests_of(booking, with_names=False)
    return Summary(file_count(booking), len(requests), sum(1 for r in requests if not r.done))


# --- The checklist step, the applicant's data ----------------------------------------------------------------------

def checklist_step(booking: Booking) -> Step | None:
    """"documents": applies once documents were asked for; done when each request has a file, or a clinician marked
    it received (the pre-screen's request: or the pre-screen was decided)."""
    requests = requests_of(booking, with_names=False)
    if not requests:
        return None
    waiting = [request for request in requests if not request.done]
    left = ""
    if waiting:
        left = "Still to send: " + ", ".join(request.label.lower() for request in waiting) + "."
    return Step(key="documents", label="Send the documents the clinic asked for", done=not waiting, left=left,
                endpoint="booking.documents", staff_label="Documents")


def personal_data(booking: Booking) -> list[dict]:
    """The applicant's documents as the data export lists them: name, type, size, when, and what they answered;
    never the content."""
    kinds = {row.id: row.kind for row in _request_rows(booking)}
    return [{"name": document.name, "content_type": document.content_type, "size_bytes": document.size_bytes,
             "uploaded_at": document.uploaded_at.isoformat(), "requested_as": kinds.get(document.request_id)}
            for document in documents_of(booking)]


def erase_personal_data(booking: Booking) -> None:
    """Remove the booking's documents (rows, and their files once the unit of work commits: a rollback keeps
    both) and its requests. Flushes only."""
    documents = _documents(booking)
    names = [document.stored_name for document in documents]
    for document in documents:
        db.session.delete(document)
    db.session.flush()
    for request in _request_rows(booking):
        db.session.delete(request)
    db.session.flush()
    if in_unit_of_work():
        after_commit(lambda: _remove(names))
    else:
        _remove(names)


def rotate_encryption() -> int:
    """Re-wrap every document's key and re-encrypt its name and every request's details under the newest key
    (`flask screening rotate-keys`); the files are untouched. Returns how many rows changed."""
    count = 0
    with unit_of_work():
        for document in db.session.scalars(sa.select(UploadedDocument)):
            document.key_encrypted = crypto.rotate(document.key_encrypted)
            document.name_encrypted = crypto.rotate(document.name_encrypted)
            count += 1
        for request in db.session.scalars(sa.select(DocumentRequest)
                                          .where(DocumentRequest.details_encrypted.is_not(None))):
            request.details_encrypted = crypto.rotate(request.details_encrypted)
            count += 1
    return count


crypto.register_rotation("uploaded document(s) and request(s)", rotate_encryption)
