"""What a superbill needs beyond the booking: the patient's date of birth (the applicant gives it when they first ask
for a superbill) and the ICD-10 diagnosis code(s) a clinician records. Both are health information: stored
encrypted with core.crypto (the keys of the screening answers), read only here; the audit log names that they
were given or recorded, never their values (finance and coordinators read a booking's history).

A superbill is ready once the booking is confirmed (or paid in full), its program has started in the clinic's
calendar, a clinician has recorded the diagnosis and the applicant has given their date of birth.
"""

import re
from dataclasses import dataclass
from datetime import date, datetime

import sqlalchemy as sa
from sqlalchemy.orm import Mapped, mapped_column, relationship

from retreat.booking.access import booking_by_reference
from retreat.booking.models import PAID_STATUSES, Booking
from retreat.core import audit, clinic, crypto
from retreat.core.clock import now
from retreat.core.errors import DomainError, ValidationFailed
from retreat.core.transactions import unit_of_work
from retreat.core.types import UTCDateTime
from retreat.extensions import db
from retreat.staff.models import StaffUser

# ICD-10-CM: a letter, two characters (digits, or a digit and a letter), then after a dot up to four more
# (F33.2, F43.10, F32.A, T74.11XA). Typed without the dot (F332), the dot is put back.
ICD10 = re.compile(r"([A-Z][0-9][0-9A-Z])\.?([0-9A-Z]{1,4})?")
MAX_DIAGNOSES = 12  # the lines of a CMS-1500 claim form
EARLIEST_BIRTH_YEAR = 1900


class SuperbillDetail(db.Model):
    """A booking's superbill facts, encrypted: one row per booking, made when the first of them is given."""

    __tablename__ = "superbill_detail"

    id: Mapped[int] = mapped_column(primary_key=True)
    booking_id: Mapped[int] = mapped_column(sa.ForeignKey("booking.id"), unique=True)
    birth_date_encrypted: Mapped[bytes | None] = mapped_column(sa.LargeBinary)
    birth_date_given_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    diagnosis_encrypted: Mapped[bytes | None] = mapped_column(sa.LargeBinary)
    diagnosed_by_id: Mapped[int | None] = mapped_column(sa.ForeignKey("staff_user.id"))
    diagnosed_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=now)

    diagnosed_by: Mapped[StaffUser | None] = relationship()


def _detail(booking: Booking) -> SuperbillDetail | None:
    return db.session.scalar(sa.select(SuperbillDetail).where(SuperbillDetail.booking_id == booking.id))


def _detail_for_writing(booking: Booking) -> SuperbillDetail:
    detail = _detail(booking)
    if detail is None:
        detail = SuperbillDetail(booking_id=booking.id)
        db.session.add(detail)
    return detail


# --- The diagnosis (clinicians, on the staff booking page) ----------------------------------------------------

def parse_diagnosis_codes(text: object) -> list[str]:
    """ICD-10 codes typed one after another (commas, spaces or new lines between), upper-cased with their dot, in
    order, each once. ValidationFailed names `diagnosis_codes` for anything else."""
    if not isinstance(text, str) or not text.strip():
        raise ValidationFailed({"diagnosis_codes": ["Give at least one ICD-10 code, such as F33.2."]})
    codes: list[str] = []
    for raw in re.split(r"[\s,;]+", text.strip()):
        match = ICD10.fullmatch(raw.upper())
        if match is None:
            shown = raw if len(raw) <= 12 and raw.isprintable() else raw[:12].encode("unicode_escape").decode() + "…"
            raise ValidationFailed({"diagnosis_codes": [
                f"“{shown}” is not an ICD-10 code: a letter, two characters, then a dot and up to four more, "
                "such as F33.2 or F43.10."]})
        code = match.group(1) + (f".{match.group(2)}" if match.group(2) else "")
        if code not in codes:
            codes.append(code)
    if len(codes) > MAX_DIAGNOSES:
        raise ValidationFailed({"diagnosis_codes": [f"A superbill carries at most {MAX_DIAGNOSES} codes."]})
    return codes


def record_diagnosis(reference: str, text: object, *, staff) -> list[str]:
    """A clinician records (or corrects) the booking's diagnosis codes; audited without the codes. One unit of
    work. The caller checks the clinician role; this checks it again, as the codes are health information."""
    if "clinician" not in (getattr(staff, "roles", None) or ()):
        raise DomainError("Only a clinician can record a diagnosis.", code="forbidden", status=403)
    codes = parse_diagnosis_codes(text)
    with unit_of_work():
        booking = booking_by_reference(reference)
        detail = _detail_for_writing(booking)
        corrected = detail.diagnosis_encrypted is not None
        detail.diagnosis_encrypted = crypto.encrypt_json(codes)
        detail.diagnosed_by_id = staff.id
        detail.diagnosed_at = now()
        audit.record("booking.diagnosis_correct" if corrected else "booking.diagnosis_record", "booking",
                     booking.reference, {"codes": len(codes)}, actor=staff)
    return codes


def diagnosis_codes(booking: Booking) -> list[str]:
    detail = _detail(booking)
    if detail is None or detail.diagnosis_encrypted is None:
        return []
    return list(crypto.decrypt_json(detail.diagnosis_encrypted))


@dataclass(frozen=True)
class Diagnosis:
    codes: tuple[str, ...]
    clinician_name: str
    recorded_at: datetime


def diagnosis(booking: Booking) -> Diagnosis | None:
    detail = _detail(booking)
    if detail is None or detail.diagnosis_encrypted is None:
        return None
    clinician = detail.diagnosed_by
    return Diagnosis(tuple(crypto.decrypt_json(detail.diagnosis_encrypted)),
                     (clinician.name or clinician.email) if clinician else "", detail.diagnosed_at)


# --- The patient's date of birth (the applicant, on the manage page) -------------------------------------------

def parse_birth_date(value: object) -> date:
    """A real date in the past, as YYYY-MM-DD (what a date field sends); ValidationFailed names `birth_date`."""
    if isinstance(value, date):
        born = value
    else:
        text = value.strip() if isinstance(value, str) else ""
        if not text:
            raise ValidationFailed({"birth_date": ["Give your date of birth."]})
        try:
            if not re.fullmatch(r"\d{4}-\d{2}-\d{2}", text):
                raise ValueError
            born = date.fromisoformat(text)
        except ValueError:
            raise ValidationFailed({"birth_date": [
                "Give a real date as year, month and day, such as 1984-03-27."]}) from None
    if born >= clinic.clinic_date(now()):
        raise ValidationFailed({"birth_date": ["Your date of birth is a day in the past."]})
    if born.year < EARLIEST_BIRTH_YEAR:
        raise ValidationFailed({"birth_date": [f"Give a year from {EARLIEST_BIRTH_YEAR} on."]})
    return born


def give_birth_date(booking: Booking, value: object) -> date:
    """Store the applicant's date of birth, encrypted (giving it again corrects it). One unit of work, audited
    without the date."""
    born = parse_birth_date(value)
    with unit_of_work():
        detail = _detail_for_writing(booking)
        detail.birth_date_encrypted = crypto.encrypt_json(born.isoformat())
        detail.birth_date_given_at = now()
        audit.record("booking.birth_date_given", "booking", booking.reference, {}, actor="applicant")
    return born


def birth_date(booking: Booking) -> date | None:
    detail = _detail(booking)
    if detail is None or detail.birth_date_encrypted is None:
        return None
    return date.fromisoformat(crypto.decrypt_json(detail.birth_date_encrypted))


# --- Ready or not ------------------------------------------------------------------------------------------------

class SuperbillNotReady(DomainError):
    status = 409
    code = "superbill_not_ready"

    def __init__(self, message: str, *, needs_birth_date: bool = False):
        super().__init__(message)
        self.needs_birth_date = needs_birth_date


def program_started(booking: Booking) -> bool:
    return booking.cohort.start_date <= clinic.clinic_date(now())


def check_superbill_ready(booking: Booking) -> None:
    """Raise SuperbillNotReady (409 superbill_not_ready) saying what is missing, in the order it comes."""
    start = booking.cohort.start_date
    if booking.status not in PAID_STATUSES:
        raise SuperbillNotReady("A superbill is given for a confirmed booking; this one is not.")
    if not program_started(booking):
        raise SuperbillNotReady(f"The superbill is available once your program has started, on {start:%-d %B %Y}, "
                                "and your clinician has recorded the diagnosis.")
    if not diagnosis_codes(booking):
        raise SuperbillNotReady("The superbill is available once your clinician has recorded the diagnosis. "
                                f"Please ask them, or {clinic.contact_words()}.")
    if birth_date(booking) is None:
        raise SuperbillNotReady("The superbill needs the patient's date of birth: give it on your booking's page "
                                "(Superbill).", needs_birth_date=True)


def rotate_encryption() -> int:
    """Re-encrypt every stored date of birth and diagnosis under the newest key, beside the screening answers
    (`flask screening rotate-keys`). One unit of work; returns how many bookings' details it re-encrypted."""
    count = 0
    with unit_of_work():
        for detail in db.session.scalars(sa.select(SuperbillDetail)):
            for column in ("birth_date_encrypted", "diagnosis_encrypted"):
                value = getattr(detail, column)
                if value is not None:
                    setattr(detail, column, crypto.rotate(value))
            count += 1
    return count


crypto.register_rotation("superbill detail(s)", rotate_encryption)
