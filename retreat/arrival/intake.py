"""The applicant's intake before arrival: an emergency contact, dietary and accessibility needs, current medications
and allergies, who takes them home after sessions, the time they arrive on the first day and, for a shared room, a
roommate preference.

The applicant fills it in from the manage page (`/bookings/manage/<token>/intake`) while the booking is held or
confirmed; each save keeps what was given (a part may be left for later: the checklist says what is missing), and
a value that breaks a rule is refused by name with nothing saved. Medications and allergies are health information:
encrypted with core.crypto (the keys of the screening answers), decrypted here only, for a clinician (each read
audited) or for the applicant themselves (their form, their data export). Coordinators and clinicians see the rest.

Two steps of the checklist come from here: the intake (every part given) and the ride home (a named person with a
phone: "arrange it with the clinic" answers the intake's question but leaves this step to do).
"""

import re
from collections.abc import Mapping
from dataclasses import dataclass, fields
from datetime import UTC, datetime, time

import sqlalchemy as sa

from retreat.arrival.intake_models import RIDE_HOME_CHOICES, ROOMMATE_CHOICES, Intake
from retreat.arrival.step import Step
from retreat.booking.models import Booking
from retreat.booking.requests import UNPRINTABLE, phone_problem
from retreat.core import audit, clinic, crypto
from retreat.core.clock import now
from retreat.core.errors import DomainError, ValidationFailed
from retreat.core.transactions import unit_of_work
from retreat.extensions import db

# Who may fill in the intake: a seat held (its hold not lapsed) or a confirmed booking.
INTAKE_STATUSES = ("held", "confirmed", "paid_in_full")
HEALTH_READERS = ("clinician",)
ENDPOINT = "booking.intake_form"

NAME_LIMIT, RELATIONSHIP_LIMIT, NEEDS_LIMIT, ROOMMATE_LIMIT = 100, 60, 2000, 200
ONE_LINE = {"emergency_name": NAME_LIMIT, "emergency_relationship": RELATIONSHIP_LIMIT, "ride_home_name": NAME_LIMIT,
            "roommate_preference": ROOMMATE_LIMIT}
MANY_LINES = {"dietary_needs": NEEDS_LIMIT, "accessibility_needs": NEEDS_LIMIT, "medications": NEEDS_LIMIT,
              "allergies": NEEDS_LIMIT}
PHONES = ("emergency_phone", "ride_home_phone")
HEALTH_FIELDS = ("medications", "allergies")

# Each part of the intake as the applicant reads it when it is missing, in the form's order.
PART_WORDS = {
    "emergency_name": "your emergency contact's name",
    "emergency_phone": "your emergency contact's phone number",
    "emergency_relationship": "who your emergency contact is to you",
    "dietary_needs": "dietary needs",
    "accessibility_needs": "accessibility needs",
    "medications": "current medications",
    "allergies": "allergies",
    "ride_home": "who takes you home after sessions",
    "ride_home_name": "the name of who takes you home",
    "ride_home_phone": "the phone number of who takes you home",
    "arrival_time": "your arrival time",
    "roommate": "your roommate preference",
    "roommate_preference": "who or what you would like in a roommate",
}


@dataclass(frozen=True)
class IntakeAnswers:
    """The intake as given, checked; None for a part not given (yet)."""

    emergency_name: str | None = None
    emergency_phone: str | None = None
    emergency_relationship: str | None = None
    dietary_needs: str | None = None
    accessibility_needs: str | None = None
    medications: str | None = None
    allergies: str | None = None
    ride_home: str | None = None
    ride_home_name: str | None = None
    ride_home_phone: str | None = None
    arrival_time: time | None = None
    roommate: str | None = None
    roommate_preference: str | None = None


FIELDS = tuple(field.name for field in fields(IntakeAnswers))


class IntakeClosed(DomainError):
    status = 409
    code = "intake_closed"


# --- Checking what was typed -----------------------------------------------------------------------------------

def _one_line(value: object) -> str:
    return " ".join(value.split()) if isinstance(value, str) else ""


def _many_lines(value: object) -> str:
    """Lines trimmed, at most one blank line between paragraphs."""
    if not isinstance(value, str):
        return ""
    lines = [" ".join(line.split()) for line in value.strip().splitlines()]
    return re.sub(r"\n{3,}", "\n\n", "\n".join(lines))


TIME_OF_DAY = re.compile(r"(\d{1,2})(?:[:.h](\d{2}))?(?::\d{2})?\s*(?:([ap])\.?\s*m\.?)?", re.IGNORECASE)


def parse_time_of_day(text: str) -> time | None:
    """`14:30`, `14:30:00` (a time field), `2:30 PM`, `2 pm`, `9.15 am`: the time; None for anything else."""
    match = TIME_OF_DAY.fullmatch(text.strip())
    if match is None:
        return None
    hour, minute, half = int(match.group(1)), int(match.group(2) or 0), (match.group(3) or "").lower()
    if match.group(2) is None and not half:
        return None  # a bare number is not a time
    if half:
        if not 1 <= hour <= 12:
            return None
        hour = hour % 12 + (12 if half == "p" else 0)
    if hour > 23 or minute > 59:
        return None
    return time(hour, minute)


def check_intake(values: Mapping, booking: Booking) -> IntakeAnswers:
    """The intake as typed, checked: each part given is cleaned and kept, each part left empty is None (missing,
    not refused). ValidationFailed names every field that breaks a rule, all at once."""
    errors: dict[str, list[str]] = {}
    clean: dict[str, object] = {}
    for name, limit in {**ONE_LINE, **MANY_LINES}.items():
        text = (_one_line if name in ONE_LINE else _many_lines)(values.get(name))
        if len(text) > limit:
            errors[name] = [f"Write at most {limit} characters (this is {len(text)})."]
        clean[name] = text or None
    for name in PHONES:
        text = _one_line(values.get(name))
        if text and (problem := phone_problem(text)) is not None:
            errors[name] = [problem]
        clean[name] = text or None
    for name in (*ONE_LINE, *MANY_LINES, *PHONES):
        if clean[name] and UNPRINTABLE.search(clean[name]):
            errors[name] = ["Remove the invisible control characters from this text."]

    arrival = _one_line(values.get("arrival_time"))
    clean["arrival_time"] = parse_time_of_day(arrival) if arrival else None
    if arrival and clean["arrival_time"] is None:
        errors["arrival_time"] = ["Give a time of day, such as 14:30 or 2:30 PM."]

    _check_choice(values, clean, errors, "ride_home", RIDE_HOME_CHOICES, given=("ride_home_name", "ride_home_phone"),
                  own="person", other="clinic",
                  conflict="You chose to arrange the ride with the clinic: clear the name and phone, or choose "
                           "a person you name.")
    if booking.lodging == "shared":
        _check_choice(values, clean, errors, "roommate", ROOMMATE_CHOICES, given=("roommate_preference",),
                      own="preference", other="none",
                      conflict="You chose no preference: clear what you wrote, or choose to give a preference.")
    else:  # only asked of guests in a shared room
        clean["roommate"] = clean["roommate_preference"] = None
    if errors:
        raise ValidationFailed(errors)
    return IntakeAnswers(**clean)


def _check_choice(values: Mapping, clean: dict, errors: dict, name: str, choices: tuple[str, ...], *,
                  given: tuple[str, ...], own: str, other: str, conflict: str) -> None:
    """A choice with details that belong to one of its options (`own`): details typed without the choice choose
    it; details typed with the other option are refused rather than dropped."""
    choice = values.get(name) or None
    if choice is not None and choice not in choices:
        errors[name] = ["Choose one of the options."]
        return
    details = [field for field in given if clean[field]]
    if choice is None and details:
        choice = own
    if choice == other and details:
        errors[name] = [conflict]
    clean[name] = choice
    if choice != own:
        for field in given:
            clean[field] = None


# --- Saving and reading --------------------------------------------------------------------------------------------

def intake_of(booking: Booking) -> Intake | None:
    return db.session.scalar(sa.select(Intake).where(Intake.booking_id == booking.id))


def may_fill(booking: Booking) -> bool:
    """A held seat whose hold has not lapsed, or a confirmed booking."""
    if booking.status not in INTAKE_STATUSES:
        return False
    return booking.status != "held" or booking.hold_expires_at is None or booking.hold_expires_at > now()


def check_open(booking: Booking) -> None:
    if not may_fill(booking):
        raise IntakeClosed("The intake is filled in for a held or confirmed booking; this one is not. If you have "
                           f"a question, please {clinic.contact_words()}.")


def save_intake(booking: Booking, values: Mapping) -> list[str]:
    """Check and store the intake (each save replaces the one before; medications and allergies encrypted), in
    one unit of work, audited without the values. Returns the parts still missing (PART_WORDS' keys)."""
    check_open(booking)
    answers = check_intake(values, booking)
    with unit_of_work():
        booking = db.session.scalar(sa.select(Booking).where(Booking.id == booking.id).with_for_update()
                                    .execution_options(populate_existing=True))
        check_open(booking)  # as it is now, under the lock
        intake = intake_of(booking)
        if intake is None:
            intake = Intake(booking_id=booking.id)
            db.session.add(intake)
        for name in FIELDS:
            value = getattr(answers, name)
            if name in HEALTH_FIELDS:
                setattr(intake, f"{name}_encrypted", None if value is None else crypto.encrypt_json(value))
            else:
                setattr(intake, name, value)
        db.session.flush()
        left = missing_parts(booking, intake)
        audit.record("intake.saved", "booking", booking.reference, {"complete": not left, "missing": len(left)},
                     actor="applicant")
    return left


def missing_parts(booking: Booking, intake: Intake | None = None) -> list[str]:
    """The parts of the intake not given yet (PART_WORDS' keys, in the form's order); read without decrypting."""
    intake = intake if intake is not None else intake_of(booking)
    if intake is None:
        intake = Intake()
    given = {name: getattr(intake, name, None) for name in FIELDS if name not in HEALTH_FIELDS}
    given.update({name: getattr(intake, f"{name}_encrypted") for name in HEALTH_FIELDS})
    needed = [name for name in ("emergency_name", "emergency_phone", "emergency_relationship", "dietary_needs",
                                "accessibility_needs", "medications", "allergies", "ride_home")]
    if given["ride_home"] == "person":
        needed += ["ride_home_name", "ride_home_phone"]
    needed.append("arrival_time")
    if booking.lodging == "shared":
        needed.append("roommate")
        if given["roommate"] == "preference":
            needed.append("roommate_preference")
    return [name for name in needed if given[name] is None]


def _health(intake: Intake | None) -> dict[str, str | None]:
    return {name: (None if intake is None or getattr(intake, f"{name}_encrypted") is None
                   else crypto.decrypt_json(getattr(intake, f"{name}_encrypted"))) for name in HEALTH_FIELDS}


def own_health_answers(booking: Booking) -> dict[str, str | None]:
    """The applicant's own medications and allergies, for their form (the manage link is theirs alone)."""
    return _health(intake_of(booking))


def read_health(booking: Booking, staff) -> dict[str, str | None]:
    """Medications and allergies for a clinician, audited as a read of health data (one entry per read, in the
    caller's unit of work, or one of its own). Anyone else is refused."""
    if not set(getattr(staff, "roles", None) or ()) & set(HEALTH_READERS):
        raise DomainError("Only a clinician can read medications and allergies.", code="forbidden", status=403)
    with unit_of_work():
        audit.record("intake.read_health", "booking", booking.reference, actor=staff)
        return _health(intake_of(booking))


def arrival_moment(booking: Booking, intake: Intake | None = None) -> datetime | None:
    """The arrival time as a moment (UTC): the time of day given, on the cohort's first day, in the clinic's zone."""
    intake = intake if intake is not None else intake_of(booking)
    if intake is None or intake.arrival_time is None:
        return None
    local = datetime.combine(booking.cohort.start_date, intake.arrival_time, tzinfo=clinic.clinic_zone())
    return local.astimezone(UTC)


def form_values(booking: Booking) -> dict[str, str]:
    """What the applicant's form shows: the stored intake, as typed values (their own medications decrypted)."""
    intake = intake_of(booking)
    if intake is None:
        return {}
    values = {name: getattr(intake, name) or "" for name in FIELDS if name not in HEALTH_FIELDS}
    values["arrival_time"] = intake.arrival_time.isoformat(timespec="minutes") if intake.arrival_time else ""
    values.update({name: value or "" for name, value in _health(intake).items()})
    return values


# --- The checklist's steps -----------------------------------------------------------------------------------------

def words_of(parts: list[str]) -> str:
    """`a, b and c`."""
    return parts[0] if len(parts) == 1 else f"{', '.join(parts[:-1])} and {parts[-1]}"


def intake_step(booking: Booking) -> Step:
    intake = intake_of(booking)
    left = missing_parts(booking, intake)
    words = ("Not started yet." if intake is None
             else f"Still to give: {words_of([PART_WORDS[part] for part in left])}." if left else "")
    return Step(key="intake", label="Fill in your intake form", done=not left, left=words, endpoint=ENDPOINT,
                staff_label="Intake")


def ride_home_step(booking: Booking) -> Step:
    """Done once a named person with a phone takes the applicant home (no driving after a session)."""
    intake = intake_of(booking)
    choice = intake.ride_home if intake else None
    done = choice == "person" and bool(intake.ride_home_name and intake.ride_home_phone)
    if done:
        left = ""
    elif choice == "clinic":
        left = ("You asked the clinic to help arrange it: we will be in touch. Once you know who takes you home, "
                "name them in your intake form.")
    else:
        left = "Tell us who takes you home after sessions: you cannot drive yourself after a session."
    return Step(key="ride_home", label="Arrange your ride home after sessions", done=done, left=left,
                endpoint=ENDPOINT, staff_label="Ride home")


# --- The applicant's data ------------------------------------------------------------------------------------------

def roommate_preferences(booking_ids: list[int]) -> dict[int, str]:
    """The roommate preferences given at intake, for the room placement page (booking.rooms): booking id to the
    words shown, "No preference" when the guest said so; a guest without an answer yet is left out."""
    if not booking_ids:
        return {}
    rows = db.session.execute(sa.select(Intake.booking_id, Intake.roommate, Intake.roommate_preference)
                              .where(Intake.booking_id.in_(booking_ids), Intake.roommate.is_not(None)))
    return {booking_id: (preference or "") if choice == "preference" else "No preference"
            for booking_id, choice, preference in rows}


def personal_data(booking: Booking) -> dict:
    """The intake as the applicant's data export shows it (medications and allergies decrypted: it is theirs);
    an empty dict when none was given."""
    intake = intake_of(booking)
    if intake is None:
        return {}
    health = _health(intake)
    moment = arrival_moment(booking, intake)
    return {
        "emergency_contact": {"name": intake.emergency_name, "phone": intake.emergency_phone,
                              "relationship": intake.emergency_relationship},
        "dietary_needs": intake.dietary_needs,
        "accessibility_needs": intake.accessibility_needs,
        "medications": health["medications"],
        "allergies": health["allergies"],
        "ride_home": {"choice": intake.ride_home, "name": intake.ride_home_name, "phone": intake.ride_home_phone},
        "arrival_time": clinic.clinic_iso(moment) if moment else None,
        "roommate": {"choice": intake.roommate, "preference": intake.roommate_preference},
        "updated_at": intake.updated_at.isoformat(),
    }


def erase_personal_data(booking: Booking) -> None:
    """Remove the booking's intake (flush only: the caller's unit of work commits)."""
    db.session.execute(sa.delete(Intake).where(Intake.booking_id == booking.id))
    db.session.flush()


def rotate_encryption() -> int:
    """Re-encrypt every intake's medications and allergies under the newest key, beside the screening answers
    (`flask screening rotate-keys`). One unit of work; returns how many intakes it re-encrypted."""
    count = 0
    with unit_of_work():
        for row in db.session.execute(sa.select(Intake.id, Intake.medications_encrypted, Intake.allergies_encrypted)):
            db.session.execute(  # not a save by the applicant: updated_at stays
                sa.update(Intake).where(Intake.id == row.id).values(
                    medications_encrypted=row.medications_encrypted and crypto.rotate(row.medications_encrypted),
                    allergies_encrypted=row.allergies_encrypted and crypto.rotate(row.allergies_encrypted),
                    updated_at=Intake.updated_at).execution_options(synchronize_session=False))
            count += 1
    return count


crypto.register_rotation("intake(s)", rotate_encryption)
