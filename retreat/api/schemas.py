"""Marshmallow schemas of the public API: request schemas validate bodies (unknown fields are refused);
response schemas describe what the API sends. The OpenAPI document is generated from both."""

from marshmallow import EXCLUDE, Schema, ValidationError, fields, validate

from retreat.booking import policy
from retreat.booking.models import BOOKING_STATUSES, PAYMENT_PLANS, SCHEDULE_KINDS
from retreat.payments.models import PAYMENT_KINDS, PAYMENT_PROVIDERS, PAYMENT_STATUSES, REQUESTED_KINDS
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


# --- Finance (staff API tokens) -----------------------------------------------------------------------------

class FinancePaymentSchema(ResponseSchema):
    """One movement of money: the columns of the CSV/XLSX export, money as integer cents."""

    date = fields.Date(required=True, metadata={"description": "The payment's UTC date."})
    payment_id = fields.Integer(required=True)
    booking_reference = fields.String(required=True)
    payer_name = fields.String(required=True)
    payer_email = fields.String(required=True)
    program = fields.String(required=True)
    cohort_start = fields.Date(required=True)
    kind = fields.String(required=True, validate=validate.OneOf(PAYMENT_KINDS))
    provider = fields.String(required=True, validate=validate.OneOf(["stripe", "offline", "demo"]))
    provider_reference = fields.String(required=True)
    status = fields.String(required=True, validate=validate.OneOf(["succeeded", "pending"]))
    currency = fields.String(required=True)
    amount_cents = fields.Integer(required=True, metadata={"description": "Refunds are negative."})
    fee_cents = fields.Integer(required=True, allow_none=True, metadata={"description": "null when not known."})
    net_cents = fields.Integer(required=True, allow_none=True, metadata={"description": "null when not known."})
    created_at = fields.DateTime(required=True)


class FinancePaymentListSchema(ResponseSchema):
    from_ = fields.Date(required=True, data_key="from")
    to = fields.Date(required=True)
    payments = fields.List(fields.Nested(FinancePaymentSchema), required=True,
                           metadata={"description": "Oldest first."})


# --- Bookings and the waitlist ------------------------------------------------------------------------------

class StrictBoolean(fields.Boolean):
    """JSON true or false only: marshmallow would otherwise read 1, "1" or "yes" as true."""

    def _deserialize(self, value, attr, data, **kwargs):
        if not isinstance(value, bool):
            raise self.make_error("invalid", input=value)
        return value


def _plain_text(value: str) -> None:
    """Refuse invisible control characters (PostgreSQL cannot even store a NUL) and lone surrogates (JSON can
    escape them; no UTF-8 can hold them). Tabs and line breaks are whitespace, which the booking service tidies."""
    for character in value:
        if (ord(character) < 32 and character not in "\t\n\r") or character == "\x7f":
            raise ValidationError("Remove the invisible control characters from this text.")
        if "\ud800" <= character <= "\udfff":
            raise ValidationError("This text is not valid Unicode.")


def _text(max_length: int, description: str) -> fields.String:
    return fields.String(required=True, validate=[validate.Length(max=max_length), _plain_text],
                         metadata={"description": description})


class ApplicantRequest(Schema):
    first_name = _text(100, "Required: at most 100 characters.")
    last_name = _text(100, "Required: at most 100 characters.")
    email = _text(254, "An email address like name@example.com; booking emails go there.")
    phone = _text(25, "A phone number with its area code: 7 to 15 digits, spaces, +, (, ), - and dots.")


SCREENING_TOKEN_DESCRIPTION = ("The `token` of the applicant's pre-screen (POST /api/v1/screenings), or of the "
                               "link in a clinician's approval email: unexpired, not used for a booking yet, "
                               "and not `ineligible` or `crisis`.")


def _screening_token(description: str) -> fields.String:
    return fields.String(required=True, validate=[validate.Length(min=1, max=200), _plain_text],
                         metadata={"description": description})


COHORT_ID = dict(required=True, validate=validate.Range(1, 2**31 - 1),
                 metadata={"description": "An upcoming cohort of a published program (GET /api/v1/programs)."})


class BookingRequest(Schema):
    cohort_id = _strict_int(**COHORT_ID)
    screening_token = _screening_token(SCREENING_TOKEN_DESCRIPTION)
    lodging = fields.String(required=True, validate=validate.OneOf(rules.LODGING_KINDS),
                            metadata={"description": "One of the program's lodging options."})
    applicant = fields.Nested(ApplicantRequest, required=True)
    payment_provider = fields.String(validate=validate.OneOf(PAYMENT_PROVIDERS), metadata={"description": (
        "Optional: how the applicant will pay, one of the providers this clinic offers: its card provider "
        "(`stripe`; `demo` in development) and, where set up, `offline` (bank transfer, which holds the seat for "
        f"{policy.HOLD_FOR_BANK_TRANSFER.days} days). Default: the card provider. Another value is a 422.")})
    save_card = StrictBoolean(metadata={"description": (
        "Optional, default false. With Stripe: the applicant consents to the card that pays the deposit being "
        "kept and charged for the balance when it falls due.")})
    policy_accepted = StrictBoolean(required=True, metadata={"description": (
        "Required, and must be `true`: the applicant read and accepted the cancellation and refund policy "
        "(`cancellation_policy` of the booking; the booking records its version and when). Otherwise a 422 "
        "naming `policy_accepted`, and nothing is held.")})
    promo_code = fields.String(validate=[validate.Length(min=1, max=40), _plain_text], metadata={"description": (
        "Optional: a discount code (letters and digits; capitals or not). Its discount comes off the price, and the "
        "deposit rule applies to the discounted total (`discount_cents`). An unknown, inactive, expired, used-up "
        "code, or one not for this program, is a 422 naming `promo_code`, and nothing is held.")})
    payment_plan = fields.String(validate=validate.OneOf(PAYMENT_PLANS), metadata={"description": (
        "Optional, default `deposit`: the deposit now and the balance by its due date. `full`: the whole price now. "
        "`installments`: the deposit now, then the balance in 2 to 4 monthly parts charged to the card that pays "
        "the deposit (the applicant consents to these charges by choosing it), the last by the balance due date. "
        "Where fewer than 2 monthly parts fit before the balance due date, or the payment provider cannot charge a "
        "saved card (bank transfer), `installments` is a 422 naming `payment_plan`, and nothing is held.")})


class WaitlistRequest(Schema):
    cohort_id = _strict_int(**COHORT_ID)
    screening_token = _screening_token(SCREENING_TOKEN_DESCRIPTION + " The pre-screen stays unused until a seat is "
                                                                     "offered.")
    applicant = fields.Nested(ApplicantRequest, required=True)
    lodging = fields.String(validate=validate.OneOf(rules.LODGING_KINDS), metadata={
        "description": "Optional: the lodging to hold when a seat is offered; default the program's first "
                       "lodging option."})


class CancelBookingRequest(Schema):
    """A cancellation takes no fields: send no body, or `{}`."""


BOOKING_PAYMENT_STATUSES = ("requires_payment", "awaiting_transfer", "succeeded", "awaiting_review", "unavailable",
                            "paid", "none")


class BookingPaymentSchema(ResponseSchema):
    provider = fields.String(required=True, validate=validate.OneOf(PAYMENT_PROVIDERS))
    status = fields.String(required=True, validate=validate.OneOf(BOOKING_PAYMENT_STATUSES), metadata={
        "description": "`requires_payment`: pay `amount_cents` now (with Stripe, confirm `client_secret` with "
                       "the Payment Element); `awaiting_transfer`: send a bank transfer as `instructions` say, "
                       "quoting `transfer_reference`; `awaiting_review`: nothing can be paid until a clinician "
                       "approves (an email follows); `unavailable`: the payment provider could not be reached, the "
                       "seat stays held: pay from `manage_url`; `paid`: paid in full; `none`: nothing to pay."})
    kind = fields.String(validate=validate.OneOf(REQUESTED_KINDS),
                         metadata={"description": "What is due now, when something is (`installment`: a monthly "
                                                  "part not charged when due)."})
    amount_cents = fields.Integer(metadata={"description": "What is due now, when something is."})
    currency = fields.String(validate=validate.OneOf(["usd"]))
    due_date = fields.Date(metadata={"description": "For the balance: the date it falls due."})
    client_secret = fields.String(metadata={"description": "Stripe, on POST /api/v1/bookings: the PaymentIntent's "
                                                           "client secret, for Stripe.js. Keep it private."})
    payment_intent = fields.String(metadata={"description": "Stripe: the PaymentIntent's id."})
    publishable_key = fields.String(metadata={"description": "Stripe: the publishable key for Stripe.js."})
    instructions = fields.String(metadata={"description": "Bank transfer: where to send the money."})
    transfer_reference = fields.String(metadata={"description": "Bank transfer: quote this with the transfer."})
    note = fields.String(metadata={"description": "Demo payments (development only): what to do."})
    message = fields.String(metadata={"description": "With `unavailable`: what happened and what to do."})


class BookingLedgerEntrySchema(ResponseSchema):
    id = fields.Integer(required=True)
    kind = fields.String(required=True, validate=validate.OneOf(PAYMENT_KINDS))
    amount_cents = fields.Integer(required=True, metadata={"description": "Negative for a refund."})
    currency = fields.String(required=True, validate=validate.OneOf(["usd"]))
    status = fields.String(required=True, validate=validate.OneOf(PAYMENT_STATUSES), metadata={
        "description": "`pending`: a refund owed by bank transfer, not sent yet."})
    provider = fields.String(required=True, validate=validate.OneOf(PAYMENT_PROVIDERS))
    created_at = fields.DateTime(required=True)


class PolicyRuleSchema(ResponseSchema):
    min_days_before_start = fields.Integer(required=True, metadata={
        "description": "The rule applies to a cancellation at least this many days before the cohort starts."})
    refund_percent = fields.Integer(required=True, metadata={"description": "Of what was paid."})
    fee_cents = fields.Integer(required=True, metadata={"description": "Kept from the refund (never below zero)."})


class CancellationPolicySchema(ResponseSchema):
    version = fields.String(required=True, metadata={
        "description": "The policy's version; a booking records the one its applicant accepted."})
    text = fields.String(required=True, metadata={"description": "The policy in words, written from `rules`."})
    rules = fields.List(fields.Nested(PolicyRuleSchema), required=True, metadata={
        "description": "An applicant's cancellation: the first rule (highest `min_days_before_start` first) that "
                       "applies gives the refund."})


class PaymentScheduleItemSchema(ResponseSchema):
    due_date = fields.Date(required=True)
    amount_cents = fields.Integer(required=True)
    kind = fields.String(required=True, validate=validate.OneOf(SCHEDULE_KINDS))


class BookingSchema(ResponseSchema):
    reference = fields.String(required=True, metadata={"description": "Like RT-7K3M9Q; quote it to the clinic."})
    status = fields.String(required=True, validate=validate.OneOf(BOOKING_STATUSES))
    cohort_id = fields.Integer(required=True)
    lodging = fields.String(required=True, validate=validate.OneOf(rules.LODGING_KINDS))
    currency = fields.String(required=True, validate=validate.OneOf(["usd"]))
    total_cents = fields.Integer(required=True, metadata={
        "description": "The price, frozen when booked: what is to be paid, after any discount."})
    discount_cents = fields.Integer(required=True, metadata={
        "description": "Taken off the list price by the booking's discount code (`promo_code`); 0 without one."})
    deposit_cents = fields.Integer(required=True)
    balance_cents = fields.Integer(required=True, metadata={
        "description": "The price less the deposit, frozen when booked: 0 for a cohort that starts within the "
                       "price list's balance due days (14 by default): its whole price is the deposit."})
    paid_cents = fields.Integer(required=True, metadata={"description": "Paid so far, net of refunds."})
    owed_cents = fields.Integer(required=True, metadata={
        "description": "What is still owed now: the total less what was received, while the booking holds a seat "
                       "or has one; 0 once it is cancelled, declined or expired (or its hold lapsed)."})
    balance_due_date = fields.Date(required=True, allow_none=True, metadata={
        "description": "When the balance falls due; null when there is no balance."})
    hold_expires_at = fields.DateTime(required=True, allow_none=True, metadata={
        "description": "While `held` or `pending_review`: the seat is kept until then; null once confirmed."})
    email_confirmation_required = fields.Boolean(required=True, metadata={
        "description": "True while a hold that may last longer than the card hold (bank transfer, a clinician's "
                       "review) waits for the applicant to open the link emailed to them: until then it lasts only "
                       "until `hold_expires_at`, and a review is not yet asked for."})
    manage_token = fields.String(required=True, metadata={
        "description": "The secret to manage this booking with (`Authorization: Bearer <manage_token>`); the "
                       "applicant's emails carry it in `manage_url`. Keep it private."})
    manage_url = fields.String(required=True, metadata={
        "description": "The applicant's private page for this booking: status, paying, cancelling."})
    payment = fields.Nested(BookingPaymentSchema, required=True, metadata={
        "description": "On POST /api/v1/bookings: the deposit payment, started with the provider (with its own "
                       "fields, such as Stripe's `client_secret`). On GET and cancel: what can be paid now, without "
                       "starting a payment; the applicant pays on `manage_url`."})
    payments = fields.List(fields.Nested(BookingLedgerEntrySchema), required=True,
                           metadata={"description": "Every movement of money, oldest first."})
    cancellation_policy = fields.Nested(CancellationPolicySchema, required=True, metadata={
        "description": "The cancellation and refund policy."})
    payment_plan = fields.String(required=True, validate=validate.OneOf(PAYMENT_PLANS))
    payment_schedule = fields.List(fields.Nested(PaymentScheduleItemSchema), required=True, metadata={
        "description": "When each part is paid: the deposit (the whole price with `full`, or for dates that start "
                       "soon), then the balance, or each monthly part of `installments`."})


class CancellationRefundSchema(ResponseSchema):
    amount_cents = fields.Integer(required=True, metadata={"description": "Refunded by this cancellation."})
    currency = fields.String(required=True, validate=validate.OneOf(["usd"]))
    rule = fields.String(required=True, metadata={"description": "The cancellation policy's rule that applied."})


class CancelledBookingSchema(BookingSchema):
    refund = fields.Nested(CancellationRefundSchema, required=True)


class WaitlistEntrySchema(ResponseSchema):
    id = fields.Integer(required=True)
    cohort_id = fields.Integer(required=True)
    position = fields.Integer(required=True, metadata={"description": "1 is first in line."})
    lodging = fields.String(required=True, validate=validate.OneOf(rules.LODGING_KINDS))


class PersonalDataSchema(ResponseSchema):
    """GET /api/v1/bookings/{reference}/data: one key per section of retreat.arrival.personal_data.SECTIONS. More
    sections may be added; a client keeps those it does not know."""

    reference = fields.String(required=True)
    exported_at = fields.DateTime(required=True)
    booking = fields.Dict(required=True, metadata={
        "description": "Names, contacts, dates, status, prices (integer cents) and the cancellation policy "
                       "accepted."})
    payments = fields.List(fields.Dict(), required=True, metadata={
        "description": "Every movement of money: date, kind, amount_cents (refunds negative), status, provider "
                       "and provider_reference."})
    screening = fields.Dict(required=True, allow_none=True, metadata={
        "description": "The pre-screen the booking was made with: each answer with its question's wording, what "
                       "the rules found, and the clinician's review status; null without one."})
    consent = fields.List(fields.Dict(), required=True, metadata={
        "description": "Each informed consent signed: the version, the name typed, when, from which address, and "
                       "the sha256 of the version's text."})
    intake = fields.Dict(required=True, metadata={
        "description": "The intake as given (emergency contact, needs, medications, allergies, ride home, arrival "
                       "time, roommate preference); {} when none."})
    documents = fields.List(fields.Dict(), required=True, metadata={
        "description": "The documents sent, by name, type, size and time; never their content."})
    clearance = fields.Dict(required=True, metadata={
        "description": "The clinic's medical clearance (cleared or needs follow-up, its note, when); {} when none."})
    room = fields.Dict(required=True, metadata={"description": "The room placed in and when; {} when none."})
    superbill = fields.Dict(required=True, allow_none=True, metadata={
        "description": "The date of birth given for the superbill and its diagnosis codes; null when none."})
    reduced_fee = fields.Dict(required=True, allow_none=True, metadata={
        "description": "A request for a reduced fee, its reason and the decision; null when none."})
    waitlist = fields.List(fields.Dict(), required=True)
    emails = fields.List(fields.Dict(), required=True, metadata={
        "description": "The emails sent to the applicant: when, to which address, and their subject."})
