"""The staff console's side of bookings: find them, read one with its money and history, record a bank transfer,
cancel on an applicant's behalf or the clinic's (a cancelled cohort's bookings: booking.cohorts).

Plain functions, no `request`. Every change goes through booking.services (payment_received, cancel_booking),
so the state machine, the ledger, the refund policy and the emails are those of every other path; this module
only checks what staff typed and reads what the console shows. Nothing here reads or joins a pre-screen: staff
pages about bookings carry contact details and money, never health data.
"""

from dataclasses import dataclass
from datetime import date, datetime

import sqlalchemy as sa

from retreat.booking import services, todos
from retreat.booking.models import BOOKING_STATUSES, HOLDING_STATUSES, Booking
from retreat.booking.requests import UNPRINTABLE
from retreat.booking.states import BOOKING_STATUS_LABELS, CANCELLABLE_STATUSES
from retreat.catalog.models import Cohort, Program
from retreat.catalog.programs import CONTROL_CHARACTERS, CONTROL_CHARACTERS_MESSAGE
from retreat.core.audit import AuditEntry
from retreat.core.clock import now
from retreat.core.errors import DomainError, ValidationFailed
from retreat.core.money import format_usd
from retreat.extensions import db
from retreat.payments import flags, ledger, refunds
from retreat.payments.models import PAYMENT_PROVIDERS, Payment, PendingRefund
from retreat.staff.models import StaffUser

PAGE_SIZE = 50
SEARCH_MAX_LENGTH = 100
BANK_REFERENCE_MAX_LENGTH = 100  # Payment.provider_reference
NOTE_MAX_LENGTH = 300
REASON_MAX_LENGTH = 500
PROVIDER_LABELS = {"stripe": "Card (Stripe)", "offline": "Bank transfer", "demo": "Demo payment"}
assert set(PROVIDER_LABELS) == set(PAYMENT_PROVIDERS)
CANCELLED_BY = ("applicant", "clinic")


# --- The list ----------------------------------------------------------------------------------------------------

@dataclass(frozen=True)
class BookingRow:
    """What the bookings list shows of a booking: who, which dates, where it stands, the money."""

    reference: str
    first_name: str
    last_name: str
    email: str
    status: str
    payment_provider: str
    total_cents: int
    paid_cents: int
    created_at: datetime
    hold_expires_at: datetime | None
    cohort_id: int
    program_name: str
    start_date: date
    end_date: date
    received_cents: int = 0

    @property
    def owed_cents(self) -> int:
        return services.owed_cents(status=self.status, total_cents=self.total_cents,
                                   received_cents=self.received_cents, hold_expires_at=self.hold_expires_at)

    @property
    def applicant_name(self) -> str:
        return f"{self.first_name} {self.last_name}".strip()

    @property
    def status_label(self) -> str:
        return BOOKING_STATUS_LABELS.get(self.status, self.status)

    @property
    def provider_label(self) -> str:
        return PROVIDER_LABELS.get(self.payment_provider, self.payment_provider)

    @property
    def hold_expired(self) -> bool:
        return (self.status in HOLDING_STATUSES and self.hold_expires_at is not None
                and self.hold_expires_at <= now())


def paid_by_booking():
    return ledger.money_by_booking()  # flagged money left out, refunds still to send counted as returned


def list_bookings(*, cohort_id: int | None = None, status: str | None = None, provider: str | None = None,
                  search: str | None = None, needs: str | None = None, page: int = 1) -> tuple[list[BookingRow], bool]:
    """Bookings newest first, filtered; one page and whether more follow. `search` matches part of the
    reference, the applicant's name or email; `needs` is one of booking.todos.NEEDS (what the staff home counts).
    The columns are named one by one, as in the roster."""
    paid = paid_by_booking()
    query = (
        sa.select(Booking.reference, Booking.applicant_first_name, Booking.applicant_last_name,
                  Booking.applicant_email, Booking.status, Booking.payment_provider, Booking.total_cents,
                  sa.func.coalesce(paid.c.paid_cents, 0), Booking.created_at, Booking.hold_expires_at,
                  Booking.cohort_id, Program.name, Cohort.start_date, Cohort.end_date,
                  sa.func.coalesce(paid.c.received_cents, 0))
        .join(Cohort, Cohort.id == Booking.cohort_id).join(Program, Program.id == Cohort.program_id)
        .outerjoin(paid, paid.c.booking_id == Booking.id)
        .order_by(Booking.created_at.desc(), Booking.id.desc())
    )
    if cohort_id is not None:
        query = query.where(Booking.cohort_id == cohort_id)
    if status in BOOKING_STATUSES:
        query = query.where(Booking.status == status)
    if provider in PAYMENT_PROVIDERS:
        query = query.where(Booking.payment_provider == provider)
    if needs in todos.NEEDS:
        query = query.where(todos.NEEDS[needs].condition())
    words = " ".join((search or "").split())[:SEARCH_MAX_LENGTH]
    words = UNPRINTABLE.sub("", words)
    if words:
        name = sa.func.lower(Booking.applicant_first_name + " " + Booking.applicant_last_name)
        query = query.where(sa.or_(
            Booking.reference.contains(words.upper(), autoescape=True),
            sa.func.lower(Booking.applicant_email).contains(words.lower(), autoescape=True),
            name.contains(words.lower(), autoescape=True),
        ))
    page = max(1, page)
    rows = db.session.execute(query.offset((page - 1) * PAGE_SIZE).limit(PAGE_SIZE + 1)).all()
    return [BookingRow(*row) for row in rows[:PAGE_SIZE]], len(rows) > PAGE_SIZE


def cohorts_for_filter() -> list[Cohort]:
    """Every cohort that has bookings, latest first, for the list's filter."""
    return list(db.session.scalars(
        sa.select(Cohort).where(Cohort.id.in_(sa.select(Booking.cohort_id)))
        .order_by(Cohort.start_date.desc(), Cohort.id.desc())
    ))


# --- One booking -------------------------------------------------------------------------------------------------

@dataclass(frozen=True)
class LedgerLine:
    payment: Payment
    recorded_by: str | None  # the staff user who recorded it by hand (a bank transfer), by name

    @property
    def provider_label(self) -> str:
        return PROVIDER_LABELS.get(self.payment.provider, self.payment.provider)


@dataclass(frozen=True)
class BookingDetail:
    booking: Booking
    ledger: tuple[LedgerLine, ...]
    history: tuple[AuditEntry, ...]  # audit entries about this booking, oldest first
    paid_cents: int
    outstanding_cents: int
    owed_by_transfer_cents: int  # refunds owed by bank transfer that the clinic still has to send
    refunds_to_send: tuple[PendingRefund, ...]  # refunds decided, not made by the provider yet (retried)
    flagged: tuple[flags.FlagView, ...]  # money that named this booking but is not counted as its own
    flagged_lines: tuple[LedgerLine, ...]  # those payments and their refunds, for the record
    transfer_due: tuple[str, int] | None  # (kind, cents) a bank transfer would pay now
    applicant_quote: services.CancellationQuote | None
    clinic_quote: services.CancellationQuote | None

    @property
    def status_label(self) -> str:
        return BOOKING_STATUS_LABELS.get(self.booking.status, self.booking.status)

    @property
    def provider_label(self) -> str:
        return PROVIDER_LABELS.get(self.booking.payment_provider, self.booking.payment_provider)

    @property
    def cancellable(self) -> bool:
        return self.booking.status in CANCELLABLE_STATUSES

    @property
    def refunded_cents(self) -> int:
        """Refunds in the ledger (made, or owed by bank transfer), positive."""
        return -sum(line.payment.amount_cents for line in self.ledger if line.payment.kind == "refund")

    @property
    def hold_expired(self) -> bool:
        booking = self.booking
        return (booking.status in HOLDING_STATUSES and booking.hold_expires_at is not None
                and booking.hold_expires_at <= now())


def get_booking(reference: str) -> Booking:
    return services.booking_by_reference(reference)


def booking_history(reference: str) -> list[AuditEntry]:
    return list(db.session.scalars(
        sa.select(AuditEntry).where(AuditEntry.target_type == "booking", AuditEntry.target_id == reference)
        .order_by(AuditEntry.at, AuditEntry.id)
    ))


def _recorders(payments: list[Payment]) -> dict[int, str]:
    ids = {p.recorded_by_id for p in payments if p.recorded_by_id is not None}
    if not ids:
        return {}
    return dict(db.session.execute(sa.select(StaffUser.id, StaffUser.name).where(StaffUser.id.in_(ids))).all())


def owed_by_transfer_cents(payments: list[Payment]) -> int:
    return -sum(p.amount_cents for p in payments if p.kind == "refund" and p.status == "pending")


def _transfer_due(booking: Booking) -> tuple[str, int] | None:
    """What a bank transfer would pay now (see services.next_payment, lapsed holds included)."""
    if booking.payment_provider != "offline":
        return None
    return services.next_payment(booking, after_lapse=True)


def booking_for_staff(reference: str) -> BookingDetail:
    booking = get_booking(reference)
    payments = ledger.payments_of(booking.id)
    flagged = ledger.flagged_payments_of(booking.id)
    recorders = _recorders(payments + flagged)
    cancellable = booking.status in CANCELLABLE_STATUSES
    return BookingDetail(
        booking=booking,
        ledger=tuple(LedgerLine(p, recorders.get(p.recorded_by_id)) for p in payments),
        history=tuple(booking_history(booking.reference)),
        paid_cents=ledger.paid_cents(booking.id),
        outstanding_cents=services.outstanding_cents(booking),
        owed_by_transfer_cents=owed_by_transfer_cents(payments),
        refunds_to_send=tuple(refunds.pending_of(booking.id)),
        flagged=tuple(flags.flags(open_only=False, booking_id=booking.id)),
        flagged_lines=tuple(LedgerLine(p, recorders.get(p.recorded_by_id)) for p in flagged),
        transfer_due=_transfer_due(booking),
        applicant_quote=services.cancellation_quote(booking, by="applicant") if cancellable else None,
        clinic_quote=services.cancellation_quote(booking, by="clinic") if cancellable else None,
    )


# --- Bank transfers ----------------------------------------------------------------------------------------------

NOT_DUE_MESSAGES = {
    "pending_review": "A clinician has not approved this booking yet, so nothing may be taken for it. Record the "
                      "transfer once they approve it (the seat stays held meanwhile).",
    "paid_in_full": "This booking is paid in full: nothing is owed. Return money sent twice by bank transfer.",
    "cancelled": "This booking is cancelled: nothing is owed. Return money that arrives by bank transfer.",
    "declined": "This booking was declined: nothing is owed. Return money that arrives by bank transfer.",
}


def _clean_text(value: object, field: str, max_length: int, errors: dict[str, list[str]]) -> str:
    text = " ".join(value.split()) if isinstance(value, str) else ""
    if CONTROL_CHARACTERS.search(text):
        errors.setdefault(field, []).append(CONTROL_CHARACTERS_MESSAGE)
    elif len(text) > max_length:
        errors.setdefault(field, []).append(f"Keep it to {max_length} characters or fewer (it has {len(text)}).")
    return text


def _recorded_transfer(bank_reference: str) -> Payment | None:
    """A bank transfer recorded under this reference already (compared without regard to case)."""
    return db.session.scalar(sa.select(Payment).where(
        Payment.provider == "offline", sa.func.lower(Payment.provider_reference) == bank_reference.lower()))


def _duplicate_reference(payment: Payment) -> ValidationFailed:
    return ValidationFailed({"bank_reference": [
        f"This bank reference is recorded already (booking {payment.booking.reference}, "
        f"{format_usd(payment.amount_cents, show_cents=True)}). Each transfer is recorded once."]})


def mark_transfer_received(reference: str, *, amount_cents: object, bank_reference: object, note: object = "",
                           staff) -> services.PaymentOutcome:
    """Record a bank transfer that reached the clinic's account, through services.payment_received (which
    confirms the booking, or pays it in full, and emails the receipt). The bank reference is required and
    recorded once; the amount is at least the deposit still due and at most what is owed."""
    booking = get_booking(reference)
    if booking.payment_provider != "offline":
        raise DomainError("This booking is paid by card: its payments are recorded when the card provider "
                          "reports them.", code="not_bank_transfer", status=409)
    due = _transfer_due(booking)
    if due is None:
        raise DomainError(NOT_DUE_MESSAGES.get(booking.status, "Nothing is owed on this booking."),
                          code="nothing_due", status=409)
    kind, due_cents = due
    errors: dict[str, list[str]] = {}
    owed = services.left_to_pay_cents(booking)  # a late transfer for a lapsed hold may still confirm it
    if not isinstance(amount_cents, int) or isinstance(amount_cents, bool) or amount_cents <= 0:
        errors["amount"] = ["Give the amount received, in dollars."]
    elif amount_cents > owed:
        errors["amount"] = [f"That is more than is owed ({format_usd(owed, show_cents=True)}). Record what is "
                            "owed and return the difference."]
    elif kind == "deposit" and amount_cents < due_cents:
        errors["amount"] = [f"The deposit due is {format_usd(due_cents, show_cents=True)}: a smaller transfer "
                            "cannot confirm the seat. Ask the applicant for the rest, and record the transfers "
                            "together once the deposit is complete."]
    bank_reference = _clean_text(bank_reference, "bank_reference", BANK_REFERENCE_MAX_LENGTH, errors)
    if not bank_reference and "bank_reference" not in errors:
        errors["bank_reference"] = ["Give the reference of the transfer on the clinic's bank statement."]
    note = _clean_text(note, "note", NOTE_MAX_LENGTH, errors)
    if "bank_reference" not in errors and (recorded := _recorded_transfer(bank_reference)) is not None:
        errors.update(_duplicate_reference(recorded).fields)
    if errors:
        db.session.rollback()
        raise ValidationFailed(errors)
    outcome = services.payment_received(
        booking.reference, kind=kind, amount_cents=amount_cents, provider="offline",
        provider_reference=bank_reference, recorded_by=staff, note=note or f"bank transfer ({kind})", actor=staff)
    if not outcome.created:  # recorded by a colleague between our check and our write
        raise _duplicate_reference(outcome.payment)
    return outcome


# --- Cancelling one booking --------------------------------------------------------------------------------------

@dataclass(frozen=True)
class Cancelled:
    reference: str
    quote: services.CancellationQuote
    owed_by_transfer_cents: int  # of the refund: to be sent by the clinic's bank
    refund_pending_cents: int = 0  # of the refund: the provider could not make it yet (the retry job will)


def cancel_for_staff(reference: str, *, by: object, refund_override_cents: int | None = None,
                     reason: object = "", staff) -> Cancelled:
    """Cancel a booking from the console: on the applicant's behalf (the refund policy applies) or by the
    clinic (everything paid is refunded). A different refund needs a reason; both are audited."""
    booking = get_booking(reference)
    errors: dict[str, list[str]] = {}
    if by not in CANCELLED_BY:
        errors["by"] = ["Choose who is cancelling: the applicant, or the clinic."]
    reason = _clean_text(reason, "reason", REASON_MAX_LENGTH, errors)
    if refund_override_cents is not None and not reason and "reason" not in errors:
        errors["reason"] = ["Give the reason for refunding a different amount; it is kept in the audit log."]
    if errors:
        db.session.rollback()
        raise ValidationFailed(errors)
    default_reason = ("cancelled by the clinic" if by == "clinic"
                      else "cancelled by staff at the applicant's request")
    try:
        quote = services.cancel_booking(booking, by=by, actor=staff, refund_override_cents=refund_override_cents,
                                        reason=reason or default_reason)
    except ValidationFailed as refusal:
        raise ValidationFailed({("refund" if field == "refund_cents" else field): reasons
                                for field, reasons in refusal.fields.items()}) from None
    return Cancelled(booking.reference, quote, owed_by_transfer_cents(ledger.payments_of(booking.id)),
                     ledger.refunds_to_send_cents(booking.id))
