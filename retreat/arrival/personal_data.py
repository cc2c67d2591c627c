"""The applicant's own data: everything the clinic holds about the person behind a booking, to read and download
(the manage page's "Your data", `GET /api/v1/bookings/{reference}/data`), and its erasure when they ask for it.

One definition, many uses: `SECTIONS` names each part of the export and the function that gives it (JSON-ready:
strings, numbers, booleans, None, lists and dicts; times as ISO 8601 in UTC); the page, the download and the API
all show `export(booking)`. `ERASERS` lists what removes each part's data (flush only). A part of the app that
stores personal data writes `personal_data(booking)` and `erase_personal_data(booking)` in its own module; adding
it here is one line in each tuple.

Erasure (`erase`): an admin carries out what the applicant asked for, once no stay is to come (the stay has ended,
or none happened: cancelled, declined, expired, a hold that lapsed). Names, contacts, the pre-screen's answers,
the date of birth and diagnosis, the reduced-fee reason, waitlist entries and the bodies of the emails sent to
them go; the booking row stays, anonymised (seats and money history depend on it): its name becomes its
reference, so the ledger and the finance exports show the reference as the payer. The ledger itself is not
touched: its rows name the booking, never the person (the payer's name and email are the booking's, joined in by
the exports), so it stays append-only without an exception. The audit log names bookings by reference and never
holds what is erased; the erasure's own entry lists the parts erased, not their content.
"""

from __future__ import annotations

from collections.abc import Callable

import sqlalchemy as sa
from flask import current_app, url_for

from retreat.arrival import clearance, consent, intake, uploads
from retreat.arrival.personal_data_models import DataErasure
from retreat.booking import fee_requests, rooms, superbills
from retreat.booking.access import booking_by_reference
from retreat.booking.availability import changing_cohort
from retreat.booking.models import ACTIVE_STATUSES, HOLDING_STATUSES, Booking, WaitlistEntry
from retreat.core import audit, clinic, crypto
from retreat.core.clock import now
from retreat.core.errors import DomainError
from retreat.core.links import external_url
from retreat.core.transactions import unit_of_work
from retreat.extensions import db
from retreat.notify import services as notify
from retreat.notify.models import OutboxEmail
from retreat.payments import refunds
from retreat.payments.models import Payment
from retreat.screening import questions
from retreat.screening.models import Screening
from retreat.screening.services import HEALTH_COLUMNS
from retreat.staff import todo

ERASE_ROLES = ("admin",)
EXPORT_ACTION = "personal_data.export"
EXPORT_WAYS = ("page", "download", "api")


def _iso(value) -> str | None:
    return value.isoformat() if value is not None else None


# --- The sections of the export --------------------------------------------------------------------------------

def booking_data(booking: Booking) -> dict:
    """The booking as the applicant made it: who, what, when, the price and the policy accepted."""
    cohort = booking.cohort
    return {
        "reference": booking.reference,
        "status": booking.status,
        "first_name": booking.applicant_first_name,
        "last_name": booking.applicant_last_name,
        "email": booking.applicant_email,
        "phone": booking.applicant_phone,
        "program": cohort.program.name,
        "start_date": _iso(cohort.start_date),
        "end_date": _iso(cohort.end_date),
        "lodging": booking.lodging,
        "booked_at": _iso(booking.created_at),
        "booked_from_address": booking.client_address,
        "email_confirmed_at": _iso(booking.email_confirmed_at),
        "hold_expires_at": _iso(booking.hold_expires_at),
        "confirmed_at": _iso(booking.confirmed_at),
        "cancelled_at": _iso(booking.cancelled_at),
        "currency": "usd",
        "list_price_cents": booking.list_price_cents,
        "discount_code": booking.discount_code,
        "discount_cents": booking.discount_cents,
        "reduction_cents": booking.reduction_cents,
        "total_cents": booking.total_cents,
        "deposit_cents": booking.deposit_cents,
        "balance_cents": booking.balance_cents,
        "balance_due_date": _iso(booking.balance_due_date),
        "payment_plan": booking.payment_plan,
        "payment_provider": booking.payment_provider,
        "card_saved_for_later_payments": bool(booking.save_card_consent and booking.stripe_payment_method_id),
        "cancellation_policy_version": booking.policy_version,
        "cancellation_policy_accepted_at": _iso(booking.policy_accepted_at),
    }


def payments_data(booking: Booking) -> list[dict]:
    """Every movement of money of the ledger naming this booking, and refunds decided but not sent yet."""
    rows = db.session.scalars(sa.select(Payment).where(Payment.booking_id == booking.id)
                              .order_by(Payment.created_at, Payment.id))
    moved = [{"date": _iso(p.created_at), "kind": p.kind, "amount_cents": p.amount_cents, "currency": p.currency,
              "status": p.status, "provider": p.provider, "provider_reference": p.provider_reference,
              "counted_for_booking": not p.flagged} for p in rows]
    to_send = [{"date": _iso(r.created_at), "kind": "refund", "amount_cents": -r.amount_cents, "currency": "usd",
                "status": "being sent", "provider": r.payment.provider, "provider_reference": None,
                "counted_for_booking": True} for r in refunds.pending_of(booking.id)]
    return moved + to_send


def _screening(booking: Booking) -> Screening | None:
    return db.session.get(Screening, booking.screening_id) if booking.screening_id is not None else None


def _answer_words(question: questions.Question, value) -> str:
    """The answer in the words the applicant chose it by (the clinician's page has its own)."""
    if isinstance(question, questions.SeveralOf):
        labels = {choice.value: choice.label for choice in question.choices}
        return ", ".join(labels.get(item, str(item)) for item in value) if value else question.none_label
    if isinstance(question, questions.OneOf):
        choice = question.choice(value)
        return choice.label if choice else str(value)
    return question.reads(value)


def readable_answers(answers: dict) -> list[dict]:
    """Each answered question of the questionnaire, in its order, with its wording and the answer in words."""
    rows = [{"question": question.text, "answer": _answer_words(question, value)}
            for question in questions.QUESTIONS if (value := questions.value_of(answers, question)) is not None]
    known = {*questions.answer_names(), questions.AS_ENTERED}
    rows += [{"question": name.replace("_", " ").capitalize(), "answer": str(answers[name])}
             for name in sorted(set(answers) - known)]  # a field of a later questionnaire version
    return rows


def screening_data(booking: Booking) -> dict | None:
    """The pre-screen the booking was made with: the answers (decrypted, with each question's wording), what the
    rules found, and the clinician's review as it stands. The clinician's own note is not given here: see
    CLINICIAN_NOTE (it is part of the applicant's record, released by a clinician on request)."""
    screening = _screening(booking)
    if screening is None:
        return None
    # Screening's encrypted columns, read for their owner (the decryption is screening's: core.crypto).
    answers = crypto.decrypt_json(screening.answers_encrypted) if screening.answers_encrypted else None
    findings = crypto.decrypt_json(screening.findings_encrypted) if screening.findings_encrypted else {}
    contact = crypto.decrypt_json(screening.contact_encrypted) if screening.contact_encrypted else None
    return {
        "taken_at": _iso(screening.created_at),
        "outcome": screening.outcome,
        "rules_version": screening.rules_version,
        "reasons": [{"code": r.get("code"), "message": r.get("message")} for r in findings.get("reasons", [])],
        "phq9_total": findings.get("phq9_total"),
        "phq9_severity": findings.get("phq9_severity"),
        "answers": readable_answers(answers) if answers is not None else None,
        "answers_removed_at": _iso(screening.answers_purged_at),
        "contact_details_for_review": contact,
        "review_status": screening.review_status,
        "review_requested_at": _iso(screening.review_requested_at),
        "reviewed_at": _iso(screening.reviewed_at),
        "clinician_note_recorded": screening.review_note_encrypted is not None,
    }


CLINICIAN_NOTE = ("A clinician's note on your pre-screen's review is part of your record, and you may have a copy: "
                  "ask the clinic. A clinician looks at the request first, as the note was written for the "
                  "clinical team, and answers within 30 days.")


def superbill_data(booking: Booking) -> dict | None:
    """The date of birth the applicant gave for their superbill, and the diagnosis codes printed on it."""
    born, codes = superbills.birth_date(booking), superbills.diagnosis_codes(booking)
    if born is None and not codes:
        return None
    return {"birth_date": _iso(born), "diagnosis_codes": codes}


def reduced_fee_data(booking: Booking) -> dict | None:
    request = fee_requests.request_of(booking)
    if request is None:
        return None
    return {"reason": request.reason, "status": request.status, "requested_at": _iso(request.requested_at),
            "decided_at": _iso(request.decided_at), "granted_total_cents": request.granted_total_cents,
            "decision_reason": request.decision_reason}


def _waitlist_entries(booking: Booking) -> list[WaitlistEntry]:
    """The applicant's waitlist entries: the one that became this booking, and those joined with its pre-screen."""
    mine = WaitlistEntry.booking_id == booking.id
    if booking.screening_id is not None:
        mine = sa.or_(mine, WaitlistEntry.screening_id == booking.screening_id)
    return list(db.session.scalars(sa.select(WaitlistEntry).where(mine).order_by(WaitlistEntry.created_at)))


def waitlist_data(booking: Booking) -> list[dict]:
    return [{"joined_at": _iso(e.created_at), "status": e.status, "start_date": _iso(e.cohort.start_date),
             "first_name": e.applicant_first_name, "last_name": e.applicant_last_name, "email": e.applicant_email,
             "phone": e.applicant_phone, "offered_at": _iso(e.offered_at)} for e in _waitlist_entries(booking)]


def _addresses(booking: Booking) -> set[str]:
    """Every email address the applicant gave: the booking's, the pre-screen's contact, the waitlist's."""
    found = {booking.applicant_email}
    screening = _screening(booking)
    if screening is not None and screening.contact_encrypted:
        found.add((crypto.decrypt_json(screening.contact_encrypted) or {}).get("email") or "")
    found |= {entry.applicant_email for entry in _waitlist_entries(booking)}
    return {address.strip().lower() for address in found if address and address.strip()}


def _emails_to(booking: Booking) -> list[OutboxEmail]:
    addresses = _addresses(booking)
    if not addresses:
        return []
    return list(db.session.scalars(
        sa.select(OutboxEmail).where(sa.func.lower(sa.func.trim(OutboxEmail.to_address)).in_(addresses))
        .order_by(OutboxEmail.created_at, OutboxEmail.id)))


def emails_data(booking: Booking) -> list[dict]:
    """The emails sent to the applicant: when, and their subject (bodies hold live links: kept 30 days)."""
    return [{"queued_at": _iso(e.created_at), "sent_at": _iso(e.sent_at), "to": e.to_address, "subject": e.subject}
            for e in _emails_to(booking)]


# (name, function(booking) -> JSON-ready data). Add another part's section here: ("consent", consent.personal_data).
SECTIONS: tuple[tuple[str, Callable[[Booking], object]], ...] = (
    ("booking", booking_data),
    ("payments", payments_data),
    ("screening", screening_data),
    ("consent", consent.personal_data),
    ("intake", intake.personal_data),
    ("documents", uploads.personal_data),
    ("clearance", clearance.personal_data),
    ("room", rooms.personal_data),
    ("superbill", superbill_data),
    ("reduced_fee", reduced_fee_data),
    ("waitlist", waitlist_data),
    ("emails", emails_data),
)
SECTION_TITLES = {
    "booking": "Your booking", "payments": "Payments and refunds", "screening": "Your pre-screen",
    "consent": "Your informed consent", "intake": "Your intake", "documents": "Documents you sent",
    "clearance": "Your medical clearance",
    "room": "Your room", "superbill": "Your superbill details", "reduced_fee": "Your request for a reduced fee",
    "waitlist": "Waitlist", "emails": "Emails we sent you",
}


def export(booking: Booking) -> dict:
    """Everything the clinic holds about the applicant of this booking, section by section."""
    return {"reference": booking.reference, "exported_at": _iso(now()),
            **{name: section(booking) for name, section in SECTIONS}}


def export_audited(booking: Booking, how: str) -> dict:
    """The export, with its audit entry (who: the applicant; how: page, download or api). One unit of work."""
    if how not in EXPORT_WAYS:
        raise ValueError(f"an export is seen by page, download or api, not {how!r}")
    with unit_of_work():
        data = export(booking)
        audit.record(EXPORT_ACTION, "booking", booking.reference,
                     {"via": how, "sections": [name for name, _ in SECTIONS]}, actor="applicant")
    return data


# --- Erasure ---------------------------------------------------------------------------------------------------

def erase_emails(booking: Booking) -> None:
    """The emails sent to the applicant keep their subject, kind and times (the record of what was sent); the
    address becomes the booking's reference and the body goes. One still unsent is not sent."""
    for email in _emails_to(booking):
        email.to_address = f"erased ({booking.reference})"
        email.body = None
        if email.sent_at is None:
            email.attempts = max(email.attempts, notify.MAX_ATTEMPTS)
            email.last_error = "Not sent: the applicant's data was erased."


def erase_waitlist(booking: Booking) -> None:
    for entry in _waitlist_entries(booking):
        entry.applicant_first_name = entry.applicant_last_name = entry.applicant_email = entry.applicant_phone = ""


def erase_screening(booking: Booking) -> None:
    """The answers, findings, contact details and the clinician's note go (as the 90-day purge does); the outcome,
    review status and times stay."""
    screening = _screening(booking)
    if screening is None:
        return
    for column in HEALTH_COLUMNS:
        setattr(screening, column, None)
    screening.answers_purged_at = screening.answers_purged_at or now()


def erase_superbill(booking: Booking) -> None:
    detail = db.session.scalar(sa.select(superbills.SuperbillDetail)
                               .where(superbills.SuperbillDetail.booking_id == booking.id))
    if detail is not None:
        detail.birth_date_encrypted = None
        detail.diagnosis_encrypted = None


def erase_reduced_fee(booking: Booking) -> None:
    request = fee_requests.request_of(booking)
    if request is not None:
        request.reason = ""
        request.decision_reason = None


def anonymise_booking(booking: Booking) -> None:
    """Last of all: the booking keeps its dates, status and money; its name becomes its reference (the payer the
    ledger and the finance exports show), its contacts go, and its manage link stops opening it."""
    booking.applicant_first_name = booking.reference
    booking.applicant_last_name = ""
    booking.applicant_email = ""
    booking.applicant_phone = ""
    booking.applicant_email_key = None
    booking.applicant_phone_key = None
    booking.client_address = None
    booking.save_card_consent = False
    booking.stripe_customer_id = None
    booking.stripe_payment_method_id = None
    booking.manage_token_hash = None


# What removes each part's data, in order (the emails first: they are found by the addresses the others hold).
# Add another part's here: consent.erase_personal_data. The booking itself is anonymised after them all.
ERASERS: tuple[Callable[[Booking], None], ...] = (
    erase_emails,
    erase_waitlist,
    erase_screening,
    erase_superbill,
    erase_reduced_fee,
    consent.erase_personal_data,
    intake.erase_personal_data,
    uploads.erase_personal_data,
    clearance.erase_personal_data,
    rooms.erase_personal_data,
)


def erasure_of(booking: Booking) -> DataErasure | None:
    return db.session.scalar(sa.select(DataErasure).where(DataErasure.booking_id == booking.id))


def erased_by_token_hash(token_hash: str) -> DataErasure | None:
    return db.session.scalar(sa.select(DataErasure).where(DataErasure.manage_token_hash == token_hash,
                                                          DataErasure.erased_at.is_not(None)))


def request_erasure(booking: Booking) -> tuple[DataErasure, bool]:
    """The applicant asks for their data to be erased: recorded with the time (asking again changes nothing), the
    clinic emailed (CLINIC_EMAIL) and the admins' to-do counts it. Returns the request and whether it is new."""
    with unit_of_work():
        existing = erasure_of(booking)
        if existing is not None:
            return existing, False
        erasure = DataErasure(booking_id=booking.id, requested_at=now())
        db.session.add(erasure)
        db.session.flush()
        audit.record("personal_data.erasure_requested", "booking", booking.reference, actor="applicant")
        _tell_the_clinic(booking)
    return erasure, True


def _tell_the_clinic(booking: Booking) -> None:
    address = current_app.config.get("CLINIC_EMAIL")
    if not address:
        current_app.logger.error("CLINIC_EMAIL is not set: nobody is emailed about erasure request %s",
                                 booking.reference)
        return
    name = clinic.name()
    body = (f"The applicant of booking {booking.reference} has asked for their personal data to be erased.\n\n"
            "An admin carries it out from the staff console once no stay is to come (the page says when):\n"
            f"{external_url('staff.erasure', reference=booking.reference)}\n\n"
            "This email names only the booking.\n\n"
            f"— {name}\n")
    notify.enqueue("erasure_requested", address, f"{name}: data erasure asked for ({booking.reference})", body)


def not_erasable_because(booking: Booking) -> str | None:
    """Why the booking's data cannot be erased now (None: it can). After the stay, or at once if none happened;
    never while a refund to the applicant is still to be sent, or while another booking made with the same
    pre-screen is still to come."""
    moment = now()
    today = clinic.clinic_date(moment)
    cohort = booking.cohort
    if booking.status in HOLDING_STATUSES and booking.hold_expires_at is not None and booking.hold_expires_at > moment:
        return (f"The seat is still held, until {clinic.clinic_time(booking.hold_expires_at)}. Erase the data once "
                "the hold lapses or the booking is cancelled.")
    if booking.status in ("confirmed", "paid_in_full") and cohort.end_date >= today:
        return (f"The stay has not ended: it ends on {cohort.end_date:%-d %B %Y}. The data can be erased from the "
                "day after; cancel the booking first to erase it sooner.")
    if refunds.pending_of(booking.id) or db.session.scalar(sa.select(Payment.id).where(
            Payment.booking_id == booking.id, Payment.kind == "refund", Payment.status == "pending").limit(1)):
        return ("A refund to the applicant is still to be sent: their details are needed until it is. Erase the "
                "data once it is sent.")
    if booking.screening_id is not None:
        other = db.session.scalar(sa.select(Booking.reference).where(
            Booking.screening_id == booking.screening_id, Booking.id != booking.id,
            Booking.status.in_(ACTIVE_STATUSES)).limit(1))
        if other is not None:
            return (f"Booking {other} was made with the same pre-screen and is still active: erase both once it is "
                    "over.")
    return None


class ErasureRefused(DomainError):
    status = 409
    code = "erasure_refused"


def erase(reference: str, *, staff) -> DataErasure:
    """Carry out an applicant's request: their data goes from every part (ERASERS), the booking is anonymised, the
    request is marked done, and the audit log says so (which parts, never what they held). Admins only; refused
    with the reason before the stay ends (not_erasable_because). One unit of work holding the cohort's lock (a
    payment or a cancellation of the booking waits for it, or it for them)."""
    if not set(getattr(staff, "roles", None) or ()) & set(ERASE_ROLES):
        raise DomainError("Only an admin can erase an applicant's data.", code="forbidden", status=403)
    with unit_of_work():
        booking = booking_by_reference(reference)
        with changing_cohort(booking.cohort_id):
            booking = db.session.scalar(sa.select(Booking).where(Booking.id == booking.id)
                                        .execution_options(populate_existing=True))
            erasure = erasure_of(booking)
            if erasure is None:
                raise ErasureRefused(f"The applicant of {booking.reference} has not asked for erasure.")
            if erasure.erased_at is not None:
                raise ErasureRefused(f"The data of {booking.reference} was erased already.")
            refusal = not_erasable_because(booking)
            if refusal is not None:
                raise ErasureRefused(refusal)
            for eraser in ERASERS:
                eraser(booking)
            token_hash = booking.manage_token_hash
            anonymise_booking(booking)
            db.session.flush()  # the booking lets go of the link's hash before the erasure takes it (unique)
            erasure.manage_token_hash = token_hash
            erasure.erased_at = now()
            erasure.erased_by_id = staff.id
            audit.record("personal_data.erase", "booking", booking.reference,
                         {"parts": [name for name, _ in SECTIONS], "requested_at": _iso(erasure.requested_at)},
                         actor=staff)
    return erasure


# --- The admins' list ---------------------------------------------------------------------------------------------

def erasure_requests() -> list[DataErasure]:
    """Every request, those still to do first (oldest first), then those done (latest first)."""
    rows = db.session.scalars(sa.select(DataErasure).order_by(DataErasure.requested_at, DataErasure.id)).all()
    waiting = [row for row in rows if row.erased_at is None]
    done = sorted((row for row in rows if row.erased_at is not None), key=lambda row: row.erased_at, reverse=True)
    return waiting + done


def waiting_count() -> int:
    return db.session.scalar(sa.select(sa.func.count()).select_from(DataErasure)
                             .where(DataErasure.erased_at.is_(None))) or 0


def backup_retention_days() -> int | None:
    """How long the clinic keeps database backups (BACKUP_RETENTION_DAYS), if configured."""
    return current_app.config.get("BACKUP_RETENTION_DAYS")


def _todo_lines() -> list[todo.ToDo]:
    return [todo.ToDo("erasure_requested", "Requests to erase an applicant's data", waiting_count(),
                      url_for("staff.erasures"),
                      "Carry each out once no stay is to come; the page says when each can be.")]


todo.register("arrival.erasures", roles=ERASE_ROLES, order=40, lines=_todo_lines)
