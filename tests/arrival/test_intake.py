"""The applicant's intake (retreat/arrival/intake.py): its rules, table-driven on both databases; medications and
allergies encrypted at rest and read by clinicians only, each read audited; the form and the checklist on the manage
page; the applicant's own data and its erasure."""

from datetime import UTC, datetime, time, timedelta
from types import SimpleNamespace

import pytest
import sqlalchemy as sa

from retreat.arrival import checklist, intake
from retreat.arrival.intake_models import Intake
from retreat.booking import services as booking_services
from retreat.booking.models import Booking
from retreat.core.audit import AuditEntry
from retreat.core.clinic import clinic_zone
from retreat.core.clock import now
from retreat.core.errors import ValidationFailed
from retreat.extensions import db
from tests.booking.support import APPLICANT, eligible_token, make_cohort

MEDICATION = "Sertraline 50 mg each morning; Quetiapine-XR 25 mg"
ALLERGY = "Penicillin (hives) and sesame"
COMPLETE = {
    "emergency_name": "Jordan Rivera", "emergency_phone": "(828) 555-0177", "emergency_relationship": "Sister",
    "dietary_needs": "Vegetarian", "accessibility_needs": "none", "medications": MEDICATION, "allergies": ALLERGY,
    "ride_home": "person", "ride_home_name": "Sam Okafor", "ride_home_phone": "+1 828 555 0188",
    "arrival_time": "14:30", "roommate": "preference", "roommate_preference": "Someone quiet, an early riser",
}


def booked(*, lodging: str = "shared", confirmed: bool = True, starts_in_days: int = 40, cohort=None,
           email: str = APPLICANT["email"]) -> tuple[Booking, str]:
    """A booking of the 7-day test program, held (or confirmed with its deposit paid), with its manage token."""
    cohort = cohort or make_cohort(starts_in_days=starts_in_days)
    created = booking_services.create_booking(cohort_id=cohort.id, screening_token=eligible_token(), lodging=lodging,
                                              applicant=dict(APPLICANT, email=email), payment_provider="demo",
                                              policy_accepted=True)
    booking = created.booking
    if confirmed:
        booking_services.payment_received(booking.reference, kind="deposit", amount_cents=booking.deposit_cents,
                                          provider="demo", provider_reference=f"demo_{booking.reference}")
    return db.session.get(Booking, booking.id), created.manage_token


def fill(booking: Booking, **changes) -> list[str]:
    return intake.save_intake(booking, {**COMPLETE, **changes})


# --- The rules, one table ------------------------------------------------------------------------------------------

# (what is typed over the complete intake, on which lodging, the fields refused) — None: saved.
REFUSED = [
    ({"emergency_phone": "call me"}, "shared", {"emergency_phone"}),
    ({"emergency_phone": "12345"}, "shared", {"emergency_phone"}),  # too few digits
    ({"ride_home_phone": "555-0188 ext. 2"}, "shared", {"ride_home_phone"}),
    ({"emergency_name": "J" * 101}, "shared", {"emergency_name"}),
    ({"emergency_relationship": "x" * 61}, "shared", {"emergency_relationship"}),
    ({"medications": "m" * 2001}, "shared", {"medications"}),
    ({"allergies": "pollen\x00"}, "shared", {"allergies"}),
    ({"arrival_time": "25:00"}, "shared", {"arrival_time"}),
    ({"arrival_time": "teatime"}, "shared", {"arrival_time"}),
    ({"arrival_time": "14"}, "shared", {"arrival_time"}),
    ({"ride_home": "taxi"}, "shared", {"ride_home"}),
    ({"ride_home": "clinic"}, "shared", {"ride_home"}),  # with a name and phone typed: refused, not dropped
    ({"roommate": "none"}, "shared", {"roommate"}),  # with a preference typed
    ({"emergency_phone": "x", "arrival_time": "x", "roommate": "both"}, "shared",
     {"emergency_phone", "arrival_time", "roommate"}),  # every problem at once
]
# (what is typed over the complete intake, lodging, the parts missing after the save, what is stored)
SAVED = [
    ({}, "shared", [], {"arrival_time": time(14, 30), "roommate": "preference"}),
    ({}, "private", [], {"roommate": None, "roommate_preference": None}),  # not asked of a private room
    ({"roommate": "", "roommate_preference": ""}, "none", [], {"roommate": None}),
    ({"arrival_time": "2:30 pm"}, "shared", [], {"arrival_time": time(14, 30)}),
    ({"arrival_time": "9.15 AM"}, "shared", [], {"arrival_time": time(9, 15)}),
    ({"arrival_time": "12 am"}, "shared", [], {"arrival_time": time(0, 0)}),
    ({"arrival_time": "08:05:00"}, "shared", [], {"arrival_time": time(8, 5)}),
    ({"emergency_name": "  Jordan   Rivera "}, "shared", [], {"emergency_name": "Jordan Rivera"}),
    ({"dietary_needs": "  No pork.\r\n\r\n\r\n\r\nNo nuts.  "}, "shared", [],
     {"dietary_needs": "No pork.\n\nNo nuts."}),
    ({"ride_home": "clinic", "ride_home_name": "", "ride_home_phone": ""}, "shared", [],
     {"ride_home": "clinic", "ride_home_name": None}),
    ({"ride_home": ""}, "shared", [], {"ride_home": "person"}),  # a name and phone typed choose the person
    ({"roommate": ""}, "shared", [], {"roommate": "preference"}),
    ({"roommate": "none", "roommate_preference": ""}, "shared", [], {"roommate": "none"}),
    ({"roommate": "preference", "roommate_preference": ""}, "shared", ["roommate_preference"], {}),
    ({"ride_home": "person", "ride_home_phone": ""}, "shared", ["ride_home_phone"], {}),
    ({"emergency_phone": "", "medications": " ", "arrival_time": ""}, "shared",
     ["emergency_phone", "medications", "arrival_time"], {"medications_encrypted": None}),
    ({name: "" for name in COMPLETE}, "shared",
     ["emergency_name", "emergency_phone", "emergency_relationship", "dietary_needs", "accessibility_needs",
      "medications", "allergies", "ride_home", "arrival_time", "roommate"], {}),
    ({name: "" for name in COMPLETE}, "private",
     ["emergency_name", "emergency_phone", "emergency_relationship", "dietary_needs", "accessibility_needs",
      "medications", "allergies", "ride_home", "arrival_time"], {}),
]


def test_intake_rules(app):
    bookings = {lodging: booked(lodging=lodging, confirmed=lodging != "none")[0]
                for lodging in ("shared", "private", "none")}
    for changes, lodging, fields in REFUSED:
        with pytest.raises(ValidationFailed) as refused:
            fill(bookings[lodging], **changes)
        assert set(refused.value.fields) == fields, changes
        assert all(reasons and all(reason.strip() for reason in reasons) for reasons in refused.value.fields.values())
        assert db.session.scalar(sa.select(sa.func.count(Intake.id))) == 0, f"{changes}: nothing is saved"
    for changes, lodging, missing, stored in SAVED:
        booking = bookings[lodging]
        assert fill(booking, **changes) == missing, changes
        db.session.expire_all()
        row = intake.intake_of(booking)
        for name, value in stored.items():
            assert getattr(row, name) == value, (changes, name)
        assert intake.missing_parts(booking) == missing
        assert intake.intake_step(booking).done is (not missing)
    assert db.session.scalar(sa.select(sa.func.count(Intake.id))) == 3, "each save replaces the booking's intake"


def test_the_same_phone_rule_as_the_booking_form():
    from retreat.booking.requests import phone_problem
    for phone in ("555 123 4567", "+1 (828) 555-0142", "828.555.0142"):
        assert phone_problem(phone) is None
        intake.check_intake({"emergency_phone": phone}, SimpleNamespace(lodging="none"))
    for phone in ("555", "phone me", "+1 828 555 0142 0142 0142"):
        assert phone_problem(phone) is not None
        with pytest.raises(ValidationFailed) as refused:
            intake.check_intake({"emergency_phone": phone}, SimpleNamespace(lodging="none"))
        assert refused.value.fields["emergency_phone"] == [phone_problem(phone)]


def test_only_a_held_or_confirmed_booking_takes_an_intake(app, client):
    booking, token = booked(confirmed=False)
    assert fill(booking) == []
    assert "Before you arrive" in client.get(f"/bookings/manage/{token}").get_data(as_text=True)
    for status, lapsed in (("held", True), ("pending_review", False), ("cancelled", False), ("expired", False)):
        booking.status = status
        booking.hold_expires_at = now() + timedelta(minutes=-1 if lapsed else 30)
        db.session.commit()
        with pytest.raises(intake.IntakeClosed):
            fill(booking, emergency_name="Someone Else")
        page = client.get(f"/bookings/manage/{token}/intake", follow_redirects=True)
        assert "The intake is filled in for a held or confirmed booking" in page.get_data(as_text=True), status
        sent = client.post(f"/bookings/manage/{token}/intake", data={**COMPLETE, "emergency_name": "Someone Else"})
        assert sent.status_code == 303 and sent.headers["Location"].startswith(f"/bookings/manage/{token}")
        assert "Before you arrive" not in client.get(f"/bookings/manage/{token}").get_data(as_text=True), status
    db.session.expire_all()
    assert intake.intake_of(booking).emergency_name == "Jordan Rivera", "nothing saved once closed"


# --- Health data: encrypted at rest, read by clinicians only ----------------------------------------------------

def test_medications_and_allergies_are_encrypted_at_rest(app):
    booking, _ = booked()
    fill(booking)
    db.session.rollback()
    raw = db.session.execute(sa.text("SELECT * FROM intake")).mappings().one()
    stored = b"".join(value if isinstance(value, bytes) else str(value).encode() for value in raw.values())
    for secret in ("Sertraline", "Quetiapine", "Penicillin", "sesame"):
        assert secret.encode() not in stored and secret.lower().encode() not in stored.lower(), secret
    assert raw["emergency_name"] == "Jordan Rivera", "the rest is plain, for coordinators"
    assert intake.own_health_answers(booking) == {"medications": MEDICATION, "allergies": ALLERGY}
    saved = db.session.scalars(sa.select(AuditEntry).where(AuditEntry.action == "intake.saved")).one()
    assert saved.actor_email == "applicant" and "Sertraline" not in str(saved.details)


def test_coordinators_see_the_intake_without_health_clinicians_with_it_audited_finance_nothing(
        app, client, staff_user, login_as):
    booking, _ = booked()
    fill(booking)
    url = f"/staff/bookings/{booking.reference}/intake"
    reads = sa.select(sa.func.count(AuditEntry.id)).where(AuditEntry.action == "intake.read_health")

    for roles in (("coordinator",), ("admin",)):
        login_as(*roles)
        html = client.get(url).get_data(as_text=True)
        assert "Jordan Rivera" in html and "Sam Okafor" in html and "Vegetarian" in html
        assert "2:30 PM" in html and "Someone quiet" in html
        assert "Sertraline" not in html and "Penicillin" not in html
        assert f'href="{url}"' in client.get(f"/staff/bookings/{booking.reference}").get_data(as_text=True)
        client.post("/staff/logout")
    assert db.session.scalar(reads) == 0

    clinician = login_as("clinician")
    for _ in range(2):
        html = client.get(url).get_data(as_text=True)
        assert "Sertraline 50 mg" in html and "Penicillin (hives)" in html and "Jordan Rivera" in html
    db.session.rollback()
    entries = db.session.scalars(sa.select(AuditEntry).where(AuditEntry.action == "intake.read_health")).all()
    assert [(e.actor_email, e.target_id) for e in entries] == [(clinician.email, booking.reference)] * 2
    client.post("/staff/logout")

    login_as("finance")
    assert client.get(url).status_code == 403
    assert f'href="{url}"' not in client.get(f"/staff/bookings/{booking.reference}").get_data(as_text=True)
    with pytest.raises(Exception, match="Only a clinician"):
        intake.read_health(booking, staff_user("coordinator", email="c2@clinic.example"))


# --- The form and the checklist on the manage page --------------------------------------------------------------

def test_the_form_saves_part_then_all_and_the_checklist_follows(app, client, monkeypatch):
    monkeypatch.setattr(checklist, "STEP_PROVIDERS", (intake.intake_step, checklist.balance_step,
                                                      intake.ride_home_step))  # the intake's own steps
    booking, token = booked()
    manage = f"/bookings/manage/{token}"
    html = client.get(manage).get_data(as_text=True)
    assert "Before you arrive" in html and "0 of 3 done" in html and "Not started yet." in html
    assert f'href="{manage}/intake"' in html

    form = client.get(f"{manage}/intake").get_data(as_text=True)
    start = booking.cohort.start_date
    assert f"Your arrival time on {start:%a} {start.day} {start:%b %Y}" in form and "Eastern Time" in form
    assert "Your roommate preference" in form

    refused = client.post(f"{manage}/intake", data={**COMPLETE, "emergency_phone": "call me"})
    assert refused.status_code == 422
    text = refused.get_data(as_text=True)
    assert "Emergency contact&#39;s phone number: Enter a phone number with its area code" in text
    assert "Sertraline 50 mg" in text, "what was typed stays in the form"
    assert intake.intake_of(booking) is None

    partial = client.post(f"{manage}/intake", data={**COMPLETE, "medications": "", "ride_home": "clinic",
                                                     "ride_home_name": "", "ride_home_phone": ""})
    assert partial.status_code == 303 and partial.headers["Location"].endswith(f"{manage}#checklist-heading")
    html = client.get(manage).get_data(as_text=True)
    assert "Your intake is saved. Still to give: current medications." in html
    assert "Still to give: current medications." in html and "You asked the clinic to help arrange it" in html
    assert "0 of 3 done" in html
    form = client.get(f"{manage}/intake").get_data(as_text=True)
    assert "Penicillin (hives)" in form and 'value="14:30"' in form, "the form shows what was given"

    client.post(f"{manage}/intake", data=COMPLETE)
    html = client.get(manage).get_data(as_text=True)
    assert "Thank you: your intake is complete and saved." in html
    assert "2 of 3 done" in html and [s.key for s in checklist.steps(booking) if not s.done] == ["balance"]


def test_the_checklist_block_shows_any_step(app, client, monkeypatch):
    """Steps of other parts render alike: done or to do, what is left, a link or the clinic's own step."""
    booking, token = booked()
    monkeypatch.setattr(checklist, "STEP_PROVIDERS", (
        lambda b: checklist.Step("consent", "Sign the informed consent", False, "Version 3 is new.", "booking.manage"),
        lambda b: None,
        lambda b: checklist.Step("clearance", "Medical clearance", False, "A clinician reviews your ECG.",
                                 clinic_does=True),
        lambda b: checklist.Step("documents", "Upload your records", True, "", "booking.manage"),
    ))
    html = client.get(f"/bookings/manage/{token}").get_data(as_text=True)
    assert "1 of 3 done" in html
    assert html.index("Sign the informed consent") < html.index("Medical clearance") < html.index("Upload your")
    assert "Version 3 is new." in html and "A clinician reviews your ECG." in html
    assert "The clinic does this step." in html
    assert html.count('class="checklist-step step-left"') == 2 and html.count("step-done") == 1


# --- The applicant's data ----------------------------------------------------------------------------------------

def test_personal_data_and_erasure(app):
    booking, _ = booked()
    assert intake.personal_data(booking) == {}
    fill(booking)
    data = intake.personal_data(booking)
    arrival = datetime.combine(booking.cohort.start_date, time(14, 30), tzinfo=clinic_zone())
    assert data["medications"] == MEDICATION and data["allergies"] == ALLERGY
    assert data["emergency_contact"] == {"name": "Jordan Rivera", "phone": "(828) 555-0177",
                                         "relationship": "Sister"}
    assert datetime.fromisoformat(data["arrival_time"]) == arrival.astimezone(UTC)
    assert data["ride_home"]["name"] == "Sam Okafor" and data["roommate"]["choice"] == "preference"
    intake.erase_personal_data(booking)
    db.session.commit()
    assert intake.intake_of(booking) is None and intake.personal_data(booking) == {}
    assert db.session.scalar(sa.select(sa.func.count(Intake.id))) == 0


def test_the_room_placement_page_shows_the_roommate_preference_given_at_intake(app, client, login_as):
    """The placement page (booking.rooms) reads the preference through the source create_app registers."""
    cohort = make_cohort(starts_in_days=40)
    quiet, _ = booked(cohort=cohort)
    alone, _ = booked(cohort=cohort, email="second@example.org")
    silent, _ = booked(cohort=cohort, email="third@example.org")
    fill(quiet)
    fill(alone, roommate="none", roommate_preference="")
    db.session.commit()
    assert intake.roommate_preferences([quiet.id, alone.id, silent.id]) == {
        quiet.id: "Someone quiet, an early riser", alone.id: "No preference"}
    login_as("coordinator")
    html = client.get(f"/staff/cohorts/{cohort.id}/rooms").get_data(as_text=True)
    assert "Someone quiet, an early riser" in html and "No preference" in html and "Not given yet" in html
