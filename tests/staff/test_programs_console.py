"""Coordinator console, programs: list, create, edit, publish and unpublish (retreat/catalog/cohorts.py and
retreat/staff/views/programs.py). Who may use each route, what is validated (and that a refusal writes nothing),
and the audit entry each change leaves.

The helpers at the top (a valid program, cohorts, bookings, audit entries) serve the other console tests too.
"""

import re
from datetime import date, timedelta
from html import unescape

import pytest
import sqlalchemy as sa

from retreat.booking import cohorts
from retreat.booking.models import Booking, new_booking_reference
from retreat.catalog import programs as catalog_programs
from retreat.catalog.models import Cohort, Program
from retreat.core.audit import AuditEntry
from retreat.core.clock import now, today
from retreat.core.errors import NotFound, ValidationFailed
from retreat.extensions import db

# --- Helpers shared by the console tests ---------------------------------------------------------------------

VALID_PROGRAM = {
    "name": "IV Ketamine with EMDR, One Week",
    "slug": "iv-emdr-test-week",
    "summary": "Four monitored infusions with EMDR integration.",
    "description": "A calm week.",
    "location": "Cedar House",
    "duration_days": 7,
    "ketamine_route": "iv",
    "dosing_sessions": 4,
    "therapy_modality": "emdr",
    "integration_sessions": 4,
    "intensive_sessions": 1,
    "lodging_options": ["shared", "private"],
}
COORDINATION_ROLES = ("coordinator", "admin")
OTHER_ROLES = ("clinician", "finance")


def make_program(**overrides) -> Program:
    return catalog_programs.create_program(VALID_PROGRAM | overrides)


def make_cohort(program: Program | None = None, *, days_ahead: int = 30, capacity: int = 8) -> Cohort:
    program = program or make_program()
    return cohorts.create_cohort(program.id, today() + timedelta(days=days_ahead), None, capacity)


def add_booking(cohort: Cohort, status: str = "confirmed", *, first: str = "Sam", last: str = "Rivera",
                email: str | None = None, phone: str = "+1 555 0100", lodging: str = "shared",
                hold_minutes: int | None = None) -> Booking:
    """A booking straight into the table (the booking workflow comes later). Holds last `hold_minutes` (default
    60 for held and pending_review; negative: already expired)."""
    if hold_minutes is None and status in ("held", "pending_review"):
        hold_minutes = 60
    booking = Booking(
        reference=new_booking_reference(), cohort_id=cohort.id, status=status, lodging=lodging,
        applicant_first_name=first, applicant_last_name=last,
        applicant_email=email or f"{first}.{last}@example.org".lower().replace(" ", ""),
        applicant_phone=phone, price_list_version=1, total_cents=900_000, deposit_cents=150_000,
        balance_cents=750_000, balance_due_date=date(2030, 1, 1),
        hold_expires_at=now() + timedelta(minutes=hold_minutes) if hold_minutes is not None else None,
    )
    db.session.add(booking)
    db.session.commit()
    return booking


def audit_entries(action: str | None = None) -> list[AuditEntry]:
    query = sa.select(AuditEntry).order_by(AuditEntry.id)
    if action:
        query = query.where(AuditEntry.action == action)
    return list(db.session.scalars(query))


def console_actions() -> list[str]:
    """The audited actions of the coordinator console (staff sign-ins and the like left out)."""
    return [e.action for e in audit_entries() if e.action.startswith(("program.", "cohort."))]


def count(model) -> int:
    return db.session.scalar(sa.select(sa.func.count()).select_from(model))


def text_of(response) -> str:
    """The page as text with tags removed and whitespace collapsed, for asserting on what a person reads."""
    html = re.sub(r"<[^>]+>", " ", response.get_data(as_text=True))
    return re.sub(r"\s+", " ", unescape(html))


def field_block(response, field_id: str) -> str:
    """The HTML of the `.field` block (div or fieldset) that holds the control `field_id`."""
    html = response.get_data(as_text=True)
    for match in re.finditer(r'<(div|fieldset) class="field[^"]*"[^>]*>', html):
        tag = match.group(1)
        end = html.find(f"</{tag}>", match.end())
        if tag == "div":  # a div block may hold nested divs (choices): take up to the matching close
            depth, cursor = 1, match.end()
            while depth:
                next_open = html.find("<div", cursor)
                next_close = html.find("</div>", cursor)
                if next_open != -1 and next_open < next_close:
                    depth, cursor = depth + 1, next_open + 4
                else:
                    depth, cursor = depth - 1, next_close + 6
            end = cursor
        block = html[match.start():end]
        if f'id="{field_id}"' in block or f'id="{field_id}-0"' in block:
            return block
    raise AssertionError(f"no field block holds #{field_id}")


def assert_error_at(response, field_id: str, message: str) -> None:
    """The message shows inside the field's own block, which is marked invalid."""
    block = field_block(response, field_id)
    assert "has-error" in block, block
    assert message in unescape(re.sub(r"<[^>]+>", " ", block)), block
    if f'id="{field_id}"' in block and "<fieldset" not in block[:10]:
        control = re.search(rf'<(input|textarea|select)[^>]*id="{field_id}"[^>]*>', block).group(0)
        assert 'aria-invalid="true"' in control, control
        assert f"{field_id}-error" in control, "the error is tied to the control with aria-describedby"


def form_data(values: dict) -> dict:
    """Values as a browser posts them: text, with a list sent as the key repeated."""
    return {key: [str(v) for v in value] if isinstance(value, list) else str(value)
            for key, value in values.items()}


# --- Access -----------------------------------------------------------------------------------------------------

def program_routes(program_id: int) -> list[tuple[str, str]]:
    return [
        ("GET", "/staff/programs"),
        ("GET", "/staff/programs/new"),
        ("POST", "/staff/programs/new"),
        ("GET", f"/staff/programs/{program_id}"),
        ("POST", f"/staff/programs/{program_id}"),
        ("POST", f"/staff/programs/{program_id}/publish"),
        ("POST", f"/staff/programs/{program_id}/unpublish"),
    ]


@pytest.mark.parametrize("role", OTHER_ROLES)
def test_other_roles_are_refused_every_program_route(client, login_as, role):
    program = make_program()
    login_as(role)
    for method, url in program_routes(program.id):
        response = client.open(url, method=method, data=form_data(VALID_PROGRAM | {"name": "Changed"}))
        assert response.status_code == 403, (method, url)
    db.session.expire_all()
    assert db.session.get(Program, program.id).name == VALID_PROGRAM["name"]
    assert db.session.get(Program, program.id).published is False
    assert not audit_entries("program.update") and not audit_entries("program.publish")


def test_anonymous_visitors_are_sent_to_sign_in(client):
    program = make_program()
    for method, url in program_routes(program.id):
        response = client.open(url, method=method, data={})
        assert response.status_code == 302, (method, url)
        assert response.headers["Location"].startswith("/staff/login"), (method, url)


@pytest.mark.parametrize("role", COORDINATION_ROLES)
def test_coordinators_and_admins_use_the_program_pages(client, login_as, role, demo):
    login_as(role)
    response = client.get("/staff/programs")
    assert response.status_code == 200
    assert response.headers["Cache-Control"] == "no-store"
    page = text_of(response)
    for program in db.session.scalars(sa.select(Program)):
        assert program.name in page
    program = db.session.scalars(sa.select(Program).order_by(Program.id)).first()
    assert client.get(f"/staff/programs/{program.id}").status_code == 200
    assert client.get("/staff/programs/new").status_code == 200


def test_every_console_route_declares_its_roles(app):
    from retreat.staff.access import allowed_roles
    for rule in app.url_map.iter_rules():
        if rule.endpoint.startswith(("staff.program", "staff.cohort")):
            assert allowed_roles(rule.endpoint) == frozenset(COORDINATION_ROLES), rule.endpoint


def test_state_changes_are_post_only(client, login_as):
    program = make_program()
    login_as("coordinator")
    for url in (f"/staff/programs/{program.id}/publish", f"/staff/programs/{program.id}/unpublish"):
        assert client.get(url).status_code == 405
    db.session.expire_all()
    assert db.session.get(Program, program.id).published is False


def test_an_unknown_program_is_not_found(client, login_as):
    login_as("coordinator")
    assert client.get("/staff/programs/999999").status_code == 404
    assert client.post("/staff/programs/999999/publish").status_code == 404


# --- Creating ---------------------------------------------------------------------------------------------------

def test_creating_a_program_saves_a_draft_and_audits_it(client, login_as):
    user = login_as("coordinator")
    response = client.post("/staff/programs/new", data=form_data(VALID_PROGRAM),
                           environ_base={"REMOTE_ADDR": "203.0.113.7"})
    assert response.status_code == 303
    program = db.session.scalar(sa.select(Program).where(Program.slug == VALID_PROGRAM["slug"]))
    assert response.headers["Location"] == f"/staff/programs/{program.id}"
    assert program.published is False
    assert program.lodging_options == ["shared", "private"]
    assert (program.duration_days, program.ketamine_route, program.dosing_sessions) == (7, "iv", 4)
    [entry] = audit_entries("program.create")
    assert (entry.actor_id, entry.actor_email, entry.actor_roles) == (user.id, user.email, "coordinator")
    assert (entry.target_type, entry.target_id) == ("program", str(program.id))
    assert entry.ip_address == "203.0.113.7"
    assert entry.at is not None
    assert entry.details["slug"] == VALID_PROGRAM["slug"]
    assert "is saved as a draft" in text_of(client.get(response.headers["Location"]))


def test_a_draft_does_not_show_in_the_public_catalog(client):
    program = make_program()
    assert program.name not in text_of(client.get("/"))
    assert client.get(f"/programs/{program.slug}").status_code == 404


@pytest.mark.parametrize(("changes", "field", "message"), [
    ({"name": ""}, "name", "Give the program a name."),
    ({"name": "x" * 161}, "name", "Keep it to 160 characters or fewer"),
    ({"summary": "   "}, "summary", "Give a one or two sentence summary."),
    ({"slug": "IV EMDR"}, "slug", "Use lowercase letters, digits and single hyphens"),
    ({"slug": "-iv"}, "slug", "Use lowercase letters, digits and single hyphens"),
    ({"slug": "iv--emdr"}, "slug", "Use lowercase letters, digits and single hyphens"),
    ({"duration_days": "6"}, "duration_days", "A retreat lasts 7 to 14 days."),
    ({"duration_days": "15"}, "duration_days", "A retreat lasts 7 to 14 days."),
    ({"duration_days": "seven"}, "duration_days", "Give a whole number."),
    ({"dosing_sessions": "7"}, "dosing_sessions", "IV ketamine programs have 4 to 6 dosing sessions."),
    ({"ketamine_route": "esketamine", "dosing_sessions": "5"}, "dosing_sessions",
     "Esketamine (Spravato) programs have 2 to 4 dosing sessions."),
    ({"integration_sessions": "3"}, "integration_sessions", "at least one integration session per dosing"),
    ({"integration_sessions": "11"}, "integration_sessions", "at most 10 integration sessions"),
    ({"lodging_options": []}, "lodging_options", "Choose at least one lodging option."),
    ({"lodging_options": ["shared", "penthouse"]}, "lodging_options", "not a valid choice"),
    ({"ketamine_route": "nasal"}, "ketamine_route", "Not a valid choice"),
    ({"name": "Nul\x00byte"}, "name", "Remove the invisible control characters"),
    ({"description": "Bell\x07"}, "description", "Remove the invisible control characters"),
])
def test_invalid_programs_are_refused_next_to_the_field_and_nothing_is_written(client, login_as, changes,
                                                                                 field, message):
    login_as("coordinator")
    response = client.post("/staff/programs/new", data=form_data(VALID_PROGRAM | changes))
    assert response.status_code == 422
    assert_error_at(response, field, message)
    assert count(Program) == 0
    assert console_actions() == []


def test_a_refusal_lists_every_problem_at_once_and_keeps_what_was_typed(client, login_as):
    login_as("coordinator")
    response = client.post("/staff/programs/new", data=form_data(VALID_PROGRAM | {
        "name": "Keep this name", "slug": "Bad Slug", "dosing_sessions": "9", "lodging_options": []}))
    assert response.status_code == 422
    assert_error_at(response, "slug", "Use lowercase letters")
    assert_error_at(response, "dosing_sessions", "4 to 6 dosing sessions")
    assert_error_at(response, "lodging_options", "Choose at least one lodging option.")
    html = response.get_data(as_text=True)
    assert 'value="Keep this name"' in html
    assert 'class="error-summary"' in html and 'href="#slug"' in html and 'href="#lodging_options-0"' in html


def test_fields_that_fail_to_parse_do_not_hide_the_other_problems(client, login_as):
    login_as("coordinator")
    data = VALID_PROGRAM | {"duration_days": "a week", "summary": "", "slug": "Bad Slug"}
    del data["ketamine_route"]
    for url in ("/staff/programs/new", f"/staff/programs/{make_program(slug='existing').id}"):
        response = client.post(url, data=form_data(data))
        assert response.status_code == 422
        assert_error_at(response, "duration_days", "Give a whole number.")
        assert_error_at(response, "ketamine_route", "Choose a ketamine treatment.")
        assert_error_at(response, "summary", "Give a one or two sentence summary.")
        assert_error_at(response, "slug", "Use lowercase letters")
        assert "This field is required" not in response.get_data(as_text=True)
    assert console_actions() == ["program.create"]


def test_line_breaks_in_a_description_are_kept(app):
    program = make_program(description="First line.\r\nSecond line.\tIndented.")
    assert program.description == "First line.\r\nSecond line.\tIndented."


def test_an_empty_web_address_name_is_made_from_the_name(client, login_as):
    login_as("admin")
    response = client.post("/staff/programs/new", data=form_data(
        VALID_PROGRAM | {"name": "  Sublingual Ketamine & IFS: Two Weeks ", "slug": ""}))
    assert response.status_code == 303
    assert db.session.scalar(sa.select(Program.slug)) == "sublingual-ketamine-ifs-two-weeks"


def test_a_web_address_name_is_unique(client, login_as):
    make_program()
    login_as("coordinator")
    response = client.post("/staff/programs/new", data=form_data(VALID_PROGRAM | {"name": "Another"}))
    assert response.status_code == 422
    assert_error_at(response, "slug", "Another program uses “iv-emdr-test-week” already")
    assert count(Program) == 1


def test_a_web_address_name_taken_meanwhile_is_refused_on_its_field(app, monkeypatch):
    """Another save takes the name between the check and the write: the unique index refuses it, and the
    refusal names the field and leaves nothing written."""
    make_program()
    other = make_program(slug="other-program", name="Other")
    checks = []
    real_check = catalog_programs._slug_taken

    def missed_once(slug, other_than):
        checks.append(slug)
        return False if len(checks) == 1 else real_check(slug, other_than)

    monkeypatch.setattr(catalog_programs, "_slug_taken", missed_once)
    with pytest.raises(ValidationFailed) as refusal:
        catalog_programs.create_program(VALID_PROGRAM | {"name": "Third"})
    assert refusal.value.fields == {"slug": ["Another program uses “iv-emdr-test-week” already; choose another."]}
    assert count(Program) == 2 and console_actions() == ["program.create", "program.create"]

    checks.clear()
    with pytest.raises(ValidationFailed) as refusal:
        catalog_programs.update_program(other.id, VALID_PROGRAM | {"name": "Other"})
    assert "slug" in refusal.value.fields
    db.session.expire_all()
    assert db.session.get(Program, other.id).slug == "other-program"
    assert console_actions() == ["program.create", "program.create"]


def test_lodging_options_are_kept_in_display_order_without_repeats(app):
    program = make_program(lodging_options=["private", "none", "private"])
    assert program.lodging_options == ["none", "private"]


@pytest.mark.parametrize(("changes", "field"), [
    ({"lodging_options": "shared"}, "lodging_options"),
    ({"lodging_options": None}, "lodging_options"),
    ({"duration_days": True}, "duration_days"),
    ({"duration_days": "7"}, "duration_days"),
    ({"name": 12}, "name"),
    ({"ketamine_route": None}, "ketamine_route"),
])
def test_the_service_checks_types_itself(app, changes, field):
    with pytest.raises(ValidationFailed) as refusal:
        catalog_programs.create_program(VALID_PROGRAM | changes)
    assert field in refusal.value.fields
    assert count(Program) == 0 and console_actions() == []


# --- Editing ----------------------------------------------------------------------------------------------------

def test_editing_a_program_saves_and_audits_what_changed(client, login_as):
    program = make_program()
    login_as("admin")
    response = client.post(f"/staff/programs/{program.id}", data=form_data(
        VALID_PROGRAM | {"name": "Renamed", "dosing_sessions": "5", "integration_sessions": "5",
                         "description": "Longer words.", "lodging_options": ["none", "shared"]}))
    assert response.status_code == 303
    db.session.expire_all()
    program = db.session.get(Program, program.id)
    assert (program.name, program.dosing_sessions, program.lodging_options) == ("Renamed", 5, ["none", "shared"])
    [entry] = audit_entries("program.update")
    assert entry.details["changes"] == {
        "name": {"from": VALID_PROGRAM["name"], "to": "Renamed"},
        "dosing_sessions": {"from": 4, "to": 5},
        "integration_sessions": {"from": 4, "to": 5},
        "description": "changed",
        "lodging_options": {"from": ["shared", "private"], "to": ["none", "shared"]},
    }
    assert entry.actor_roles == "admin"


def test_saving_without_changes_writes_nothing(client, login_as):
    program = make_program()
    login_as("coordinator")
    response = client.post(f"/staff/programs/{program.id}", data=form_data(VALID_PROGRAM))
    assert response.status_code == 303
    assert not audit_entries("program.update")
    assert "Nothing had changed" in text_of(client.get(response.headers["Location"]))


def test_an_invalid_edit_is_refused_and_nothing_changes(client, login_as):
    program = make_program()
    login_as("coordinator")
    response = client.post(f"/staff/programs/{program.id}", data=form_data(
        VALID_PROGRAM | {"name": "Renamed", "integration_sessions": "2"}))
    assert response.status_code == 422
    assert_error_at(response, "integration_sessions", "at least one integration session per dosing session")
    db.session.expire_all()
    assert db.session.get(Program, program.id).name == VALID_PROGRAM["name"]
    assert not audit_entries("program.update")


def test_the_edit_page_shows_the_saved_values(client, login_as):
    program = make_program()
    login_as("coordinator")
    html = client.get(f"/staff/programs/{program.id}").get_data(as_text=True)
    assert f'value="{VALID_PROGRAM["slug"]}"' in html
    assert re.search(r'<input[^>]*checked[^>]*id="ketamine_route-0"|<input[^>]*id="ketamine_route-0"[^>]*checked',
                     html)
    assert re.search(r'id="lodging_options-1"[^>]*checked|checked[^>]*id="lodging_options-1"', html)
    assert not re.search(r'id="lodging_options-0"[^>]*checked|checked[^>]*id="lodging_options-0"', html)


@pytest.mark.parametrize(("cohort_state", "refused"), [
    ("none", False),
    ("ahead", True),
    ("under_way", True),    # started, not ended: its applicants are there
    ("closed", True),       # closed to new bookings, but its bookings stand
    ("cancelled", False),
    ("ended", False),
])
def test_the_length_changes_only_while_no_dates_lie_ahead(app, time_machine, cohort_state, refused):
    """Each cohort lasts its program's length and bookings are priced by it: a new length would leave dates ahead
    wrong, so it is refused by name; dates cancelled or ended do not hold it back. Other fields still save."""
    program = make_program()
    if cohort_state != "none":
        cohort = make_cohort(program, days_ahead=3)
        if cohort_state == "closed":
            cohorts.close_cohort(cohort.id)
        elif cohort_state == "cancelled":
            cohorts.cancel_cohort(cohort.id)
        elif cohort_state in ("under_way", "ended"):
            time_machine.move_to(today() + timedelta(days=5 if cohort_state == "under_way" else 12))
    longer = VALID_PROGRAM | {"duration_days": 14, "dosing_sessions": 6, "integration_sessions": 6}
    if refused:
        assert "duration_days" in catalog_programs.program_problems(longer, program.id)
        with pytest.raises(ValidationFailed) as refusal:
            catalog_programs.update_program(program.id, longer)
        [reason] = refusal.value.fields["duration_days"]
        assert reason.startswith("1 group of dates lies ahead, each of 7 days (the first ")
        db.session.expire_all()
        assert db.session.get(Program, program.id).duration_days == 7
        assert catalog_programs.update_program(program.id, VALID_PROGRAM | {"name": "Renamed"})
    else:
        assert catalog_programs.update_program(program.id, longer)["duration_days"] == {"from": 7, "to": 14}


def test_a_refused_length_is_explained_next_to_its_field(client, login_as):
    program = make_program()
    make_cohort(program)
    login_as("coordinator")
    response = client.post(f"/staff/programs/{program.id}", data=form_data(
        VALID_PROGRAM | {"duration_days": "10", "dosing_sessions": "5", "integration_sessions": "5"}))
    assert response.status_code == 422
    assert_error_at(response, "duration_days", "The length cannot change while they do")
    assert not audit_entries("program.update")
    assert "Fixed while the program has dates ahead" in text_of(client.get(f"/staff/programs/{program.id}"))
    assert "Fixed while the program has dates ahead" not in text_of(
        client.get(f"/staff/programs/{make_program(slug='no-dates-yet').id}"))


def test_the_web_address_name_is_fixed_while_published(app):
    program = make_program()
    catalog_programs.set_published(program.id, True)
    with pytest.raises(ValidationFailed) as refusal:
        catalog_programs.update_program(program.id, VALID_PROGRAM | {"slug": "new-name"})
    assert "Unpublish the program" in refusal.value.fields["slug"][0]
    catalog_programs.set_published(program.id, False)
    assert catalog_programs.update_program(program.id, VALID_PROGRAM | {"slug": "new-name"}) == {
        "slug": {"from": VALID_PROGRAM["slug"], "to": "new-name"}}


def test_an_edit_may_keep_its_own_web_address_name(app):
    program = make_program()
    other = make_program(slug="other-program", name="Other")
    assert catalog_programs.update_program(program.id, VALID_PROGRAM | {"name": "Still mine"})
    with pytest.raises(ValidationFailed):
        catalog_programs.update_program(other.id, VALID_PROGRAM | {"name": "Other"})


def test_editing_an_unknown_program_is_not_found(app):
    with pytest.raises(NotFound):
        catalog_programs.update_program(424242, VALID_PROGRAM)


# --- Publishing -------------------------------------------------------------------------------------------------

def test_publishing_and_unpublishing_show_in_the_catalog_and_the_audit_log(client, login_as):
    program = make_program()
    make_cohort(program)
    login_as("coordinator")
    response = client.post(f"/staff/programs/{program.id}/publish")
    assert response.status_code == 303
    assert "is published" in text_of(client.get(response.headers["Location"]))
    assert program.name in text_of(client.get("/"))
    assert client.get(f"/programs/{program.slug}").status_code == 200

    response = client.post(f"/staff/programs/{program.id}/unpublish")
    assert response.status_code == 303
    assert "is unpublished" in text_of(client.get(response.headers["Location"]))
    assert program.name not in text_of(client.get("/"))
    assert client.get(f"/programs/{program.slug}").status_code == 404
    assert console_actions() == [
        "program.create", "cohort.create", "program.publish", "program.unpublish"]
    assert all(e.actor_roles == "coordinator" for e in audit_entries("program.publish"))


def test_publishing_twice_changes_nothing_the_second_time(client, login_as):
    program = make_program()
    login_as("coordinator")
    client.post(f"/staff/programs/{program.id}/publish")
    response = client.post(f"/staff/programs/{program.id}/publish", follow_redirects=True)
    assert "was published already" in text_of(response)
    assert len(audit_entries("program.publish")) == 1


def test_the_program_list_counts_upcoming_seats(client, login_as):
    program = make_program()
    soon = make_cohort(program, days_ahead=20, capacity=6)
    make_cohort(program, days_ahead=60, capacity=4)
    add_booking(soon, "confirmed")
    add_booking(soon, "held")
    add_booking(soon, "held", hold_minutes=-5)  # expired: takes no seat
    add_booking(soon, "cancelled")
    login_as("coordinator")
    page = text_of(client.get("/staff/programs"))
    assert "Draft" in page
    assert "2 of 10" in page
    [summary] = catalog_programs.list_programs_for_staff()
    assert [c.taken for c in summary.cohorts] == [2, 0]
    assert [c.seats_left for c in summary.cohorts] == [4, 4]
