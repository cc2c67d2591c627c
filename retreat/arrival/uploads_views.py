"""Pages of documents: the applicant's upload page (a route of booking_bp, behind the manage link) and the
clinician's documents page of a booking (routes of staff_bp, clinicians only), with what the manage page and the
staff booking page show of them.

    GET  /bookings/manage/<token>/documents                               what was asked, what was sent, the form
    POST /bookings/manage/<token>/documents                               upload one file (rate limited)
    GET  /staff/bookings/<reference>/documents                            requests and files (clinicians, audited)
    POST /staff/bookings/<reference>/documents                            ask for documents, email the applicant
    POST /staff/bookings/<reference>/documents/requests/<id>/received     mark a request received
    GET  /staff/bookings/<reference>/documents/<id>/download              one file (clinicians, audited)

The upload route takes a body of up to uploads.MAX_REQUEST_BYTES (the app's MAX_CONTENT_LENGTH stays small for
every other route): it reads the body itself, under that limit, before checking its CSRF token, so a body too large
gets the upload page with the reason beside the file field rather than a bare 413.
"""

import unicodedata
from functools import wraps
from urllib.parse import quote

from flask import Response, current_app, flash, redirect, render_template, request, url_for
from flask_login import current_user
from werkzeug.exceptions import RequestEntityTooLarge

from retreat.arrival import uploads
from retreat.arrival.uploads_forms import AskForm, UploadForm
from retreat.booking.access import booking_by_manage_token, booking_by_reference
from retreat.booking.views import booking_bp
from retreat.core.errors import DomainError, ValidationFailed
from retreat.extensions import csrf, limiter
from retreat.staff.access import roles_required
from retreat.staff.blueprint import staff_bp
from retreat.staff.forms import ConfirmForm
from retreat.web.actions import perform
from retreat.web.forms import attach_errors, options


def _upload_limit() -> str:
    return current_app.config["RATELIMIT_UPLOADS"]


def upload_limit(view):
    """Limit uploads per client address (RATELIMIT_UPLOADS): each is up to 10 MB to read and encrypt."""
    limited = limiter.limit(_upload_limit)(view)

    @wraps(view)
    def guarded(*args, **kwargs):
        return limited(*args, **kwargs) if limiter.enabled else view(*args, **kwargs)

    return guarded


# --- The applicant's page --------------------------------------------------------------------------------------------

def _upload_form(booking, formdata=None) -> UploadForm:
    form = UploadForm(formdata=formdata) if formdata is not None else UploadForm(formdata=None)
    choices = [(r.key, r.label + (f": {r.details}" if r.details else "")) for r in uploads.open_requests(booking)]
    form.request.choices = options(choices)
    if len(choices) == 1 and not form.request.data:
        form.request.data = choices[0][0]
    return form


def _documents_page(token: str, booking, form: UploadForm, status: int = 200):
    requests = uploads.requests_of(booking)
    files = sum(len(r.files) for r in requests)
    return render_template(
        "arrival/uploads.html", token=token, booking=booking, cohort=booking.cohort, program=booking.cohort.program,
        requests=requests, form=form, files_left=max(0, uploads.MAX_FILES - uploads.file_count(booking)),
        max_files=uploads.MAX_FILES, files=files, takes_uploads=uploads.takes_uploads(booking),
        open_requests=[r for r in requests if r.open]), status


@booking_bp.get("/manage/<token>/documents")
def documents(token: str):
    booking = booking_by_manage_token(token)
    return _documents_page(token, booking, _upload_form(booking))


@booking_bp.post("/manage/<token>/documents")
@upload_limit
def upload_document(token: str):
    booking = booking_by_manage_token(token)
    request.max_content_length = uploads.MAX_REQUEST_BYTES
    try:
        sent = request.files.get("file")  # reads the body, within this route's limit
    except RequestEntityTooLarge:
        form = _upload_form(booking)
        form.file.errors = [uploads.too_large_message()]
        return _documents_page(token, booking, form, 413)
    if current_app.config.get("WTF_CSRF_ENABLED", True):
        csrf.protect()  # this route is exempt from the app-wide check, which would read the body under 1 MB
    form = _upload_form(booking, formdata=request.form)
    name = sent.filename if sent is not None else None
    try:
        document = uploads.upload(booking, form.request.data, sent.stream if sent is not None and name else None,
                                  original_name=name)
    except ValidationFailed as refused:
        attach_errors(form, refused)
        return _documents_page(token, booking, form, 422)
    except DomainError as refusal:
        if refusal.code not in ("no_documents_asked", "booking_not_active"):
            raise
        flash(refusal.message, "error")
        return redirect(url_for("booking.documents", token=token), code=303)
    shown = uploads.clean_name(name, document.content_type)
    flash(f"Thank you: “{shown}” is uploaded and stored encrypted. Your clinician will look at it.")
    return redirect(url_for("booking.documents", token=token) + "#asked-heading", code=303)


csrf.exempt(upload_document)


@booking_bp.context_processor
def _manage_page_documents():
    """The manage page's panel of documents asked for (counts and states only)."""
    return {"document_requests_of": lambda booking: uploads.requests_of(booking, with_names=False)}


# --- The clinician's page ------------------------------------------------------------------------------------------

CLINICIANS = ("clinician",)


def _staff_documents_url(reference: str) -> str:
    return url_for("staff.booking_documents", reference=reference)


def _staff_page(reference: str, form: AskForm, status: int = 200):
    booking, requests, documents = uploads.list_for_clinician(reference, staff=current_user)
    return render_template("arrival/staff_uploads.html", booking=booking, cohort=booking.cohort,
                           requests=requests, documents=documents, form=form, confirm=ConfirmForm(),
                           max_files=uploads.MAX_FILES), status


@staff_bp.get("/bookings/<reference>/documents")
@roles_required(*CLINICIANS)
def booking_documents(reference: str):
    return _staff_page(reference, AskForm(formdata=None, prefix="ask"))


@staff_bp.post("/bookings/<reference>/documents")
@roles_required(*CLINICIANS)
def booking_documents_ask(reference: str):
    reference = booking_by_reference(reference).reference
    form = AskForm(prefix="ask")

    def again():
        return _staff_page(reference, form, 422)

    if not form.validate_on_submit():
        return again()
    return perform(lambda: uploads.ask_for_documents(reference, form.kind.data, form.details.data,
                                                     staff=current_user),
                   form=form, again=again, to=_staff_documents_url(reference),
                   done=lambda made: f"Asked for {uploads.KIND_LABELS[made.kind].lower()}: the applicant is emailed "
                   "the link to upload.")


@staff_bp.post("/bookings/<reference>/documents/requests/<int:request_id>/received")
@roles_required(*CLINICIANS)
def booking_documents_received(reference: str, request_id: int):
    if not ConfirmForm().validate_on_submit():
        return redirect(_staff_documents_url(reference), code=303)
    return perform(lambda: uploads.mark_received(reference, request_id, staff=current_user),
                   to=_staff_documents_url(reference),
                   done=lambda made: f"{uploads.KIND_LABELS[made.kind]} marked received.")


def content_disposition(name: str) -> str:
    """attachment, with the name in ASCII for old clients and in UTF-8 (RFC 6266) for the others."""
    ascii_name = unicodedata.normalize("NFKD", name).encode("ascii", "ignore").decode()
    ascii_name = "".join(ch for ch in ascii_name if ch.isprintable() and ch not in '"\\') or "document"
    return f"attachment; filename=\"{ascii_name}\"; filename*=UTF-8''{quote(name, safe='')}"


@staff_bp.get("/bookings/<reference>/documents/<int:document_id>/download")
@roles_required(*CLINICIANS)
def booking_document_download(reference: str, document_id: int):
    document, content = uploads.read_document(reference, document_id, staff=current_user)
    response = Response(content, mimetype=document.content_type)
    response.headers["Content-Disposition"] = content_disposition(document.name)
    response.headers["Cache-Control"] = "no-store"
    response.headers["X-Content-Type-Options"] = "nosniff"
    return response


@staff_bp.context_processor
def _staff_booking_documents():
    """The staff booking page's panel: counts for coordinators and admins, the way in for clinicians, nothing for
    finance."""
    def documents_summary(booking):
        roles = set(getattr(current_user, "roles", None) or ())
        if not roles & {*CLINICIANS, *uploads.SEE_COUNTS}:
            return None
        return uploads.summary(booking), bool(roles & set(CLINICIANS))
    return {"documents_summary": documents_summary}
