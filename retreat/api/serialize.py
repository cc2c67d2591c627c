"""Plain dictionaries for API responses; their shapes are described by retreat.api.schemas."""

from retreat.catalog.services import ProgramView
from retreat.core.money import CURRENCY
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
    screening = submitted.screening
    return {
        "id": screening.id,
        "token": submitted.token,
        "outcome": screening.outcome,
        "rules_version": screening.rules_version,
        "reasons": screening.reasons,
        "urgent": screening.urgent,
        "phq9_total": screening.phq9_total,
        "phq9_severity": screening.phq9_severity,
        "crisis_resources": list(crisis_resources()),
        "valid_until": screening.expires_at.isoformat(),
    }


def error_json(code: str, message: str, fields: dict[str, list[str]] | None = None) -> dict:
    body = {"code": code, "message": message}
    if fields:
        body["fields"] = fields
    return {"error": body}
