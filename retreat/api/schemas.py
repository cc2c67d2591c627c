"""Marshmallow schemas of the public API: request schemas validate bodies (unknown fields are refused);
response schemas describe what the API sends. The OpenAPI document is generated from both."""

from marshmallow import EXCLUDE, Schema, fields, validate

from retreat.pricing import rules
from retreat.screening import rules as screening_rules
from retreat.screening.questions import Answers

ALL_DOSING = [bounds for bounds in rules.DOSING_SESSIONS_BY_ROUTE.values()]


def _strict_int(**kwargs) -> fields.Integer:
    return fields.Integer(strict=True, **kwargs)


class ResponseSchema(Schema):
    """Responses may grow fields; the document does not forbid extra ones."""

    class Meta:
        unknown = EXCLUDE


# --- Requests ---------------------------------------------------------------------------------------------

class ProgramEstimateRequest(Schema):
    program = fields.String(required=True, validate=validate.Length(min=1, max=80),
                            metadata={"description": "A published program's slug."})
    lodging = fields.String(required=True, validate=validate.OneOf(rules.LODGING_KINDS))


class CustomEstimateRequest(Schema):
    duration_days = _strict_int(required=True, validate=validate.Range(rules.DURATION_DAYS.low,
                                                                         rules.DURATION_DAYS.high))
    ketamine_route = fields.String(required=True, validate=validate.OneOf(rules.KETAMINE_ROUTES))
    dosing_sessions = _strict_int(
        required=True,
        validate=validate.Range(min(b.low for b in ALL_DOSING), max(b.high for b in ALL_DOSING)),
        metadata={"description": "4 to 6 for iv, im and sublingual; 2 to 4 for esketamine."},
    )
    therapy_modality = fields.String(required=True, validate=validate.OneOf(rules.THERAPY_MODALITIES))
    integration_sessions = _strict_int(
        required=True, validate=validate.Range(min(b.low for b in ALL_DOSING), rules.INTEGRATION_SESSIONS_MAX),
        metadata={"description": "At least dosing_sessions, at most 10."},
    )
    intensive_sessions = _strict_int(required=True, validate=validate.Range(rules.INTENSIVE_SESSIONS.low,
                                                                              rules.INTENSIVE_SESSIONS.high))
    lodging = fields.String(required=True, validate=validate.OneOf(rules.LODGING_KINDS))


# --- Responses --------------------------------------------------------------------------------------------

class PriceRangeSchema(ResponseSchema):
    min_cents = fields.Integer(required=True)
    max_cents = fields.Integer(required=True)
    currency = fields.String(required=True, validate=validate.OneOf(["usd"]))


class CohortSchema(ResponseSchema):
    id = fields.Integer(required=True)
    start_date = fields.Date(required=True)
    end_date = fields.Date(required=True)
    capacity = fields.Integer(required=True)
    seats_left = fields.Integer(required=True)
    status = fields.String(required=True, validate=validate.OneOf(["open", "full", "closed"]))


class ProgramSchema(ResponseSchema):
    slug = fields.String(required=True)
    name = fields.String(required=True)
    summary = fields.String(required=True)
    duration_days = fields.Integer(required=True)
    ketamine_route = fields.String(required=True, validate=validate.OneOf(rules.KETAMINE_ROUTES))
    therapy_modality = fields.String(required=True, validate=validate.OneOf(rules.THERAPY_MODALITIES))
    dosing_sessions = fields.Integer(required=True)
    integration_sessions = fields.Integer(required=True)
    intensive_sessions = fields.Integer(required=True)
    lodging_options = fields.List(fields.String(validate=validate.OneOf(rules.LODGING_KINDS)), required=True)
    price_range = fields.Nested(PriceRangeSchema, required=True)
    cohorts = fields.List(fields.Nested(CohortSchema), required=True,
                          metadata={"description": "Upcoming cohorts only, soonest first."})


class ProgramListSchema(ResponseSchema):
    programs = fields.List(fields.Nested(ProgramSchema), required=True)


class LineItemSchema(ResponseSchema):
    code = fields.String(required=True)
    label = fields.String(required=True)
    quantity = fields.Integer(required=True)
    unit_cents = fields.Integer(required=True)
    total_cents = fields.Integer(required=True)
    hsa_fsa_eligible = fields.Boolean(required=True)


class EstimateSchema(ResponseSchema):
    id = fields.String(required=True)
    currency = fields.String(required=True, validate=validate.OneOf(["usd"]))
    price_list_version = fields.Integer(required=True)
    line_items = fields.List(fields.Nested(LineItemSchema), required=True)
    total_cents = fields.Integer(required=True)
    deposit_cents = fields.Integer(required=True)
    balance_cents = fields.Integer(required=True)
    hsa_fsa_eligible_cents = fields.Integer(required=True)
    custom_quote_required = fields.Boolean(required=True)
    valid_until = fields.Date(required=True)
    balance_due_days_before_start = fields.Integer(
        required=True, metadata={"description": "The balance is due this many days before the cohort starts."})
    program = fields.String(allow_none=True, required=True,
                            metadata={"description": "The program's slug, for a program estimate."})


class ErrorBodySchema(ResponseSchema):
    code = fields.String(required=True)
    message = fields.String(required=True)
    field_errors = fields.Dict(keys=fields.String(), values=fields.List(fields.String()), data_key="fields",
                               metadata={"description": "Each invalid field and why (validation errors only)."})


class ErrorSchema(ResponseSchema):
    error = fields.Nested(ErrorBodySchema, required=True)


# --- Pre-screening ----------------------------------------------------------------------------------------

class ScreeningRequest(Schema):
    answers = fields.Nested(Answers, required=True)


class ReasonSchema(ResponseSchema):
    code = fields.String(required=True)
    message = fields.String(required=True)
    outcome = fields.String(required=True, validate=validate.OneOf(screening_rules.OUTCOMES))


class CrisisResourceSchema(ResponseSchema):
    name = fields.String(required=True)
    contact = fields.String(required=True)


class ScreeningResultSchema(ResponseSchema):
    id = fields.Integer(required=True)
    token = fields.String(required=True, metadata={
        "description": "A secret to book with; single use, valid until valid_until. Keep it private."})
    outcome = fields.String(required=True, validate=validate.OneOf(screening_rules.OUTCOMES))
    rules_version = fields.Integer(required=True)
    reasons = fields.List(fields.Nested(ReasonSchema), required=True)
    urgent = fields.Boolean(required=True)
    phq9_total = fields.Integer(required=True)
    phq9_severity = fields.String(required=True, validate=validate.OneOf(
        [band for _, _, band in screening_rules.PHQ9_BANDS]))
    crisis_resources = fields.List(fields.Nested(CrisisResourceSchema), required=True)
    valid_until = fields.DateTime(required=True)
