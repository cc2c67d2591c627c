"""A booking's documents for the applicant to claim with (HSA/FSA plans, out-of-network insurers): the receipt
(an itemised statement with every payment and refund so far, and the balance) and the superbill (the medical
services with their CPT codes, the diagnosis, the clinic's NPI and tax id). Rendered as PDFs from
templates/documents/ (web.pdf). The clinic does not bill insurers: both say so.

The items are the booking's program priced under the price list version frozen into the booking, then the
discount and the reduced fee taken off; should they not add up to the price frozen at booking (the program's
sessions edited since), a line says so, so the statement always ends at the price the applicant was charged.
"""

from dataclasses import dataclass
from datetime import date

from flask import current_app

from retreat.booking import superbills
from retreat.booking.access import booking_by_reference
from retreat.booking.emails import RECEIPT_ATTACHMENT
from retreat.booking.models import Booking
from retreat.booking.payments import outstanding_cents
from retreat.booking.states import BOOKING_STATUS_LABELS
from retreat.core import clinic
from retreat.core.clock import now
from retreat.notify import services as notify
from retreat.payments import ledger, refunds
from retreat.pricing import estimator
from retreat.pricing import services as pricing
from retreat.web.pdf import PDF_CONTENT_TYPE, render_pdf

KIND_WORDS = {"deposit": "Deposit", "balance": "Balance", "installment": "Installment", "refund": "Refund"}
METHOD_WORDS = {"stripe": "card", "offline": "bank transfer", "demo": "test payment, no money moved"}


@dataclass(frozen=True)
class Line:
    label: str
    cpt_code: str
    quantity: int | None
    unit: str
    unit_cents: int | None
    total_cents: int
    medical: bool


@dataclass(frozen=True)
class MoneyLine:
    on: date
    what: str
    how: str
    reference: str
    amount_cents: int


@dataclass(frozen=True)
class Statement:
    booking: Booking
    issued_on: date
    items: tuple[Line, ...]
    adjustments: tuple[Line, ...]  # the discount, the reduced fee, a difference from the frozen price
    money: tuple[MoneyLine, ...]
    paid_cents: int  # net of refunds (refunds decided but not sent yet count as returned)
    balance_cents: int
    hsa_fsa_eligible_cents: int

    @property
    def list_price_cents(self) -> int:
        return sum(item.total_cents for item in self.items)


def clinic_identity() -> dict[str, str]:
    config = current_app.config
    return {"name": clinic.name(), "address": config.get("CLINIC_ADDRESS") or "",
            "phone": config.get("CLINIC_PHONE") or "", "email": config.get("CLINIC_EMAIL") or "",
            "npi": config.get("CLINIC_NPI") or "", "tax_id": config.get("CLINIC_TAX_ID") or ""}


def booked_items(booking: Booking) -> tuple[estimator.LineItem, ...]:
    """The booking's program priced under its frozen price list version, with its lodging."""
    program = booking.cohort.program
    configuration = estimator.Configuration(
        program.duration_days, program.ketamine_route, program.dosing_sessions, program.therapy_modality,
        program.integration_sessions, program.intensive_sessions, booking.lodging)
    return estimator.estimate(configuration, pricing.price_sheet(booking.price_list_version)).line_items


def statement(booking: Booking) -> Statement:
    items = tuple(Line(item.label, item.cpt_code, item.quantity, item.unit, item.unit_cents, item.total_cents,
                       item.hsa_fsa_eligible) for item in booked_items(booking))
    adjustments = []
    listed = sum(item.total_cents for item in items)
    if listed != booking.list_price_cents:
        adjustments.append(Line("Difference from the price fixed when you booked", "", None, "", None,
                                booking.list_price_cents - listed, False))
    if booking.discount_cents:
        code = f" (code {booking.discount_code})" if booking.discount_code else ""
        adjustments.append(Line(f"Discount{code}", "", None, "", None, -booking.discount_cents, False))
    if booking.reduction_cents:
        adjustments.append(Line("Reduced fee granted by the clinic", "", None, "", None, -booking.reduction_cents,
                                False))
    money = [MoneyLine(clinic.clinic_date(payment.created_at), KIND_WORDS.get(payment.kind, payment.kind.title()),
                       METHOD_WORDS.get(payment.provider, payment.provider)
                       + (", owed: the clinic sends it by bank transfer" if payment.status == "pending" else ""),
                       payment.provider_reference, payment.amount_cents)
             for payment in ledger.payments_of(booking.id)]
    money += [MoneyLine(clinic.clinic_date(refund.created_at), KIND_WORDS["refund"],
                        METHOD_WORDS.get(refund.payment.provider, refund.payment.provider) + ", on its way",
                        "", -refund.amount_cents)
              for refund in refunds.pending_of(booking.id)]
    return Statement(
        booking=booking, issued_on=clinic.clinic_date(now()), items=items, adjustments=tuple(adjustments),
        money=tuple(money), paid_cents=ledger.paid_cents(booking.id), balance_cents=outstanding_cents(booking),
        hsa_fsa_eligible_cents=sum(item.total_cents for item in items if item.medical))


def receipt_filename(booking: Booking) -> str:
    return f"receipt-{booking.reference}.pdf"


def superbill_filename(booking: Booking) -> str:
    return f"superbill-{booking.reference}.pdf"


def receipt_pdf(booking: Booking) -> bytes:
    """The receipt and itemised statement of the booking as it stands now."""
    return render_pdf("documents/receipt.html", statement=statement(booking), booking=booking,
                      cohort=booking.cohort, program=booking.cohort.program, clinic=clinic_identity(),
                      status_label=BOOKING_STATUS_LABELS[booking.status])


def superbill_pdf(booking: Booking) -> bytes:
    """The superbill; raises superbills.SuperbillNotReady (409 superbill_not_ready) until everything it needs is
    there."""
    superbills.check_superbill_ready(booking)
    return render_pdf("documents/superbill.html", statement=statement(booking), booking=booking,
                      cohort=booking.cohort, program=booking.cohort.program, clinic=clinic_identity(),
                      diagnosis=superbills.diagnosis(booking), birth_date=superbills.birth_date(booking))


def _make_receipt(reference: str) -> tuple[str, str, bytes]:
    """The receipt an email names (emails.receipt_attachment), made as the email is sent."""
    booking = booking_by_reference(reference)
    return receipt_filename(booking), PDF_CONTENT_TYPE, receipt_pdf(booking)


notify.register_attachment(RECEIPT_ATTACHMENT, _make_receipt)
