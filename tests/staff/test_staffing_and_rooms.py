"""Staffing and rooms: the seats-per-therapist cap on a cohort's capacity, assigning and removing clinicians and
therapists (audited), the venue's rooms, placing guests (shared up to the beds, private alone, never into a room not
in use, a cancelled booking's bed free), the race for the last bed on both databases, the roster's room, the
applicant's data, and who may use the pages."""

import time
from datetime import timedelta

import pytest

from retreat.booking import cohorts, rooms, staffing
from retreat.booking.rooms_models import RoomPlacement
from retreat.booking.staffing_models import CohortStaff
from retreat.catalog.models import Cohort
from retreat.catalog.programs import CONTROL_CHARACTERS_MESSAGE
from retreat.core.clock import today
from retreat.core.errors import DomainError, ValidationFailed
from retreat.extensions import db
from retreat.staff.models import StaffUser
from tests.staff.test_capacity_locking import capacity_of, run_together
from tests.staff.test_cohorts_console import read_csv
from tests.staff.test_programs_console import add_booking, audit_entries, make_cohort, make_program, text_of


def therapist(staff_user, name: str, roles=("clinician",)):
    """A clinical staff account, straight into the table (no password hashing: nobody signs in as it)."""
    user = StaffUser(email=f"{name.lower().replace(' ', '.')}@clinic.example", name=name, password_hash="!",
                     roles=list(roles))
    db.session.add(user)
    db.session.commit()
    return user


def assign_therapists(cohort, staff_user, count: int) -> list:
    return [staffing.assign(cohort.id, therapist(staff_user, f"Therapist {cohort.id}-{n}").id, "therapist")
            for n in range(count)]


# --- The cap --------------------------------------------------------------------------------------------------

CAP_CASES = [  # (therapists, a raise from 3 seats to, the refusal or None)
    (0, 12, None),  # unstaffed: no cap yet
    (1, 4, None),
    (1, 5, "4 seats per therapist × 1 therapist = 4; assign another therapist to raise it."),
    (2, 8, None),
    (2, 9, "4 seats per therapist × 2 therapists = 8; assign another therapist to raise it."),
    (3, 12, None),
]


def test_raising_seats_is_capped_by_the_therapists_assigned(app, staff_user):
    program = make_program()
    for n, (therapists, target, refusal) in enumerate(CAP_CASES):
        cohort = make_cohort(program, days_ahead=30 + n, capacity=3)
        assign_therapists(cohort, staff_user, therapists)
        if refusal is None:
            assert cohorts.set_capacity(cohort.id, target) == {"from": 3, "to": target}, (therapists, target)
        else:
            with pytest.raises(ValidationFailed) as refused:
                cohorts.set_capacity(cohort.id, target)
            assert refused.value.fields == {"capacity": [refusal]}
            assert capacity_of(cohort.id) == 3
    assert [e.details["to"] for e in audit_entries("cohort.capacity")] == [
        target for _, target, refusal in CAP_CASES if refusal is None]


def test_the_ratio_comes_from_config_and_lowering_is_always_allowed(app, staff_user):
    app.config["SEATS_PER_THERAPIST"] = 3
    cohort = make_cohort(capacity=10)
    assign_therapists(cohort, staff_user, 1)  # short of therapists: 10 seats need 4
    with pytest.raises(ValidationFailed) as refused:
        cohorts.set_capacity(cohort.id, 11)
    assert refused.value.fields["capacity"] == [
        "3 seats per therapist × 1 therapist = 3; assign another therapist to raise it."]
    assert cohorts.set_capacity(cohort.id, 6) == {"from": 10, "to": 6}, "lowering moves toward the cap"
    assert staffing.staffing_of(cohort.id).short_of(6) == 1


def test_the_capacity_form_names_the_numbers(client, login_as, staff_user):
    cohort = make_cohort(capacity=8)
    assign_therapists(cohort, staff_user, 2)
    login_as("coordinator")
    response = client.post(f"/staff/cohorts/{cohort.id}/capacity", data={"capacity": "9"})
    assert response.status_code == 422
    assert "4 seats per therapist × 2 therapists = 8; assign another therapist to raise it." in text_of(response)
    page = text_of(client.get(f"/staff/cohorts/{cohort.id}"))
    assert "2 · at most 8 seats (4 seats per therapist × 2 therapists = 8)" in page


# --- Assigning and removing --------------------------------------------------------------------------------------

def test_assigning_and_removing_is_audited(app, staff_user):
    cohort = make_cohort(capacity=4)
    dana = therapist(staff_user, "Dana Reyes")
    lee = therapist(staff_user, "Lee Ortiz")
    staffing.assign(cohort.id, dana.id, "therapist")
    clinician = staffing.assign(cohort.id, lee.id, "clinician")
    assert [(m.staff_user.name, m.role) for m in staffing.team(cohort.id)] == [
        ("Lee Ortiz", "clinician"), ("Dana Reyes", "therapist")]
    assert staffing.staffing_of(cohort.id) == staffing.Staffing(4, 1, 1)
    staffing.unassign(cohort.id, clinician.id)
    assert [e.details for e in audit_entries("cohort.staff_assign")] == [
        {"staff_user": "dana.reyes@clinic.example", "role": "therapist", "therapists": 1, "seats": 4, "cap": 4},
        {"staff_user": "lee.ortiz@clinic.example", "role": "clinician", "therapists": 1, "seats": 4, "cap": 4}]
    [removed] = audit_entries("cohort.staff_unassign")
    assert removed.details == {"staff_user": "lee.ortiz@clinic.example", "role": "clinician", "therapists": 1}


def test_who_can_be_assigned(app, staff_user):
    cohort = make_cohort()
    gone = therapist(staff_user, "Gone Away")
    gone.active = False
    dana = therapist(staff_user, "Dana Reyes")
    staffing.assign(cohort.id, dana.id, "therapist")
    db.session.commit()
    cases = [
        (therapist(staff_user, "Frankie Finance", roles=("finance",)).id, "therapist", "staff_user_id",
         "Frankie Finance cannot be assigned: only active accounts with the clinician role can."),
        (gone.id, "therapist", "staff_user_id", "Gone Away cannot be assigned: only active accounts with the"),
        (987_654, "therapist", "staff_user_id", "Choose a person."),
        ("1", "therapist", "staff_user_id", "Choose a person."),
        (therapist(staff_user, "Lee Ortiz").id, "prescriber", "role", "Choose clinician or therapist."),
        (dana.id, "clinician", "staff_user_id", "Dana Reyes is assigned already, as therapist."),
    ]
    for user_id, role, field, message in cases:
        with pytest.raises(ValidationFailed) as refused:
            staffing.assign(cohort.id, user_id, role)
        assert refused.value.fields[field][0].startswith(message), (user_id, role)
    assert db.session.query(CohortStaff).count() == 1
    assert len(audit_entries("cohort.staff_assign")) == 1


UNASSIGN_CASES = [  # (therapists, seats taken, may one be removed)
    (2, 4, True),   # 4 seats need 1 therapist, 1 would remain
    (2, 5, False),  # 5 seats need 2
    (1, 0, True),   # nothing taken: back to unstaffed
    (1, 1, False),  # a cohort with seats taken never goes back to unstaffed
]


def test_a_therapist_the_seats_taken_need_stays(app, staff_user):
    program = make_program()
    for n, (therapists, taken, allowed) in enumerate(UNASSIGN_CASES):
        cohort = make_cohort(program, days_ahead=30 + n, capacity=8)
        team = assign_therapists(cohort, staff_user, therapists)
        for _ in range(taken):
            add_booking(cohort, "confirmed")
        if allowed:
            staffing.unassign(cohort.id, team[0].id)
            assert staffing.staffing_of(cohort.id).therapists == therapists - 1
        else:
            with pytest.raises(DomainError) as refused:
                staffing.unassign(cohort.id, team[0].id)
            assert "Assign another therapist first." in refused.value.message
            assert f"{taken} seat" in refused.value.message
            assert staffing.staffing_of(cohort.id).therapists == therapists
    assert len(audit_entries("cohort.staff_unassign")) == sum(allowed for *_, allowed in UNASSIGN_CASES)


def test_live_holds_count_for_the_therapists_needed(app, staff_user):
    cohort = make_cohort(capacity=8)
    team = assign_therapists(cohort, staff_user, 2)
    for status in ("confirmed", "confirmed", "paid_in_full", "held", "pending_review"):
        add_booking(cohort, status)
    add_booking(cohort, "held", hold_minutes=-5)  # lapsed: takes no seat
    with pytest.raises(DomainError) as refused:
        staffing.unassign(cohort.id, team[0].id)
    assert refused.value.message.endswith(
        "cannot be removed: 5 seats are taken, which need 2 therapists at 4 seats per therapist, and 1 therapist "
        "would remain. Assign another therapist first.")


def test_the_staff_page_assigns_and_removes(client, login_as, staff_user):
    cohort = make_cohort(capacity=6)
    dana = therapist(staff_user, "Dana Reyes")
    login_as("coordinator")
    page = text_of(client.get(f"/staff/cohorts/{cohort.id}/staff"))
    assert "No therapist is assigned yet. These dates have 6 seats, which need 2 therapists" in page
    response = client.post(f"/staff/cohorts/{cohort.id}/staff", data={"staff_user_id": str(dana.id),
                                                                    "role": "therapist"})
    assert response.status_code == 303
    page = text_of(client.get(response.headers["Location"]))
    assert "Dana Reyes is assigned to these dates as therapist." in page
    assert "Short of therapists: 6 seats need 2 therapists at 4 seats per therapist, and 1 is assigned." in page
    response = client.post(f"/staff/cohorts/{cohort.id}/staff", data={"staff_user_id": "", "role": "therapist"})
    assert response.status_code == 422 and "Choose a person." in text_of(response)
    [member] = staffing.team(cohort.id)
    response = client.post(f"/staff/cohorts/{cohort.id}/staff/{member.id}/remove")
    assert "Dana Reyes is no longer assigned to these dates." in text_of(client.get(response.headers["Location"]))
    assert [e.actor_roles for e in audit_entries() if e.action.startswith("cohort.staff")] == ["coordinator"] * 2


# --- Rooms ------------------------------------------------------------------------------------------------------

@pytest.mark.parametrize(("beds", "lodging", "others", "refusal"), [
    (2, "shared", [], None),
    (2, "shared", ["shared"], None),
    (2, "shared", ["shared", "shared"], "Every bed of Cedar is taken on these dates (2 beds)."),
    (1, "shared", ["shared"], "Every bed of Cedar is taken on these dates (1 bed)."),
    (3, "shared", ["private"], "Cedar is another guest's private room on these dates."),
    (2, "private", [], None),
    (1, "private", [], None),
    (2, "private", ["shared"], "Cedar has 1 guest on these dates; a private room is for one guest alone."),
    (4, "private", ["private"], "Cedar has 1 guest on these dates; a private room is for one guest alone."),
])
def test_who_may_share_a_room(beds, lodging, others, refusal):
    assert rooms.placement_refusal("Cedar", beds, lodging, others) == refusal


ROOM_CASES = [
    ("", 2, {"name": ["Give the room's name."]}),
    ("x" * 61, 2, {"name": ["Keep the name to 60 characters or fewer."]}),
    ("Birch\x00", 2, {"name": [CONTROL_CHARACTERS_MESSAGE]}),
    ("Birch", 0, {"beds": ["A room has 1 to 20 beds."]}),
    ("Birch", 21, {"beds": ["A room has 1 to 20 beds."]}),
    ("Birch", "2", {"beds": ["Give a whole number of beds."]}),
    ("Birch", None, {"beds": ["Give the number of beds."]}),
    ("  cedar ", 2, {"name": ["There is a room named cedar already."]}),
]


def test_a_room_needs_a_name_and_beds(app):
    rooms.create_room("Cedar", 2)
    for name, beds, errors in ROOM_CASES:
        with pytest.raises(ValidationFailed) as refused:
            rooms.create_room(name, beds)
        assert refused.value.fields == errors, (name, beds)
    assert [room.name for room in rooms.list_rooms()] == ["Cedar"]


def guests(cohort, *lodgings, status="confirmed"):
    return [add_booking(cohort, status, first=f"Guest{n}", last=lodging.title(), lodging=lodging)
            for n, lodging in enumerate(lodgings)]


def test_placing_guests_moves_them_and_is_audited(app):
    cohort = make_cohort()
    cedar, birch = rooms.create_room("Cedar", 2), rooms.create_room("Birch", 1)
    ana, ben, cai = guests(cohort, "shared", "shared", "shared")
    rooms.place(cohort.id, ana.reference, cedar.id)
    rooms.place(cohort.id, ben.reference, cedar.id)
    with pytest.raises(ValidationFailed) as refused:
        rooms.place(cohort.id, cai.reference, cedar.id)
    assert refused.value.fields == {"room_id": ["Every bed of Cedar is taken on these dates (2 beds)."]}
    rooms.place(cohort.id, ben.reference, birch.id)  # a move frees Ben's bed in Cedar
    rooms.place(cohort.id, cai.reference, cedar.id)
    assert rooms.rooms_by_booking([ana.id, ben.id, cai.id]) == {ana.id: "Cedar", ben.id: "Birch", cai.id: "Cedar"}
    assert rooms.unplace(cohort.id, ana.reference) == "Cedar"
    assert [(e.target_id, e.details["room"], e.details["from"]) for e in audit_entries("room.place")] == [
        (ana.reference, "Cedar", None), (ben.reference, "Cedar", None), (ben.reference, "Birch", "Cedar"),
        (cai.reference, "Cedar", None)]
    [out] = audit_entries("room.unplace")
    assert (out.target_id, out.details) == (ana.reference, {"cohort": cohort.id, "room": "Cedar"})


def test_a_cancelled_booking_frees_its_bed_and_others_are_not_placed(app):
    cohort = make_cohort()
    cedar = rooms.create_room("Cedar", 1)
    ana, ben = guests(cohort, "shared", "shared")
    rooms.place(cohort.id, ana.reference, cedar.id)
    with pytest.raises(ValidationFailed):
        rooms.place(cohort.id, ben.reference, cedar.id)
    db.session.get(type(ana), ana.id).status = "cancelled"
    db.session.commit()
    rooms.place(cohort.id, ben.reference, cedar.id)
    assert rooms.rooms_by_booking([ana.id, ben.id]) == {ben.id: "Cedar"}, "the cancelled booking shows no room"
    [held] = guests(cohort, "shared", status="held")
    [commuter] = guests(cohort, "none")
    with pytest.raises(DomainError, match="only guests with a paid seat are placed"):
        rooms.place(cohort.id, held.reference, cedar.id)
    with pytest.raises(DomainError, match="booked without lodging"):
        rooms.place(cohort.id, commuter.reference, cedar.id)
    assert [g.booking.reference for g in rooms.placement_board(cohort.id).guests] == [ben.reference, ana.reference][:1]


def test_a_room_not_in_use_takes_no_one_and_cannot_lose_its_coming_guests(app):
    cohort = make_cohort()
    cedar, shut = rooms.create_room("Cedar", 2), rooms.create_room("Shut", 2, active=False)
    ana, ben = guests(cohort, "shared", "shared")
    with pytest.raises(ValidationFailed) as refused:
        rooms.place(cohort.id, ana.reference, shut.id)
    assert refused.value.fields == {"room_id": ["Shut is not in use; choose another room."]}
    rooms.place(cohort.id, ana.reference, cedar.id)
    rooms.place(cohort.id, ben.reference, cedar.id)
    with pytest.raises(ValidationFailed) as refused:
        rooms.update_room(cedar.id, "Cedar", 1, True)
    assert "2 guests are placed in it for the dates from" in refused.value.fields["beds"][0]
    with pytest.raises(ValidationFailed) as refused:
        rooms.update_room(cedar.id, "Cedar", 2, False)
    assert "move them to another room first" in refused.value.fields["active"][0]
    assert rooms.update_room(cedar.id, "Cedar Lodge", 3, True) == {
        "name": {"from": "Cedar", "to": "Cedar Lodge"}, "beds": {"from": 2, "to": 3}}
    assert [e.details for e in audit_entries("room.update")] == [
        {"changes": {"name": {"from": "Cedar", "to": "Cedar Lodge"}, "beds": {"from": 2, "to": 3}}}]


def test_rooms_are_shared_by_overlapping_dates_only(app):
    program = make_program()
    first = cohorts.create_cohort(program.id, today() + timedelta(days=30), None, 8)
    overlapping = cohorts.create_cohort(program.id, first.start_date + timedelta(days=3), None, 8)
    after = cohorts.create_cohort(program.id, first.end_date, None, 8)  # arrives the day the first leaves
    cedar = rooms.create_room("Cedar", 1)
    [ana] = guests(first, "private")
    [ben] = guests(overlapping, "shared")
    [cai] = guests(after, "private")
    rooms.place(first.id, ana.reference, cedar.id)
    with pytest.raises(ValidationFailed) as refused:
        rooms.place(overlapping.id, ben.reference, cedar.id)
    assert refused.value.fields == {"room_id": ["Cedar is another guest's private room on these dates."]}
    rooms.place(after.id, cai.reference, cedar.id)


def test_two_placements_into_the_last_bed_give_exactly_one(app, monkeypatch):
    """Two coordinators place two guests of overlapping dates (different cohorts, so different cohort locks) into
    the last bed of one room at the same moment: the room's lock lets one in. Both databases. Counting a room's
    guests is made slow, so a placement without the lock would have every chance to slip in between."""
    count = rooms._occupants

    def slowly(room_id, cohort):
        found = count(room_id, cohort)
        time.sleep(0.2)
        return found

    monkeypatch.setattr(rooms, "_occupants", slowly)
    program = make_program()
    first = cohorts.create_cohort(program.id, today() + timedelta(days=30), None, 8)
    second = cohorts.create_cohort(program.id, first.start_date + timedelta(days=1), None, 8)
    cedar = rooms.create_room("Cedar", 2)
    [ana, ben] = guests(first, "shared", "shared")
    [cai] = guests(second, "shared")
    rooms.place(first.id, ana.reference, cedar.id)
    jobs = {"ben": (first.id, ben.reference), "cai": (second.id, cai.reference)}
    ids = (cedar.id,)
    db.session.commit()
    db.session.close()

    def placing(cohort_id, reference):
        def job():
            try:
                rooms.place(cohort_id, reference, ids[0])
                return "placed"
            except ValidationFailed as refusal:
                return refusal.fields["room_id"][0]
        return job

    results, errors = run_together(app, {name: placing(*args) for name, args in jobs.items()})
    assert not errors, errors
    assert sorted(results.values()) == ["Every bed of Cedar is taken on these dates (2 beds).", "placed"]
    assert db.session.query(RoomPlacement).filter_by(room_id=ids[0]).count() == 2
    assert len(audit_entries("room.place")) == 2


# --- The roster and the applicant's data --------------------------------------------------------------------------

def test_the_roster_and_its_csv_show_each_guests_room(client, login_as):
    cohort = make_cohort()
    cedar = rooms.create_room("Cedar", 2)
    ana, ben = guests(cohort, "shared", "shared")
    rooms.place(cohort.id, ana.reference, cedar.id)
    login_as("coordinator")
    page = client.get(f"/staff/cohorts/{cohort.id}/roster").get_data(as_text=True)
    assert f'data-room="{ana.reference}">Cedar</td>' in page
    assert f'data-room="{ben.reference}">—</td>' in page
    rows = read_csv(client.get(f"/staff/cohorts/{cohort.id}/roster.csv"))
    assert rows[0][-1] == "Room"
    assert {row[0]: row[-1] for row in rows[1:]} == {ana.reference: "Cedar", ben.reference: ""}


def test_the_applicants_data_holds_their_room_and_erasure_removes_it(app):
    cohort = make_cohort()
    cedar = rooms.create_room("Cedar", 2)
    ana, ben = guests(cohort, "shared", "shared")
    rooms.place(cohort.id, ana.reference, cedar.id)
    rooms.place(cohort.id, ben.reference, cedar.id)
    data = rooms.personal_data(ana)
    assert data["room"] == "Cedar" and data["placed_at"].endswith("+00:00")
    assert "Guest1" not in str(data), "a roommate is not the applicant's data"
    rooms.erase_personal_data(ana)
    db.session.commit()
    assert rooms.personal_data(ana) == {}
    assert rooms.personal_data(ben)["room"] == "Cedar"


# --- The pages ----------------------------------------------------------------------------------------------------

def test_the_placement_page_places_and_shows_refusals_beside_the_guest(client, login_as):
    cohort = make_cohort()
    cedar = rooms.create_room("Cedar", 1)
    ana, ben = guests(cohort, "shared", "private")
    login_as("coordinator")
    page = text_of(client.get(f"/staff/cohorts/{cohort.id}/rooms"))
    assert "2 guests with lodging, 2 not yet in a room; 1 bed free in rooms in use." in page
    assert "Not given yet" in page, "the intake's roommate preference, not given yet"
    response = client.post(f"/staff/cohorts/{cohort.id}/rooms/{ana.reference}",
                           data={f"place-{ana.reference}-room_id": str(cedar.id)})
    assert response.status_code == 303
    assert "Guest0 Shared is in Cedar." in text_of(client.get(response.headers["Location"]))
    response = client.post(f"/staff/cohorts/{cohort.id}/rooms/{ben.reference}",
                           data={f"place-{ben.reference}-room_id": str(cedar.id)})
    assert response.status_code == 422
    html = response.get_data(as_text=True)
    assert f'id="place-{ben.reference}-room_id-error"' in html
    assert "Guest1 Private was not placed" in text_of(response), "the refusal is summed up above the table"
    assert "Cedar has 1 guest on these dates; a private room is for one guest alone." in text_of(response)
    response = client.post(f"/staff/cohorts/{cohort.id}/rooms/{ana.reference}/remove")
    assert "Taken out of Cedar" in text_of(client.get(response.headers["Location"]))


def test_the_roommate_preference_shows_once_the_intake_gives_it(client, login_as, monkeypatch):
    cohort = make_cohort()
    ana, ben = guests(cohort, "shared", "shared")
    monkeypatch.setattr(rooms, "_roommate_source", lambda ids: {ana.id: "With my sister, Guest1 Shared"})
    login_as("coordinator")
    html = client.get(f"/staff/cohorts/{cohort.id}/rooms").get_data(as_text=True)
    assert "With my sister, Guest1 Shared" in html and "Not given yet" in html


def test_the_rooms_pages_add_and_edit_rooms(client, login_as):
    login_as("coordinator")
    response = client.post("/staff/rooms", data={"name": "Cedar", "beds": "2", "active": "y"})
    assert "Room Cedar added with 2 beds." in text_of(client.get(response.headers["Location"]))
    response = client.post("/staff/rooms", data={"name": "", "beds": "lots"})
    assert response.status_code == 422
    assert "Give the room's name." in text_of(response) and "Give a whole number." in text_of(response)
    [cedar] = rooms.list_rooms()
    response = client.post(f"/staff/rooms/{cedar.id}", data={"name": "Cedar", "beds": "3"})
    assert response.status_code == 303
    [cedar] = rooms.list_rooms()
    assert (cedar.beds, cedar.active) == (3, False)
    assert [e.action for e in audit_entries() if e.action.startswith("room.")] == ["room.create", "room.update"]


def test_finance_and_clinicians_may_not_use_the_pages(client, login_as):
    cohort = make_cohort()
    room = rooms.create_room("Cedar", 2)
    [ana] = guests(cohort, "shared")
    for role in ("finance", "clinician"):
        login_as(role)
        for method, url in (("GET", f"/staff/cohorts/{cohort.id}/staff"),
                            ("POST", f"/staff/cohorts/{cohort.id}/staff"),
                            ("GET", "/staff/rooms"), ("POST", "/staff/rooms"), ("GET", f"/staff/rooms/{room.id}"),
                            ("POST", f"/staff/rooms/{room.id}"), ("GET", f"/staff/cohorts/{cohort.id}/rooms"),
                            ("POST", f"/staff/cohorts/{cohort.id}/rooms/{ana.reference}"),
                            ("POST", f"/staff/cohorts/{cohort.id}/rooms/{ana.reference}/remove")):
            response = client.open(url, method=method, data={"name": "X", "beds": "1",
                                                             f"place-{ana.reference}-room_id": str(room.id)})
            assert response.status_code == 403, (role, method, url)
    assert not db.session.query(RoomPlacement).count() and len(rooms.list_rooms()) == 1
    assert [e.action for e in audit_entries() if e.action.startswith(("room.", "cohort.staff"))] == ["room.create"]


def test_the_demo_cohorts_are_staffed_and_its_first_guests_placed(demo):
    cohorts_ = db.session.query(Cohort).all()
    by_cohort = staffing.staffing_by_cohort([c.id for c in cohorts_])
    for cohort in cohorts_:
        assert by_cohort[cohort.id].staffed and cohort.capacity <= by_cohort[cohort.id].cap, cohort
    first = min(cohorts_, key=lambda c: (c.start_date, c.id))
    board = rooms.placement_board(first.id)
    assert board.guests and board.unplaced == 0


def test_ids_sent_too_large_for_the_database_are_refused_by_name(client, login_as):
    cohort = make_cohort()
    [ana] = guests(cohort, "shared")
    login_as("coordinator")
    response = client.post(f"/staff/cohorts/{cohort.id}/rooms/{ana.reference}",
                           data={f"place-{ana.reference}-room_id": "99999999999999999999"})
    assert response.status_code == 422 and "Choose a room." in text_of(response)
    response = client.post(f"/staff/cohorts/{cohort.id}/staff",
                           data={"staff_user_id": "99999999999999999999", "role": "therapist"})
    assert response.status_code == 422 and "Choose a person." in text_of(response)
