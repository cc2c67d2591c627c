"""The applicant's data (retreat/arrival/personal_data.py): the export (page, download, API) holds every section and
nothing of another applicant, each export is audited; erasure is asked by the applicant, carried out by an admin
only once no stay is to come, and afterwards nothing of the person is left in any text column of the database,
while the ledger and the finance exports keep every amount under the booking's reference."""

import io
import json
from datetime import UTC, datetime, time, timedelta

import pytest
import sqlalchemy as sa
import time_machine

from retreat.arrival import personal_data
from retreat.arrival.personal_data_models import DataErasure
from retreat.booking import services, superbills
from retreat.booking.models import Booking
from retreat.core.audit import AuditEntry
from retreat.core.clinic import clinic_zone
from retreat.core.clock import now
from retreat.core.errors import DomainError
from retreat.extensions import db
from retreat.finance.services import LedgerFilters, iter_payments
from retreat.notify.models import OutboxEmail
from retreat.payments.models import Payment
from retreat.screening import questions
from retreat.screening import services as screening_services
from retreat.screening.models import Screening
from retreat.staff import todo
from tests.booking.support import APPLICANT, booking_body, make_cohort
from tests.conftest import STAFF_PASSWORD
from tests.screening.test_review_queue import valid_answers

PERSON = {"first_name": "Marguerite", "last_name": "Quillfeather", "email": "m.quillfeather@example.net",
          "phone": "+1 555 987 6543"}
# How the person may be found in any text: as typed, case-folded, the phone as E.164 and as digits.
TRACES = ("Marguerite", "Quillfeather", "m.quillfeather@example.net", "555 987 6543", "+15559876543", "5559876543")
SECTIONS = {name for name, _ in personal_data.SECTIONS}


def book(client, person: dict, *, contact: bool = False, starts_in_days: int = 40) -> tuple[Booking, str]:
    """A booking made through the API with a pre-screen (its contact details given when `contact`), its deposit
    paid: confirmed."""
    cohort = make_cohort(starts_in_days=starts_in_days)
    token = screening_services.submit(valid_answers(), dict(person) if contact else None).token
    made = client.post("/api/v1/bookings", json={**booking_body(cohort, token), "applicant": dict(person)})
    assert made.status_code == 201, made.get_json()
    body = made.get_json()
    services.payment_received(body["reference"], kind="deposit", amount_cents=body["deposit_cents"],
                              provider="demo", provider_reference=f"demo_{body['reference']}")
    booking = db.session.scalar(sa.select(Booking).where(Booking.reference == body["reference"]))
    return booking, body["manage_token"]


def bearer(token: str) -> dict:
    return {"Authorization": f"Bearer {token}"}


def exports_audited(reference: str) -> list[str]:
    return [entry.details["via"] for entry in db.session.scalars(
        sa.select(AuditEntry).where(AuditEntry.action == personal_data.EXPORT_ACTION,
                                    AuditEntry.target_id == reference).order_by(AuditEntry.id))]


def after_the_stay(booking: Booking):
    """The clock at noon in the clinic on the day after the booking's last day."""
    day = booking.cohort.end_date + timedelta(days=1)
    return time_machine.travel(datetime.combine(day, time(12), clinic_zone()).astimezone(UTC), tick=False)


def signed_in(app, staff_user, *roles, email=None):
    user = staff_user(*roles, email=email)
    client = app.test_client()
    assert client.post("/staff/login", data={"email": user.email, "password": STAFF_PASSWORD}).status_code == 302
    return client, user


# --- The export -----------------------------------------------------------------------------------------------

def test_the_export_holds_every_section_and_nothing_of_another_applicant(app, client):
    other, _ = book(client, APPLICANT)
    booking, _ = book(client, PERSON, contact=True)
    superbills.give_birth_date(booking, "1979-04-02")

    data = personal_data.export(booking)

    assert set(data) == {"reference", "exported_at"} | SECTIONS
    assert data["booking"]["first_name"] == "Marguerite" and data["booking"]["email"] == PERSON["email"]
    assert data["booking"]["cancellation_policy_accepted_at"] is not None
    assert [(p["kind"], p["amount_cents"]) for p in data["payments"]] == [("deposit", booking.deposit_cents)]
    screening = data["screening"]
    assert screening["outcome"] == "eligible" and screening["contact_details_for_review"]["email"] == PERSON["email"]
    age = questions.BY_NAME["age"]
    assert {"question": age.text, "answer": str(valid_answers()["age"])} in screening["answers"]
    assert "clinician_note" not in screening and screening["clinician_note_recorded"] is False
    assert data["superbill"] == {"birth_date": "1979-04-02", "diagnosis_codes": []}
    assert data["reduced_fee"] is None and data["waitlist"] == []
    assert {e["subject"] for e in data["emails"]} >= {e.subject for e in db.session.scalars(
        sa.select(OutboxEmail).where(OutboxEmail.to_address == PERSON["email"]))}
    assert data["emails"] and all(e["to"] == PERSON["email"] for e in data["emails"])
    text = json.dumps(data)
    for trace in (other.reference, APPLICANT["email"], APPLICANT["last_name"]):
        assert trace not in text, trace


def test_page_download_and_api_each_give_the_data_and_are_audited(app, client):
    booking, token = book(client, PERSON)
    manage = client.get(f"/bookings/manage/{token}").get_data(as_text=True)
    assert f'href="/bookings/manage/{token}/data"' in manage

    page = client.get(f"/bookings/manage/{token}/data")
    html = page.get_data(as_text=True)
    assert page.status_code == 200 and page.headers["Cache-Control"] == "no-store"
    assert "Quillfeather" in html and "Your pre-screen" in html and "Emails we sent you" in html
    assert "backups" in html

    download = client.get(f"/bookings/manage/{token}/data.json")
    assert download.status_code == 200 and download.mimetype == "application/json"
    assert download.headers["Content-Disposition"] == f'attachment; filename="my-data-{booking.reference}.json"'
    assert set(json.loads(download.get_data())) == {"reference", "exported_at"} | SECTIONS

    api = client.get(f"/api/v1/bookings/{booking.reference}/data", headers=bearer(token))
    assert api.status_code == 200 and api.get_json()["booking"]["email"] == PERSON["email"]
    assert api.headers["Cache-Control"] == "no-store"

    assert exports_audited(booking.reference) == ["page", "download", "api"]
    entry = db.session.scalars(sa.select(AuditEntry).where(AuditEntry.action == personal_data.EXPORT_ACTION)).first()
    assert entry.actor_email == "applicant" and "Quillfeather" not in json.dumps(entry.details)


def test_the_api_refuses_a_wrong_token_alike_and_audits_nothing(app, client):
    booking, token = book(client, PERSON)
    other, other_token = book(client, APPLICANT)
    for headers, reference in [({}, booking.reference), (bearer("not-the-token-at-all-xxxxxxxx"), booking.reference),
                               (bearer(other_token), booking.reference), (bearer(token), "RT-NOSUCH"),
                               (bearer(token), "RT-<script>"), ({"Authorization": token}, booking.reference)]:
        response = client.get(f"/api/v1/bookings/{reference}/data", headers=headers)
        assert response.status_code == 401 and response.get_json()["error"]["code"] == "unauthorized", headers
        assert response.headers["WWW-Authenticate"].startswith("Bearer")
    assert db.session.scalar(sa.select(sa.func.count()).select_from(AuditEntry)
                             .where(AuditEntry.action == personal_data.EXPORT_ACTION)) == 0


# --- Asking for erasure ------------------------------------------------------------------------------------------

def test_asking_for_erasure_needs_the_box_ticked_is_recorded_once_and_tells_the_clinic(app, client, staff_user):
    booking, token = book(client, PERSON)
    url = f"/bookings/manage/{token}/data/erase"
    assert client.get(url).status_code == 200

    refused = client.post(url, data={})
    assert refused.status_code == 422 and "Tick this box" in refused.get_data(as_text=True)
    assert db.session.scalar(sa.select(sa.func.count()).select_from(DataErasure)) == 0

    for _ in range(2):
        asked = client.post(url, data={"understood": "y"})
        assert asked.status_code == 303 and asked.headers["Location"].endswith("/data#erasure-heading")
    [erasure] = db.session.scalars(sa.select(DataErasure)).all()
    assert erasure.booking_id == booking.id and erasure.requested_at is not None and erasure.erased_at is None
    [email] = db.session.scalars(sa.select(OutboxEmail).where(OutboxEmail.kind == "erasure_requested")).all()
    assert email.to_address == app.config["CLINIC_EMAIL"] and booking.reference in email.subject
    assert f"/staff/erasures/{booking.reference}" in email.body
    assert not any(trace in email.body + email.subject for trace in TRACES)
    assert [a for a in db.session.scalars(sa.select(AuditEntry.action))].count(
        "personal_data.erasure_requested") == 1
    with app.test_request_context():
        lines = {line.key: (line.count, line.url) for line in todo.todos_for(staff_user("admin"))}
        assert lines["erasure_requested"] == (1, "/staff/erasures")
        assert "erasure_requested" not in {line.key for line in todo.todos_for(staff_user("coordinator"))}
    assert "You asked for your data to be erased" in client.get(f"/bookings/manage/{token}/data").get_data(
        as_text=True)


# --- When erasure may happen -------------------------------------------------------------------------------------

def _in_state(booking: Booking, state: str) -> None:
    if state == "live hold":
        booking.status, booking.hold_expires_at = "held", now() + timedelta(minutes=20)
    elif state == "lapsed hold":
        booking.status, booking.hold_expires_at = "held", now() - timedelta(minutes=1)
    elif state == "review pending":
        booking.status, booking.hold_expires_at = "pending_review", now() + timedelta(hours=20)
    elif state in ("cancelled", "declined", "expired", "confirmed", "paid_in_full"):
        booking.status = state
    db.session.commit()


# (state, days from the cohort's last day to today, allowed?)
WHEN = [
    ("live hold", None, False),
    ("review pending", None, False),
    ("lapsed hold", None, True),
    ("cancelled", None, True),
    ("declined", None, True),
    ("expired", None, True),
    ("confirmed", None, False),
    ("paid_in_full", 0, False),  # the last day of the stay
    ("paid_in_full", 1, True),
    ("confirmed", 1, True),
]


def test_erasure_waits_for_the_end_of_the_stay_unless_none_happens(app, client):
    booking, _ = book(client, PERSON)
    for state, after_end, allowed in WHEN:
        _in_state(booking, state)
        if after_end is None:
            refusal = personal_data.not_erasable_because(booking)
        else:
            day = booking.cohort.end_date + timedelta(days=after_end)
            with time_machine.travel(datetime.combine(day, time(23, 30), clinic_zone()).astimezone(UTC), tick=False):
                refusal = personal_data.not_erasable_because(booking)
        assert (refusal is None) == allowed, (state, after_end, refusal)
        if not allowed:
            assert "held" in refusal or "stay has not ended" in refusal


def test_a_refund_still_to_send_holds_the_erasure(app, client):
    booking, _ = book(client, PERSON)
    cohort = booking.cohort
    cohort.start_date, cohort.end_date = cohort.start_date + timedelta(days=30), cohort.end_date + timedelta(days=30)
    db.session.commit()
    app.config["PAYMENT_PROVIDER"] = "demo"
    db.session.add(Payment(booking_id=booking.id, kind="refund", provider="offline", provider_reference="owed-1",
                           status="pending", amount_cents=-100))
    booking.status = "cancelled"
    db.session.commit()
    assert "refund" in personal_data.not_erasable_because(booking)


def test_only_an_admin_erases_and_not_before_the_stay_ends(app, client, staff_user):
    booking, token = book(client, PERSON)
    client.post(f"/bookings/manage/{token}/data/erase", data={"understood": "y"})
    url = f"/staff/erasures/{booking.reference}"
    for role in ("coordinator", "finance", "clinician"):
        staff, user = signed_in(app, staff_user, role)
        assert staff.get("/staff/erasures").status_code == 403
        assert staff.post(url, data={"understood": "y"}).status_code == 403
        with pytest.raises(DomainError) as refused:
            personal_data.erase(booking.reference, staff=user)
        assert refused.value.status == 403

    admin, _ = signed_in(app, staff_user, "admin")
    listed = admin.get("/staff/erasures").get_data(as_text=True)
    assert booking.reference in listed and "Not yet: The stay has not ended" in listed
    page = admin.get(url).get_data(as_text=True)
    assert "Not yet: The stay has not ended" in page and "Erase this applicant" not in page
    refused = admin.post(url, data={"understood": "y"})
    assert refused.status_code == 303
    assert "stay has not ended" in admin.get(url).get_data(as_text=True)
    db.session.expire_all()
    assert booking.applicant_last_name == "Quillfeather" and booking.manage_token_hash is not None
    assert client.get(f"/bookings/manage/{token}").status_code == 200


# --- After erasure ----------------------------------------------------------------------------------------------

def text_columns():
    for table in db.metadata.sorted_tables:
        for column in table.columns:
            if isinstance(column.type, sa.String | sa.Text | sa.JSON) or isinstance(
                    getattr(column.type, "impl", None), sa.String | sa.Text):
                yield table, column


def traces_left() -> list[str]:
    """Every text column of every table, searched for the person: [table.column: trace]."""
    found = []
    for table, column in text_columns():
        as_text = sa.func.lower(sa.cast(column, sa.Text))
        for value in db.session.scalars(sa.select(as_text).where(
                sa.or_(*(as_text.contains(trace.lower(), autoescape=True) for trace in TRACES)))):
            found += [f"{table.name}.{column.name}: {trace}" for trace in TRACES if trace.lower() in value]
    return found


def ledger() -> list[tuple]:
    return [(row.payment_id, row.booking_reference, row.kind, row.amount_cents, row.provider_reference, row.date)
            for row in iter_payments(LedgerFilters())]


def test_after_erasure_nothing_of_the_person_remains_and_the_money_still_adds_up(app, client, staff_user):
    other, other_token = book(client, APPLICANT)
    booking, token = book(client, PERSON, contact=True)
    superbills.give_birth_date(booking, "1979-04-02")
    services.payment_received(booking.reference, kind="balance", amount_cents=booking.balance_cents,
                              provider="demo", provider_reference=f"demo_{booking.reference}_balance")
    client.post(f"/bookings/manage/{token}/data/erase", data={"understood": "y"})
    assert traces_left(), "the search finds the person before the erasure"
    before = ledger()
    total_before = db.session.scalar(sa.select(sa.func.sum(Payment.amount_cents)))
    other_before = personal_data.export(other)

    with after_the_stay(booking):
        admin, _ = signed_in(app, staff_user, "admin")
        page = admin.get(f"/staff/erasures/{booking.reference}").get_data(as_text=True)
        assert "Erase this applicant" in page
        assert admin.post(f"/staff/erasures/{booking.reference}", data={}).status_code == 422
        done = admin.post(f"/staff/erasures/{booking.reference}", data={"understood": "y"})
        assert done.status_code == 303
        assert "is erased" in admin.get(done.headers["Location"]).get_data(as_text=True)

    db.session.expire_all()
    assert traces_left() == []
    screening = db.session.get(Screening, booking.screening_id)
    assert all(getattr(screening, column) is None for column in screening_services.HEALTH_COLUMNS)
    assert superbills.birth_date(booking) is None
    booking = db.session.get(Booking, booking.id)
    assert (booking.status, booking.applicant_first_name, booking.manage_token_hash) == (
        "paid_in_full", booking.reference, None)

    after = ledger()
    assert after == before and db.session.scalar(sa.select(sa.func.sum(Payment.amount_cents))) == total_before
    reference, other_reference = booking.reference, other.reference  # not loaded while the export streams
    mine = [row for row in iter_payments(LedgerFilters()) if row.booking_reference == reference]
    assert len(mine) == 2 and all((row.payer_name, row.payer_email) == (reference, "") for row in mine)
    others = [row for row in iter_payments(LedgerFilters()) if row.booking_reference == other_reference]
    assert others and all(row.payer_name == "Alex Rivera" for row in others)

    erased = client.get(f"/bookings/manage/{token}")
    assert erased.status_code == 410 and "Your data was erased" in erased.get_data(as_text=True)
    assert client.get(f"/bookings/manage/{token}/data.json").status_code == 410
    api = client.get(f"/api/v1/bookings/{booking.reference}/data", headers=bearer(token))
    assert api.status_code == 401
    [entry] = db.session.scalars(sa.select(AuditEntry).where(AuditEntry.action == "personal_data.erase")).all()
    assert entry.actor_roles == "admin" and set(entry.details["parts"]) == SECTIONS

    other_after = personal_data.export(db.session.get(Booking, other.id))
    assert {k: v for k, v in other_after.items() if k != "exported_at"} == {
        k: v for k, v in other_before.items() if k != "exported_at"}
    assert client.get(f"/bookings/manage/{other_token}").status_code == 200

    with after_the_stay(booking):
        admin, _ = signed_in(app, staff_user, "admin", email="admin2@clinic.example")
        again = admin.post(f"/staff/erasures/{booking.reference}", data={"understood": "y"})
        staff_page = admin.get(f"/staff/bookings/{booking.reference}").get_data(as_text=True)
        roster = admin.get(f"/staff/cohorts/{booking.cohort_id}/roster").get_data(as_text=True)
    assert again.status_code == 303
    assert "Erased at the applicant's request" in staff_page and 'href="mailto:"' not in staff_page
    assert booking.reference in roster and 'href="mailto:"' not in roster and 'href="tel:"' not in roster
    assert db.session.scalar(sa.select(sa.func.count()).select_from(AuditEntry)
                             .where(AuditEntry.action == "personal_data.erase")) == 1


def test_consent_intake_documents_and_room_are_exported_and_erased(app, client, staff_user, tmp_path):
    """The parts of the stay (consent, intake, documents, clearance, room) are sections of the export, and the erasure
    empties each of them (the files too), leaving the consent's version, time and hash."""
    from retreat.arrival import clearance, consent, intake, uploads
    from retreat.booking import rooms
    from tests.arrival.test_intake import COMPLETE, MEDICATION
    from tests.arrival.test_uploads import tiny_pdf

    app.config["UPLOAD_FOLDER"] = str(tmp_path / "uploads")
    booking, _ = book(client, PERSON)
    version = consent.publish("## Risks\n\nDissociation, nausea and a raised blood pressure.\n", "First version.")
    consent.sign(booking, version_number=version.number, full_name="Marguerite Quillfeather",
                 ticked={section.position for section in version.sections},
                 client_address="198.51.100.9")
    intake.save_intake(booking, COMPLETE)
    clinician = staff_user("clinician")
    uploads.ask_for_documents(booking.reference, "records", "", staff=clinician)
    clearance.record_clearance(booking.reference, "follow_up", "Repeat the ECG: QTc borderline.", staff=clinician)
    uploads.upload(booking, None, io.BytesIO(tiny_pdf()), original_name="ecg.pdf")
    rooms.place(booking.cohort_id, booking.reference, rooms.create_room("Cedar", 2).id)

    data = personal_data.export(booking)
    assert [(s["version"], s["signed_name"]) for s in data["consent"]] == [(version.number, "Marguerite Quillfeather")]
    assert data["intake"]["medications"] == MEDICATION
    assert [(d["name"], d["content_type"]) for d in data["documents"]] == [("ecg.pdf", "application/pdf")]
    assert data["room"]["room"] == "Cedar"
    assert (data["clearance"]["status"], data["clearance"]["note"]) == ("follow_up", "Repeat the ECG: QTc borderline.")
    assert list((tmp_path / "uploads").iterdir())

    personal_data.request_erasure(booking)
    with after_the_stay(booking):
        personal_data.erase(booking.reference, staff=staff_user("admin", email="erasing-admin@clinic.example"))
    db.session.expire_all()
    booking = db.session.get(Booking, booking.id)
    data = personal_data.export(booking)
    assert [(s["version"], s["signed_name"], s["client_address"]) for s in data["consent"]] == [
        (version.number, None, None)]
    assert data["consent"][0]["version_sha256"] == version.content_hash
    assert (data["intake"], data["documents"], data["room"], data["clearance"]) == ({}, [], {}, {})
    assert not list((tmp_path / "uploads").iterdir()), "the files are removed with their rows"
