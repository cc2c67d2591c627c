"""The readiness board and the clinician's clearance: who may see and do what (table-driven, finance refused), the
clearance's rules and audit, its note encrypted at rest and shown to clinicians only, the roster export without
health data (CSV and XLSX read back), the filters, any checklist step shown generically, and a board of 30
bookings in a bounded number of queries."""

import csv
import io
from datetime import UTC, datetime, timedelta
from types import SimpleNamespace

import pytest
import sqlalchemy as sa
from openpyxl import load_workbook

from retreat.arrival import checklist, clearance, readiness
from retreat.arrival.checklist import Step
from retreat.arrival.clearance_models import Clearance
from retreat.core import crypto
from retreat.core.audit import AuditEntry
from retreat.core.clock import today
from retreat.core.errors import DomainError, NotFound, ValidationFailed
from retreat.extensions import db
from tests.conftest import STAFF_PASSWORD
from tests.finance.support import EVIL_NAME, make_booking, make_cohort, make_program, pay

NOTE = "ECG shows QTc 470 ms; repeat before dosing"  # health data: must never leave the clinicians' pages


@pytest.fixture
def cohort(app):
    made = make_cohort(make_program("Seven days of IV ketamine"), today() + timedelta(days=20))
    db.session.commit()
    return made


def booked(cohort, reference, first="Jane", last="Doe", *, status="confirmed", paid=False, **kwargs):
    booking = make_booking(cohort, reference, first, last, status=status, **kwargs)
    if status == "held":
        booking.hold_expires_at = datetime.now(UTC) + timedelta(days=1)
    if paid:
        pay(booking, "deposit", booking.total_cents, "demo", f"demo_{reference}", datetime.now(UTC))
    db.session.commit()
    return booking


def signed_in(app, staff_user, role):
    user = staff_user(role, email=f"{role}-{id(app)}@clinic.example")
    browser = app.test_client()
    response = browser.post("/staff/login", data={"email": user.email, "password": STAFF_PASSWORD})
    assert response.status_code == 302
    return browser, user


# --- Who may do what ----------------------------------------------------------------------------------------------

ROLES = ("coordinator", "clinician", "admin", "finance")
# (what, expected status for coordinator, clinician, admin, finance)
MATRIX = [
    ("index", (200, 200, 200, 403)),
    ("board", (200, 200, 200, 403)),
    ("export csv", (200, 200, 200, 403)),
    ("export xlsx", (200, 200, 200, 403)),
    ("clearance page", (403, 200, 403, 403)),
    ("record clearance", (403, 303, 403, 403)),
]


def test_who_may_see_the_board_and_record_clearance(app, staff_user, cohort):
    booking = booked(cohort, "RT-AAAA22")
    urls = {
        "index": "/staff/readiness",
        "board": f"/staff/cohorts/{cohort.id}/readiness",
        "export csv": f"/staff/cohorts/{cohort.id}/readiness/export/roster.csv",
        "export xlsx": f"/staff/cohorts/{cohort.id}/readiness/export/roster.xlsx",
        "clearance page": f"/staff/cohorts/{cohort.id}/readiness/{booking.reference}/clearance",
    }
    seen = {}
    for column, role in enumerate(ROLES):
        browser, _ = signed_in(app, staff_user, role)
        for what, expected in MATRIX:
            if what == "record clearance":
                response = browser.post(urls["clearance page"], data={"status": "cleared", "note": ""})
            else:
                response = browser.get(urls[what])
            seen[(what, role)] = (response.status_code, expected[column])
    assert {key: got for key, (got, _) in seen.items()} == {key: want for key, (_, want) in seen.items()}
    # Signed out: the sign-in page, nothing else.
    assert app.test_client().get(urls["board"]).status_code in (302, 401)


def test_the_cohort_page_links_to_its_board_and_the_clinician_sees_a_to_do(app, staff_user, cohort):
    booked(cohort, "RT-AAAA22")
    browser, _ = signed_in(app, staff_user, "coordinator")
    assert f"/staff/cohorts/{cohort.id}/readiness" in browser.get(f"/staff/cohorts/{cohort.id}").get_data(as_text=True)
    browser, clinician = signed_in(app, staff_user, "clinician")
    home = browser.get("/staff/").get_data(as_text=True)
    assert "Bookings to clear" in home and 'href="/staff/readiness"' in home
    assert db.session.scalar(readiness.to_clear()) == 1
    clearance.record_clearance("RT-AAAA22", "cleared", "", staff=clinician)
    assert db.session.scalar(readiness.to_clear()) == 0


# --- The clearance's rules ------------------------------------------------------------------------------------------

RULES = [
    # (status, note, refused field or None)
    ("cleared", "", None),
    ("cleared", "  Labs normal.  ", None),
    ("follow_up", NOTE, None),
    ("follow_up", "", "note"),
    ("follow_up", "   ", "note"),
    ("follow_up", None, "note"),
    ("maybe", "", "status"),
    ("", "", "status"),
    (None, NOTE, "status"),
    ("cleared", "x" * (clearance.NOTE_MAX + 1), "note"),
    ("follow_up", "bell\x07", "note"),
    ("cleared", 42, "note"),
]


def test_clearance_rules(app, staff_user, cohort):
    clinician = staff_user("clinician")
    booking = booked(cohort, "RT-AAAA22")
    for status, note, refused in RULES:
        if refused is None:
            recorded = clearance.record_clearance(booking.reference, status, note, staff=clinician)
            assert recorded.status == status
            stored = db.session.scalar(sa.select(Clearance).where(Clearance.booking_id == booking.id))
            assert stored.status == status and stored.decided_by_id == clinician.id and stored.decided_at
            assert clearance._note(stored) == (note or "").strip()
        else:
            before = db.session.scalar(sa.select(sa.func.count()).select_from(AuditEntry))
            with pytest.raises(ValidationFailed) as refusal:
                clearance.record_clearance(booking.reference, status, note, staff=clinician)
            assert list(refusal.value.fields) == [refused], (status, note)
            assert db.session.scalar(sa.select(sa.func.count()).select_from(AuditEntry)) == before


def test_refusals_only_a_clinician_and_only_a_booking_holding_a_seat_in_these_dates(app, staff_user, cohort):
    clinician = staff_user("clinician")
    booked(cohort, "RT-CCCC44")
    for roles in (("coordinator",), ("admin",), ("finance",), ("coordinator", "admin")):
        with pytest.raises(DomainError) as refusal:
            clearance.record_clearance("RT-CCCC44", "cleared", "", staff=SimpleNamespace(id=clinician.id, roles=roles))
        assert refusal.value.status == 403, roles
    booked(cohort, "RT-AAAA22", status="cancelled")
    other = make_cohort(cohort.program, cohort.start_date + timedelta(days=30))
    db.session.commit()
    booked(other, "RT-BBBB33")
    with pytest.raises(DomainError) as refusal:
        clearance.record_clearance("RT-AAAA22", "cleared", "", staff=clinician)
    assert refusal.value.code == "booking_not_active"
    with pytest.raises(NotFound):
        clearance.record_clearance("RT-BBBB33", "cleared", "", staff=clinician, cohort_id=cohort.id)
    with pytest.raises(NotFound):
        clearance.record_clearance("RT-\x00", "cleared", "", staff=clinician)
    assert db.session.scalar(sa.select(sa.func.count()).select_from(Clearance)) == 0


def test_each_change_is_audited_without_the_note_and_an_unchanged_one_writes_nothing(app, staff_user, cohort):
    clinician = staff_user("clinician")
    booked(cohort, "RT-AAAA22")
    assert clearance.record_clearance("RT-AAAA22", "follow_up", NOTE, staff=clinician).changed
    assert not clearance.record_clearance("RT-AAAA22", "follow_up", NOTE + " ", staff=clinician).changed
    assert clearance.record_clearance("RT-AAAA22", "cleared", "", staff=clinician).changed
    entries = db.session.scalars(sa.select(AuditEntry).where(AuditEntry.action.like("booking.clearance%"))
                                 .order_by(AuditEntry.id)).all()
    assert [(e.action, e.target_id, e.details, e.actor_email) for e in entries] == [
        ("booking.clearance_record", "RT-AAAA22", {"from": None, "to": "follow_up", "note": True}, clinician.email),
        ("booking.clearance_change", "RT-AAAA22", {"from": "follow_up", "to": "cleared", "note": False},
         clinician.email),
    ]
    assert db.session.scalar(sa.select(Clearance.note_encrypted)) is None  # cleared without a note: none kept


def test_the_note_is_encrypted_at_rest_and_seen_by_clinicians_only(app, staff_user, cohort):
    booked(cohort, "RT-AAAA22")
    browser, clinician = signed_in(app, staff_user, "clinician")
    page = f"/staff/cohorts/{cohort.id}/readiness/RT-AAAA22/clearance"
    response = browser.post(page, data={"status": "follow_up", "note": ""})
    assert response.status_code == 422
    assert "Say what needs following up" in response.get_data(as_text=True)
    assert db.session.scalar(sa.select(sa.func.count()).select_from(Clearance)) == 0
    response = browser.post(page + "?show=not_ready", data={"status": "follow_up", "note": NOTE})
    assert response.status_code == 303
    assert response.headers["Location"].endswith(f"/staff/cohorts/{cohort.id}/readiness?show=not_ready#row-RT-AAAA22")
    with db.engine.connect() as connection:
        raw = connection.execute(sa.text("SELECT note_encrypted FROM clearance")).scalar_one()
    raw = bytes(raw)
    assert NOTE.encode() not in raw and b"QTc" not in raw
    assert crypto.decrypt_json(raw) == NOTE
    assert NOTE in browser.get(page).get_data(as_text=True)
    assert db.session.scalar(sa.select(sa.func.count()).select_from(AuditEntry).where(
        AuditEntry.action == "booking.clearance_read_note")) == 1
    clinician_board = browser.get(f"/staff/cohorts/{cohort.id}/readiness").get_data(as_text=True)
    assert "Needs follow-up" in clinician_board and NOTE not in clinician_board
    coordinator, _ = signed_in(app, staff_user, "coordinator")
    board = coordinator.get(f"/staff/cohorts/{cohort.id}/readiness").get_data(as_text=True)
    assert "Needs follow-up" in board and NOTE not in board and "QTc" not in board
    assert "Record clearance" not in board and "Change clearance" not in board


# --- The board ----------------------------------------------------------------------------------------------------

def _ride_home(booking):
    """A stand-in for another part's step, applying to shared lodging only."""
    if booking.applicant_first_name == "Sam":
        return None
    return Step(key="ride_home", label="Ride home arranged", done=booking.reference.endswith("22"),
                left="Say who takes you home.", endpoint=None)


@pytest.fixture
def providers(monkeypatch):
    monkeypatch.setattr(checklist, "STEP_PROVIDERS", (checklist.balance_step, clearance.checklist_step, _ride_home))


def test_the_board_has_a_column_per_step_whatever_the_steps(app, staff_user, cohort, providers):
    clinician = staff_user("clinician")
    booked(cohort, "RT-AAAA22", "Jane", "Doe", status="paid_in_full", paid=True)
    booked(cohort, "RT-BBBB33", "Sam", "Okafor")
    booked(cohort, "RT-CCCC44", "Lee", "Park", status="held")
    booked(cohort, "RT-DDDD55", "Gone", "Away", status="cancelled")
    lapsed = booked(cohort, "RT-EEEE66", "Lapsed", "Hold", status="held")
    lapsed.hold_expires_at = datetime.now(UTC) - timedelta(minutes=1)
    db.session.commit()
    clearance.record_clearance("RT-AAAA22", "cleared", "", staff=clinician)
    clearance.record_clearance("RT-BBBB33", "follow_up", NOTE, staff=clinician)

    the_board = readiness.board(cohort.id)
    assert [(c.key, c.label) for c in the_board.columns] == [
        ("balance", "Paid in full"), ("clearance", "Clearance"),
        ("ride_home", "Ride home arranged")]
    assert [row.booking.reference for row in the_board.rows] == ["RT-AAAA22", "RT-BBBB33", "RT-CCCC44"]
    assert (the_board.total, the_board.ready, the_board.not_ready) == (3, 1, 2)
    assert "ride_home" not in the_board.rows[1].steps

    browser, _ = signed_in(app, staff_user, "coordinator")
    page = browser.get(f"/staff/cohorts/{cohort.id}/readiness").get_data(as_text=True)
    assert "Ride home arranged" in page and "Not needed" in page and "1 ready" in page and "2 not ready" in page
    assert "RT-DDDD55" not in page and "RT-EEEE66" not in page


FILTERS = [
    ("", ["RT-AAAA22", "RT-BBBB33", "RT-CCCC44"]),
    ("?show=not_ready", ["RT-BBBB33", "RT-CCCC44"]),
    ("?show=ready", ["RT-AAAA22"]),
    ("?missing=clearance", ["RT-BBBB33", "RT-CCCC44"]),
    ("?missing=ride_home", ["RT-CCCC44"]),
    ("?missing=balance", ["RT-BBBB33", "RT-CCCC44"]),
    ("?status=held", ["RT-CCCC44"]),
    ("?status=confirmed&show=not_ready", ["RT-BBBB33"]),
    ("?status=paid_in_full&missing=clearance", []),
]


def test_filters(app, staff_user, cohort, providers):
    clinician = staff_user("clinician")
    booked(cohort, "RT-AAAA22", "Jane", "Doe", status="paid_in_full", paid=True)
    booked(cohort, "RT-BBBB33", "Sam", "Okafor")
    booked(cohort, "RT-CCCC44", "Lee", "Park", status="held")
    clearance.record_clearance("RT-AAAA22", "cleared", "", staff=clinician)
    browser, _ = signed_in(app, staff_user, "coordinator")
    for query, expected in FILTERS:
        response = browser.get(f"/staff/cohorts/{cohort.id}/readiness{query}")
        assert response.status_code == 200, query
        page = response.get_data(as_text=True)
        shown = [ref for ref in ("RT-AAAA22", "RT-BBBB33", "RT-CCCC44") if f'id="row-{ref}"' in page]
        assert shown == expected, query
        assert "1 ready" in page and "2 not ready" in page  # the counts are the cohort's, whatever the filter
    for query in ("?show=maybe", "?missing=nothing", "?status=cancelled"):
        response = browser.get(f"/staff/cohorts/{cohort.id}/readiness{query}")
        assert response.status_code == 422, query
        assert 'class="field-errors"' in response.get_data(as_text=True)
        assert browser.get(f"/staff/cohorts/{cohort.id}/readiness/export/roster.csv{query}").status_code == 422


def test_a_board_of_30_bookings_takes_a_bounded_number_of_queries(app, staff_user, cohort, providers):
    for n in range(30):
        booked(cohort, f"RT-Q{n:03d}X", f"P{n}", "Person", status="confirmed", paid=n % 2 == 0)
    browser, _ = signed_in(app, staff_user, "clinician")
    statements = []

    def count(*args):
        statements.append(args[2])

    sa.event.listen(db.engine, "before_cursor_execute", count)
    try:
        response = browser.get(f"/staff/cohorts/{cohort.id}/readiness")
    finally:
        sa.event.remove(db.engine, "before_cursor_execute", count)
    assert response.status_code == 200 and response.get_data(as_text=True).count('id="row-RT-Q') == 30
    clearance_reads = [s for s in statements if "FROM clearance" in s]
    assert len(clearance_reads) == 1  # every row's clearance in one query
    # The balance step reads each booking's payments (its own part's query); nothing else grows with the rows.
    assert len(statements) <= 30 + 12, len(statements)


# --- The roster export ------------------------------------------------------------------------------------------

def test_the_export_has_no_health_data_and_neutralises_formulas(app, staff_user, cohort, providers):
    clinician = staff_user("clinician")
    booked(cohort, "RT-AAAA22", EVIL_NAME, "Smith", status="paid_in_full", paid=True)
    booked(cohort, "RT-BBBB33", "Sam", "@Okafor")
    clearance.record_clearance("RT-AAAA22", "cleared", "", staff=clinician)
    clearance.record_clearance("RT-BBBB33", "follow_up", NOTE, staff=clinician)
    browser, _ = signed_in(app, staff_user, "coordinator")
    base = f"/staff/cohorts/{cohort.id}/readiness/export/roster"

    assert browser.get(base + ".pdf").status_code == 404
    response = browser.get(base + ".csv")
    assert response.status_code == 200 and response.mimetype == "text/csv"
    assert 'filename="readiness-' in response.headers["Content-Disposition"]
    text = response.get_data().decode("utf-8-sig")
    assert NOTE not in text and "QTc" not in text
    rows = list(csv.reader(io.StringIO(text)))
    assert rows == [
        ["Reference", "Name", "Lodging", "Booking status", "Paid in full", "Clearance", "Ride home arranged", "Ready",
         "Medical clearance"],
        ["RT-AAAA22", "'" + EVIL_NAME + " Smith", "Shared room", "Paid in full", "Done", "Done", "Done", "Ready",
         "Cleared"],
        ["RT-BBBB33", "Sam @Okafor", "Shared room", "Confirmed", "Not done", "Not done", "", "Not ready",
         "Needs follow-up"],
    ]

    sheet = load_workbook(io.BytesIO(browser.get(base + ".xlsx").get_data())).active
    assert sheet["B2"].value == "'" + EVIL_NAME + " Smith" and sheet["B2"].data_type == "s"
    response = browser.get(base + ".xlsx?show=not_ready")
    assert response.status_code == 200 and response.mimetype == readiness.XLSX_MIMETYPE
    sheet = load_workbook(io.BytesIO(response.get_data())).active
    values = [[cell.value for cell in row] for row in sheet.iter_rows()]
    assert values[1:] == [["RT-BBBB33", "Sam @Okafor", "Shared room", "Confirmed", "Not done", "Not done", None,
                           "Not ready", "Needs follow-up"]]
    assert all(cell.data_type != "f" for row in sheet.iter_rows() for cell in row)
    assert NOTE.encode() not in response.get_data()

    browser.get(base + ".csv?missing=clearance")
    exports = db.session.scalars(sa.select(AuditEntry).where(AuditEntry.action == "cohort.readiness_export")
                                 .order_by(AuditEntry.id)).all()
    assert [(e.details["rows"], e.details.get("show"), e.details.get("missing")) for e in exports] == [
        (2, None, None), (2, None, None), (1, "not_ready", None), (1, None, "clearance")]


# --- The checklist's step and the applicant's data ---------------------------------------------------------------

def test_the_step_and_the_applicants_data(app, staff_user, cohort):
    clinician = staff_user("clinician")
    booking = booked(cohort, "RT-AAAA22")
    step = clearance.checklist_step(booking)
    assert (step.key, step.done, step.endpoint) == ("clearance", False, None) and step.left
    assert clearance.personal_data(booking) == {}
    clearance.record_clearance("RT-AAAA22", "follow_up", NOTE, staff=clinician)
    assert not clearance.checklist_step(booking).done
    data = clearance.personal_data(booking)
    assert data["status"] == "follow_up" and data["note"] == NOTE and data["decided_at"]
    assert "clearance note(s)" in crypto.ROTATIONS and clearance.rotate_encryption() == 1
    assert clearance.personal_data(booking)["note"] == NOTE
    clearance.record_clearance("RT-AAAA22", "cleared", "", staff=clinician)
    assert clearance.checklist_step(booking).done and clearance.checklist_step(booking).left == ""
    assert clearance.personal_data(booking)["note"] is None

    clearance.erase_personal_data(booking)
    db.session.commit()
    assert db.session.scalar(sa.select(sa.func.count()).select_from(Clearance)) == 0
    assert clearance.personal_data(booking) == {}
    assert not clearance.checklist_step(booking).done
    assert db.session.scalar(sa.select(sa.func.count()).select_from(AuditEntry).where(
        AuditEntry.action.like("booking.clearance%"))) == 2  # the audit stays, without the note


# --- Clinicians at the same moment ------------------------------------------------------------------------------

def test_clinicians_recording_one_booking_at_once_leave_one_clearance_and_its_audit(app, staff_user, cohort):
    from tests.screening.test_concurrent_review import get, post, race, signed_in_clients
    booked(cohort, "RT-AAAA22")
    clients = signed_in_clients(app, staff_user, 4)
    url = f"/staff/cohorts/{cohort.id}/readiness/RT-AAAA22/clearance"
    coordinator, _ = signed_in(app, staff_user, "coordinator")
    outcomes = race([post(clients[0], url, {"status": "cleared"}), post(clients[1], url, {"status": "cleared"}),
                     post(clients[2], url, {"status": "follow_up", "note": NOTE}),
                     post(clients[3], url, {"status": "follow_up", "note": "Labs pending."}),
                     get(coordinator, f"/staff/cohorts/{cohort.id}/readiness")])
    assert outcomes == [303, 303, 303, 303, 200], outcomes
    db.session.expire_all()
    assert db.session.scalar(sa.select(sa.func.count()).select_from(Clearance)) == 1
    actions = db.session.scalars(sa.select(AuditEntry.action).where(AuditEntry.action.like("booking.clearance_%")
                                                                    ).order_by(AuditEntry.id)).all()
    assert actions[0] == "booking.clearance_record" and set(actions[1:]) <= {"booking.clearance_change"}
