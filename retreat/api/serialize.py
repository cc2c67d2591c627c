"""Plain dictionaries for API responses; their shapes are described by retreat.api.schemas."""

from retreat.booking import hold_rules as holds
from retreat.booking import plans, policy
from retreat.booking import services as booking_services
from retreat.booking.emails import manage_url
from retreat.booking.models import Booking
from retreat.catalog.services import ProgramView
from retreat.core.money import CURRENCY
from retreat.payments import ledger
from retreat.payments.models import Payment
from retreat.pricing.services import IssuedEstimate
from retreat.screening.services import Submitted, crisis_resources


def program_json(program: ProgramView) -> dict:
    return {
        "slug": program.slug,
        "name": program.name,
        "summary": program.summary,
        "duration_days": program.duration_days,
        "ketamine_route": program.ketamine_route,
        "therapy_modality": program.therapy_modality,
        "dosing_sessions": program.dosing_sessions,
        "integration_sessions": program.integration_sessions,
        "intensive_sessions": program.intensive_sessions,
        "lodging_options": list(program.lodging_options),
        "price_range": {"min_cents": program.price_min_cents, "max_cents": program.price_max_cents,
                        "currency": CURRENCY},
        "cohorts": [
            {"id": cohort.id, "start_date": cohort.start_date.isoformat(),
             "end_date": cohort.end_date.isoformat(), "capacity": cohort.capacity,
             "seats_left": cohort.seats_left, "status": cohort.status}
            for cohort in program.cohorts
        ],
    }


def estimate_json(issued: IssuedEstimate) -> dict:
    estimate = issued.estimate
    return {
        "id": issued.id,
        "currency": CURRENCY,
        "price_list_version": estimate.price_list_version,
        "line_items": [
            {"code": item.code, "label": item.label, "quantity": item.quantity, "unit_cents": item.unit_cents,
             "total_cents": item.total_cents, "hsa_fsa_eligible": item.hsa_fsa_eligible}
            for item in estimate.line_items
        ],
        "total_cents": estimate.total_cents,
        "deposit_cents": estimate.deposit_cents,
        "balance_cents": estimate.balance_cents,
        "hsa_fsa_eligible_cents": estimate.hsa_fsa_eligible_cents,
        "custom_quote_required": estimate.custom_quote_required,
        "valid_until": issued.valid_until.isoformat(),
        "balance_due_days_before_start": estimate.balance_due_days_before_start,
        "program": issued.program_slug,
    }


def screening_json(submitted: Submitted) -> dict:
    """The applicant's own result, in the 201 of the request that submitted it: the findings come from memory
    (the stored copy is encrypted)."""
    screening = submitted.screening
    findings = submitted.findings
    return {
        "id": screening.id,
        "token": submitted.token,
        "outcome": screening.outcome,
        "rules_version": screening.rules_version,
        "reasons": list(findings.reasons),
        "urgent": screening.urgent,
        "phq9_total": findings.phq9_total,
        "phq9_severity": findings.phq9_severity,
        "crisis_resources": list(crisis_resources()),
        "valid_until": screening.expires_at.isoformat(),
    }


def payment_json(payment: Payment) -> dict:
    """One movement of money of a booking, as the applicant sees it (refunds negative)."""
    return {"id": payment.id, "kind": payment.kind, "amount_cents": payment.amount_cents,
            "currency": payment.currency, "status": payment.status, "provider": payment.provider,
            "created_at": payment.created_at.isoformat()}


def payment_state_json(booking: Booking) -> dict:
    """What the applicant can pay now, without asking the provider to start anything (no Stripe call)."""
    state = {"provider": booking.payment_provider}
    if booking.status == "pending_review":
        return {**state, "status": "awaiting_review"}
    due = booking_services.next_payment(booking)
    if due is None:
        return {**state, "status": "paid" if booking.status == "paid_in_full" else "none"}
    kind, cents = due
    state.update(status="awaiting_transfer" if booking.payment_provider == "offline" else "requires_payment",
                 kind=kind, amount_cents=cents, currency=CURRENCY)
    if kind == "balance" and booking.balance_due_date is not None:
        state["due_date"] = booking.balance_due_date.isoformat()
    return state


def booking_json(booking: Booking, payment: dict | None = None) -> dict:
    """A booking for the applicant who holds its manage token: no pre-screen detail ever appears here.
    `payment` is what a payment start returned; by default, what can be paid now."""
    token = booking_services.manage_token(booking)
    return {
        "reference": booking.reference,
        "status": booking.status,
        "cohort_id": booking.cohort_id,
        "lodging": booking.lodging,
        "currency": CURRENCY,
        "total_cents": booking.total_cents,
        "discount_cents": booking.discount_cents,
        "deposit_cents": booking.deposit_cents,
        "balance_cents": booking.balance_cents,
        "paid_cents": ledger.paid_cents(booking.id),
        "owed_cents": booking_services.outstanding_cents(booking),
        "balance_due_date": booking.balance_due_date.isoformat() if booking.balance_due_date else None,
        "hold_expires_at": booking.hold_expires_at.isoformat() if booking.hold_expires_at else None,
        "email_confirmation_required": holds.needs_email_confirmation(booking),
        "manage_token": token,
        "manage_url": manage_url(token),
        "payment": payment if payment is not None else payment_state_json(booking),
        "payments": [payment_json(movement) for movement in ledger.payments_of(booking.id)],
        "cancellation_policy": policy.public_policy(),
        "payment_plan": booking.payment_plan,
        "payment_schedule": [part.as_json() for part in plans.schedule_of(booking)],
    }


def cancelled_booking_json(quote: booking_services.CancellationQuote) -> dict:
    return {**booking_json(quote.booking),
            "refund": {"amount_cents": quote.refund_cents, "currency": CURRENCY, "rule": quote.rule}}


def waitlist_json(waiting: booking_services.Waiting) -> dict:
    entry = waiting.entry
    return {"id": entry.id, "cohort_id": entry.cohort_id, "position": waiting.position, "lodging": entry.lodging}
