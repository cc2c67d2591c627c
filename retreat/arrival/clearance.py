"""The clinician's medical clearance of a booking, before the first morning: "cleared", or "needs follow-up" with
a note of why. Recorded by clinicians only (the service checks the role again), with who and when; each change is
audited without the note. The note is health information: encrypted with core.crypto (the keys of the screening
answers, rotated with them), decrypted only for a clinician's page and the applicant's own data export.
Coordinators see the status (the readiness board, the roster export), never the note.

The checklist's step "clearance" (`checklist_step`) is done once the booking is cleared; the clinic does it, so
it has no page for the applicant.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator
from contextlib import contextmanager
from contextvars import ContextVar
from dataclasses import dataclass
from datetime import datetime

import sqlalchemy as sa

from retreat.arrival.clearance_models import CLEARANCE_STATUSES, Clearance
from retreat.arrival.step import Step
from retreat.booking.models import ACTIVE_STATUSES, Booking, is_plausible_reference
from retreat.catalog.programs import CONTROL_CHARACTERS, CONTROL_CHARACTERS_MESSAGE
from retreat.core import audit, crypto
from retreat.core.clock import now
from retreat.core.errors import DomainError, NotFound, ValidationFailed
from retreat.core.transactions import unit_of_work
from retreat.extensions import db

RECORDING_ROLES = ("clinician",)
STATUS_LABELS = {"cleared": "Cleared", "follow_up": "Needs follow-up"}
NOT_YET_LABEL = "Not yet reviewed"
NOTE_MAX = 2000

assert set(STATUS_LABELS) == set(CLEARANCE_STATUSES)


class NotAClinician(DomainError):
    status = 403
    code = "forbidden"


def may_record(staff) -> bool:
    return bool(set(getattr(staff, "roles", None) or ()) & set(RECORDING_ROLES))


# --- Reading ---------------------------------------------------------------------------------------------------

# The board reads every booking's clearance at once (`preloaded`); the checklist's step then reads from that, so a
# board of 30 bookings makes one query for their clearances, not 30.
_preloaded: ContextVar[dict[int, Clearance | None] | None] = ContextVar("retreat_clearances", default=None)


def clearances_of(booking_ids: Iterable[int]) -> dict[int, Clearance]:
    ids = list(booking_ids)
    if not ids:
        return {}
    return {c.booking_id: c for c in db.session.scalars(sa.select(Clearance).where(Clearance.booking_id.in_(ids)))}


@contextmanager
def preloaded(bookings: Iterable[Booking]) -> Iterator[dict[int, Clearance]]:
    """Within the block, these bookings' clearances are read from one query."""
    bookings = list(bookings)
    found = clearances_of(b.id for b in bookings)
    known: dict[int, Clearance | None] = {b.id: found.get(b.id) for b in bookings}
    token = _preloaded.set(known)
    try:
        yield found
    finally:
        _preloaded.reset(token)


def clearance_of(booking: Booking) -> Clearance | None:
    known = _preloaded.get()
    if known is not None and booking.id in known:
        return known[booking.id]
    return db.session.scalar(sa.select(Clearance).where(Clearance.booking_id == booking.id))


def status_label(clearance: Clearance | None) -> str:
    return STATUS_LABELS[clearance.status] if clearance is not None else NOT_YET_LABEL


@dataclass(frozen=True)
class ClearanceView:
    """A clearance as a clinician's page shows it: the note decrypted."""

    status: str
    status_label: str
    note: str
    clinician_name: str
    decided_at: datetime


def for_clinician(booking: Booking, staff) -> ClearanceView | None:
    """The booking's clearance with its note, for a clinician (NotAClinician for anyone else); reading a note is
    audited (a read of health data) in the caller's unit of work, or one of its own."""
    if not may_record(staff):
        raise NotAClinician("Only a clinician can read a clearance note.")
    clearance = clearance_of(booking)
    if clearance is None:
        return None
    note = ""
    if clearance.note_encrypted is not None:
        with unit_of_work():
            audit.record("booking.clearance_read_note", "booking", booking.reference, {}, actor=staff)
            note = crypto.decrypt_json(clearance.note_encrypted)
    clinician = clearance.decided_by
    return ClearanceView(clearance.status, STATUS_LABELS[clearance.status], note,
                         (clinician.name or clinician.email) if clinician else "", clearance.decided_at)


# --- Recording -------------------------------------------------------------------------------------------------

def parse(status: object, note: object) -> tuple[str, str]:
    """(status, note) as stored, or ValidationFailed naming `status` and `note`."""
    errors: dict[str, list[str]] = {}
    if status not in CLEARANCE_STATUSES:
        errors["status"] = ["Choose “Cleared” or “Needs follow-up”."]
    text = note.strip() if isinstance(note, str) else ""
    if note is not None and not isinstance(note, str):
        errors["note"] = ["Give the note as text."]
    elif len(text) > NOTE_MAX:
        errors["note"] = [f"Keep the note to {NOTE_MAX:,} characters (it has {len(text):,})."]
    elif CONTROL_CHARACTERS.search(text):
        errors["note"] = [CONTROL_CHARACTERS_MESSAGE]
    elif status == "follow_up" and not text:
        errors["note"] = ["Say what needs following up (what is missing or what to check), so the next clinician "
                          "knows."]
    if errors:
        raise ValidationFailed(errors)
    return status, text  # type: ignore[return-value]


@dataclass(frozen=True)
class Recorded:
    reference: str
    status: str
    changed: bool

    @property
    def status_label(self) -> str:
        return STATUS_LABELS[self.status]


def record_clearance(reference: str, status: object, note: object, *, staff, cohort_id: int | None = None
                     ) -> Recorded:
    """A clinician records (or changes) the booking's clearance. One unit of work holding the booking's row, so
    two clinicians at once each see the other's decision; audited (the status from and to, whether a note was
    given: never the note). Nothing is written when nothing changed. `cohort_id`: the booking must be of it."""
    if not may_record(staff):
        raise NotAClinician("Only a clinician can record a medical clearance.")
    status, text = parse(status, note)
    with unit_of_work():
        booking = db.session.scalar(sa.select(Booking).where(Booking.reference == reference).with_for_update()
                                    .execution_options(populate_existing=True)) \
            if is_plausible_reference(reference) else None
        if booking is None or (cohort_id is not None and booking.cohort_id != cohort_id):
            raise NotFound("There is no booking with this reference in these dates.")
        if booking.status not in ACTIVE_STATUSES:
            raise DomainError("This booking no longer holds a seat, so it is not cleared for arrival.",
                              code="booking_not_active")
        clearance = db.session.scalar(sa.select(Clearance).where(Clearance.booking_id == booking.id)
                                      .execution_options(populate_existing=True))
        before = clearance.status if clearance is not None else None
        if clearance is not None and clearance.status == status and _note(clearance) == text:
            return Recorded(booking.reference, status, changed=False)
        if clearance is None:
            clearance = Clearance(booking_id=booking.id)
            db.session.add(clearance)
        clearance.status = status
        clearance.note_encrypted = crypto.encrypt_json(text) if text else None
        clearance.decided_by_id = staff.id
        clearance.decided_at = now()
        db.session.flush()
        audit.record("booking.clearance_record" if before is None else "booking.clearance_change", "booking",
                     booking.reference, {"from": before, "to": status, "note": bool(text)}, actor=staff)
    return Recorded(booking.reference, status, changed=True)


def _note(clearance: Clearance) -> str:
    return crypto.decrypt_json(clearance.note_encrypted) if clearance.note_encrypted is not None else ""


# --- The checklist's step --------------------------------------------------------------------------------------

def checklist_step(booking: Booking) -> Step:
    clearance = clearance_of(booking)
    done = clearance is not None and clearance.status == "cleared"
    if done:
        left = ""
    elif clearance is None:
        left = "A clinician of the clinic reviews what you sent and gives medical clearance."
    else:
        left = "A clinician of the clinic will contact you about something to follow up before clearance."
    return Step(key="clearance", label="Medical clearance by the clinic", done=done, left=left, clinic_does=True,
                staff_label="Clearance")


# --- The applicant's data ---------------------------------------------------------------------------------------

def personal_data(booking: Booking) -> dict:
    """What the clinic holds of the booking's clearance, for the applicant's own export: {} when none."""
    clearance = clearance_of(booking)
    if clearance is None:
        return {}
    return {"status": clearance.status, "status_label": STATUS_LABELS[clearance.status],
            "note": _note(clearance) or None, "decided_at": clearance.decided_at.isoformat()}


def erase_personal_data(booking: Booking) -> None:
    """Remove the booking's clearance (status and note); flush only. The audit entries, which never held the
    note, stay."""
    db.session.execute(sa.delete(Clearance).where(Clearance.booking_id == booking.id))
    db.session.flush()


# --- Keys ------------------------------------------------------------------------------------------------------

def rotate_encryption() -> int:
    """Re-encrypt every clearance note under the newest key (`flask screening rotate-keys`). One unit of work."""
    count = 0
    with unit_of_work():
        for clearance in db.session.scalars(sa.select(Clearance).where(Clearance.note_encrypted.is_not(None))):
            clearance.note_encrypted = crypto.rotate(clearance.note_encrypted)
            count += 1
    return count


crypto.register_rotation("clearance note(s)", rotate_encryption)
