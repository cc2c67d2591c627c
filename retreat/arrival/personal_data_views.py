"""The applicant's data: pages of the applicant's booking (routes of booking_bp under the manage link) and the
admins' erasure pages (routes of staff_bp).

    GET  /bookings/manage/<token>/data          everything the clinic holds about the applicant, readable (audited)
    GET  /bookings/manage/<token>/data.json     the same as a JSON file (audited)
    GET  /bookings/manage/<token>/data/erase    what erasure removes and keeps, and when; the request form
    POST /bookings/manage/<token>/data/erase    ask for it (recorded with the time; the clinic is emailed)
    GET  /staff/erasures                        the requests, those to do first (admins)
    GET  /staff/erasures/<reference>            one request: when it can be carried out, or why not yet
    POST /staff/erasures/<reference>            carry it out

After the erasure the manage link opens nothing of the booking: every page under it says the data was erased.
"""

import json
import re
from datetime import date, datetime

from flask import flash, make_response, redirect, render_template, request, url_for
from flask_login import current_user

from retreat.arrival import personal_data
from retreat.arrival.personal_data_forms import EraseForm, ErasureRequestForm
from retreat.booking import services
from retreat.booking.access import manage_token_hash
from retreat.booking.states import BOOKING_STATUS_LABELS
from retreat.booking.views import booking_bp
from retreat.core import clinic
from retreat.core.errors import NotFound
from retreat.core.money import format_usd
from retreat.staff.access import roles_required
from retreat.staff.blueprint import staff_bp
from retreat.web.actions import perform
from retreat.web.filters import long_date
from retreat.web.limits import document_limit, public_write_limit

ISO_TIME = re.compile(r"\d{4}-\d{2}-\d{2}T\d{2}:\d{2}")
ISO_DATE = re.compile(r"\d{4}-\d{2}-\d{2}")


@booking_bp.before_request
def _erased_link():
    """A manage link whose booking's data was erased opens only a page that says so (410)."""
    token = (request.view_args or {}).get("token")
    if not token or not request.path.startswith("/bookings/manage/") or not isinstance(token, str):
        return None
    if not (20 <= len(token) <= 100 and token.isascii()):
        return None
    erasure = personal_data.erased_by_token_hash(manage_token_hash(token))
    if erasure is None:
        return None
    return render_template("arrival/erased.html", erasure=erasure,
                           retention_days=personal_data.backup_retention_days()), 410


# --- How a value reads on the page -----------------------------------------------------------------------------

LABELS = {"phq9_total": "PHQ-9 total", "phq9_severity": "PHQ-9 severity",
          "booked_from_address": "Booked from (internet address)", "to": "To", "rules_version": "Rules version"}
CODE = re.compile(r"[a-z]+(_[a-z0-9]+)+")
WORD_CODES = {"status", "outcome", "review_status", "phq9_severity", "kind"}  # codes read as words


def label(key: str) -> str:
    if key in LABELS:
        return LABELS[key]
    words = key.removesuffix("_cents").replace("_", " ")
    return words[:1].upper() + words[1:]


def readable(key: str, value) -> str:
    """A JSON-ready value as a person reads it: money in dollars, times in the clinic's zone, yes or no."""
    if value is None or value == "" or value == []:
        return "—"
    if isinstance(value, bool):
        return "Yes" if value else "No"
    if key.endswith("_cents") and isinstance(value, int):
        return format_usd(value, show_cents=True)
    if isinstance(value, str) and (key.endswith("_at") or key == "date") and ISO_TIME.match(value):
        try:
            return clinic.clinic_time(datetime.fromisoformat(value))
        except ValueError:
            return value
    if isinstance(value, str) and (key.endswith("_date") or key == "date") and ISO_DATE.fullmatch(value):
        return long_date(date.fromisoformat(value))
    if isinstance(value, list):
        return ", ".join(readable(key, item) for item in value)
    if key == "status" and value in BOOKING_STATUS_LABELS:
        return BOOKING_STATUS_LABELS[value]
    if isinstance(value, str) and key in WORD_CODES and CODE.fullmatch(value):
        return value.replace("_", " ")
    return str(value)


def without(value: dict, *keys: str) -> dict:
    return {key: item for key, item in value.items() if key not in keys}


def _page(token: str, booking, data: dict, template: str = "arrival/data.html", **extra):
    return render_template(
        template, token=token, booking=booking, data=data, titles=personal_data.SECTION_TITLES,
        sections=[name for name, _ in personal_data.SECTIONS], label=label, readable=readable, without=without,
        clinician_note=personal_data.CLINICIAN_NOTE, erasure=personal_data.erasure_of(booking),
        retention_days=personal_data.backup_retention_days(), **extra)


# --- The applicant's pages -------------------------------------------------------------------------------------

@booking_bp.get("/manage/<token>/data")
@document_limit
def personal_data_page(token: str):
    booking = services.booking_by_manage_token(token)
    return _page(token, booking, personal_data.export_audited(booking, "page"))


@booking_bp.get("/manage/<token>/data.json")
@document_limit
def personal_data_download(token: str):
    booking = services.booking_by_manage_token(token)
    data = personal_data.export_audited(booking, "download")
    response = make_response(json.dumps(data, ensure_ascii=False, indent=2))
    response.headers["Content-Type"] = "application/json; charset=utf-8"
    response.headers["Content-Disposition"] = f'attachment; filename="my-data-{booking.reference}.json"'
    return response


def _erase_page(token: str, booking, form: ErasureRequestForm, status: int = 200):
    return render_template("arrival/erase.html", token=token, booking=booking, form=form,
                           erasure=personal_data.erasure_of(booking),
                           refusal=personal_data.not_erasable_because(booking),
                           retention_days=personal_data.backup_retention_days()), status


@booking_bp.get("/manage/<token>/data/erase")
def erasure_request(token: str):
    booking = services.booking_by_manage_token(token)
    return _erase_page(token, booking, ErasureRequestForm(formdata=None))


@booking_bp.post("/manage/<token>/data/erase")
@public_write_limit
def request_erasure(token: str):
    booking = services.booking_by_manage_token(token)
    form = ErasureRequestForm()
    if not form.validate():
        return _erase_page(token, booking, form, 422)
    erasure, new = personal_data.request_erasure(booking)
    if new:
        flash("Your request is recorded and the clinic is told. An administrator erases your data once your stay "
              "has ended (at once if there is no stay); until then this page keeps working.")
    else:
        flash(f"You asked for this already, on {clinic.clinic_time(erasure.requested_at)}.")
    return redirect(url_for("booking.personal_data_page", token=token) + "#erasure-heading", code=303)


# --- The admins' pages -------------------------------------------------------------------------------------------

@staff_bp.get("/erasures")
@roles_required(*personal_data.ERASE_ROLES)
def erasures():
    rows = [(row, personal_data.not_erasable_because(row.booking) if row.erased_at is None else None)
            for row in personal_data.erasure_requests()]
    return render_template("staff/erasures.html", rows=rows, status_labels=BOOKING_STATUS_LABELS)


def _erasure_page(reference: str, form: EraseForm, status: int = 200):
    booking = personal_data.booking_by_reference(reference)
    erasure = personal_data.erasure_of(booking)
    if erasure is None:
        raise NotFound("No erasure was asked for this booking.")
    return render_template(
        "staff/erasure.html", booking=booking, erasure=erasure, form=form, status_labels=BOOKING_STATUS_LABELS,
        refusal=personal_data.not_erasable_because(booking) if erasure and erasure.erased_at is None else None,
        parts=[personal_data.SECTION_TITLES.get(name, label(name)) for name, _ in personal_data.SECTIONS],
        retention_days=personal_data.backup_retention_days()), status


@staff_bp.get("/erasures/<reference>")
@roles_required(*personal_data.ERASE_ROLES)
def erasure(reference: str):
    return _erasure_page(reference, EraseForm(formdata=None))


@staff_bp.post("/erasures/<reference>")
@roles_required(*personal_data.ERASE_ROLES)
def erase(reference: str):
    reference = personal_data.booking_by_reference(reference).reference
    form = EraseForm()
    if not form.validate():
        return _erasure_page(reference, form, 422)
    return perform(lambda: personal_data.erase(reference, staff=current_user),
                   to=url_for("staff.erasure", reference=reference),
                   done=f"The data of {reference} is erased. The booking stays, anonymised, with its payments.")

