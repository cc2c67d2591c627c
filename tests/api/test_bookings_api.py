"""Contract tests of the booking API (shared/API.md, "Bookings"): POST /api/v1/bookings holds a seat with a
pre-screen token, GET and POST .../cancel work with the booking's manage token only, and every refusal has its
status, stable code and named fields, with nothing held."""

import copy
import json
import re
from datetime import datetime, timedelta

import pytest
import sqlalchemy as sa
import time_machine

from retreat import create_app
from retreat.booking import hold_rules as holds
from retreat.booking import policy, services
from retreat.booking.models import Booking
from retreat.core.clock import now, today
from retreat.extensions import db
from retreat.payments import providers
from retreat.payments.models import Payment
from retreat.screening import services as screening_services
from retreat.screening.models import Screening
from tests.booking.support import (
    APPLICANT,
    booking_body,
    eligible_token,
    ineligible_token,
    make_cohort,
    make_program,
    review_token,
)
from tests.screening.test_rules import answers, cssrs

URL = "/api/v1/bookings"
DROP = object()

BOOKING_FIELDS = {"reference", "status", "cohort_id", "lodging", "currency", "total_cents", "discount_cents",
                  "deposit_cents",
                  "balance_cents", "paid_cents", "balance_due_date", "hold_expires_at", "manage_token", "manage_url",
                  "payment", "payments", "email_confirmation_required", "cancellation_policy", "owed_cents",
                  "payment_plan", "payment_schedule"}
PAYMENT_FIELDS = {"id", "kind", "amount_cents", "currency", "status", "provider", "created_at"}
# The test program (tests/booking/support.py) with a shared room: $4,970, deposit 20% = $994.
TOTAL, DEPOSIT = 497000, 99400
ISO_UTC = re.compile(r"\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}(\.\d+)?\+00:00")


def crisis_token() -> str:
    plan = cssrs(wish_dead=True, suicidal_thoughts=True, method=False, intent=False, plan=True)
    return screening_services.submit(answers(cssrs=plan)).token


def booking_count() -> int:
    return db.session.scalar(sa.select(sa.func.count()).select_from(Booking))


def screening_of(token: str) -> Screening:
    db.session.expire_all()
    return screening_services.by_token(token)


def error_of(response, status: int, code: str) -> dict:
    assert response.status_code == status, response.get_data(as_text=True)
    assert response.mimetype == "application/json"
    error = response.get_json()["error"]
    assert error["code"] == code and error["message"]
    return error


def bearer(token: str) -> dict:
    return {"Authorization": f"Bearer {token}"}


def book(client, cohort, token=None, **changes) -> dict:
    response = client.post(URL, json=booking_body(cohort, token or eligible_token(), **changes))
    assert response.status_code == 201, response.get_data(as_text=True)
    return response.get_json()


def pay_deposit(created: dict) -> None:
    services.payment_received(created["reference"], kind="deposit", amount_cents=created["deposit_cents"],
                              provider="demo", provider_reference=f"demo_{created['reference']}")


# --- 201 ------------------------------------------------------------------------------------------------------

# token, status, payment, how long the seat is held at first, whether the email must be confirmed to keep it longer
CREATED_CASES = {
    "eligible": (eligible_token, "held",
                 {"provider": "demo", "status": "requires_payment", "kind": "deposit", "amount_cents": DEPOSIT},
                 timedelta(minutes=30), False),
    "review": (review_token, "pending_review", {"provider": "demo", "status": "awaiting_review"},
               timedelta(minutes=30), True),
    "approved_review": (lambda: review_token(approved=True), "held",
                        {"provider": "demo", "status": "requires_payment", "kind": "deposit",
                         "amount_cents": DEPOSIT}, timedelta(minutes=30), False),
}


@pytest.mark.parametrize("case", list(CREATED_CASES))
def test_a_usable_pre_screen_holds_a_seat(client, case):
    make_token, status, payment, held_for, confirm = CREATED_CASES[case]
    cohort = make_cohort(3, starts_in_days=60)
    token = make_token()
    moment = now()
    with time_machine.travel(moment, tick=False):
        response = client.post(URL, json=booking_body(cohort, token))
    assert response.status_code == 201, response.get_data(as_text=True)
    assert response.mimetype == "application/json"
    assert response.headers["Cache-Control"] == "no-store"
    body = response.get_json()

    assert set(body) == BOOKING_FIELDS
    assert re.fullmatch(r"RT-[A-Z0-9]{6}", body["reference"])
    assert response.headers["Location"].endswith(f"/api/v1/bookings/{body['reference']}")
    assert body["status"] == status
    assert body["cohort_id"] == cohort.id and body["lodging"] == "shared" and body["currency"] == "usd"
    for name, cents in (("total_cents", TOTAL), ("deposit_cents", DEPOSIT), ("balance_cents", TOTAL - DEPOSIT),
                        ("paid_cents", 0)):
        assert type(body[name]) is int and body[name] == cents, name
    assert body["balance_due_date"] == (cohort.start_date - timedelta(days=14)).isoformat()
    assert body["owed_cents"] == TOTAL
    assert body["cancellation_policy"] == policy.public_policy()
    assert ISO_UTC.fullmatch(body["hold_expires_at"])
    assert datetime.fromisoformat(body["hold_expires_at"]) == moment + held_for
    assert body["email_confirmation_required"] is confirm
    assert isinstance(body["manage_token"], str) and len(body["manage_token"]) >= 40
    assert body["manage_url"].endswith(f"/bookings/manage/{body['manage_token']}")
    assert {key: body["payment"][key] for key in payment} == payment
    if status == "pending_review":
        assert body["payment"] == payment  # nothing can be paid before a clinician approves
    assert body["payments"] == []

    booking = db.session.scalar(sa.select(Booking).where(Booking.reference == body["reference"]))
    assert booking.status == status and booking.cohort_id == cohort.id
    assert booking.applicant_email == APPLICANT["email"]
    assert screening_of(token).token_used_at is not None


def test_the_demo_payment_start_says_no_money_moves(client):
    payment = book(client, make_cohort())["payment"]
    assert set(payment) == {"provider", "status", "kind", "amount_cents", "note"}
    assert "no real money" in payment["note"]


def test_bank_transfer_can_be_chosen_where_the_clinic_offers_it(app, client):
    app.config["BANK_TRANSFER_INSTRUCTIONS"] = "Pay to Clinic LLC, account 12345678, routing 021000021."
    cohort = make_cohort()
    moment = now()
    with time_machine.travel(moment, tick=False):
        body = book(client, cohort, payment_provider="offline")
    assert body["payment"] == {
        "provider": "offline", "status": "awaiting_transfer", "kind": "deposit", "amount_cents": DEPOSIT,
        "instructions": "Pay to Clinic LLC, account 12345678, routing 021000021.",
        "transfer_reference": body["reference"]}
    # Held as long as a card payment until the applicant confirms the address the bank details went to.
    assert datetime.fromisoformat(body["hold_expires_at"]) == moment + timedelta(minutes=30)
    assert body["email_confirmation_required"] is True
    booking = db.session.scalar(sa.select(Booking).where(Booking.reference == body["reference"]))
    with time_machine.travel(moment + timedelta(minutes=5), tick=False):
        services.confirm_email(booking.reference, holds.email_confirmation_token(booking))
    assert db.session.get(Booking, booking.id).hold_expires_at == booking.created_at + policy.HOLD_FOR_BANK_TRANSFER


def test_save_card_is_accepted_and_kept_only_for_stripe(client):
    body = book(client, make_cohort(), save_card=True)
    booking = db.session.scalar(sa.select(Booking).where(Booking.reference == body["reference"]))
    assert booking.save_card_consent is False  # demo payments keep no card


def test_a_payment_provider_that_cannot_start_still_gives_the_held_booking(client, monkeypatch):
    def unreachable(self, booking, kind, cents):
        raise providers.ProviderUnavailable("The card processor did not answer.")

    monkeypatch.setattr(providers.DemoProvider, "start", unreachable)
    cohort = make_cohort()
    response = client.post(URL, json=booking_body(cohort, eligible_token()))
    assert response.status_code == 201, response.get_data(as_text=True)
    body = response.get_json()
    assert body["status"] == "held"
    assert body["payment"]["status"] == "unavailable" and body["payment"]["provider"] == "demo"
    assert body["payment"]["amount_cents"] == DEPOSIT and "manage_url" in body["payment"]["message"]
    # The booking exists and its token works: the applicant can pay later.
    assert client.get(f"{URL}/{body['reference']}", headers=bearer(body["manage_token"])).status_code == 200


# --- 403 and 422: the pre-screen ------------------------------------------------------------------------------

@pytest.mark.parametrize("outcome, make_token", [("ineligible", ineligible_token), ("crisis", crisis_token)])
def test_a_pre_screen_that_does_not_allow_booking_is_403(client, outcome, make_token):
    token = make_token()
    assert screening_of(token).outcome == outcome
    response = client.post(URL, json=booking_body(make_cohort(), token))
    error = error_of(response, 403, "screening_not_eligible")
    assert "fields" not in error
    assert booking_count() == 0


def _expired(token: str) -> str:
    screening = screening_of(token)
    screening.expires_at = now() - timedelta(seconds=1)
    db.session.commit()
    return token


def _used(token: str) -> str:
    services.create_booking(policy_accepted=True, cohort_id=make_cohort().id, screening_token=token, lodging="shared",
                            applicant=APPLICANT)
    return token


@pytest.mark.parametrize("spoil, expected", [
    (lambda token: "x" * 43, "There is no pre-screen with this token."),
    (_expired, "This pre-screen has expired; please take it again."),
    (_used, "This pre-screen was already used for a booking."),
], ids=["unknown", "expired", "used"])
def test_an_unknown_expired_or_used_token_is_422_on_screening_token(client, spoil, expected):
    token = spoil(eligible_token())
    before = booking_count()
    response = client.post(URL, json=booking_body(make_cohort(), token))
    error = error_of(response, 422, "validation_failed")
    assert error["fields"] == {"screening_token": [expected]}
    assert booking_count() == before


# --- 422: each field --------------------------------------------------------------------------------------------

def changed(body: dict, path: str, value) -> dict:
    body = copy.deepcopy(body)
    *parents, name = path.split(".")
    target = body
    for parent in parents:
        target = target[parent]
    if value is DROP:
        del target[name]
    else:
        target[name] = value
    return body


# The field a 422 names, and values of it that are refused (DROP: left out); the field is at that path in the
# body. Unknown fields are named as sent.
INVALID_VALUES = {
    "cohort_id": [DROP, None, "1", True, 1.5, 0, 2**31, 987654],
    "screening_token": [DROP, None, "", 12345, ["x"], "\ud800", "x\x00"],
    "lodging": [DROP, "suite", 1, None],
    "applicant": [DROP, None, "Alex Rivera", []],
    "applicant.first_name": [DROP, "", "   ", "A" * 101, "Al\x00ex", "Al\x1bex", "Al\ud800ex", 7],
    "applicant.last_name": [DROP, "", False, "R" * 101],
    "applicant.email": [DROP, "", "alex-at-example.org", "alex@", 42, "a" * 250 + "@example.org"],
    "applicant.phone": [DROP, "", "12", "call me maybe", "+1 555 123 4567 ext 89", 5551234567],
    "applicant.age": [34],
    "coupon": ["FREE", None],
    # stripe: no Stripe keys here; offline: no bank transfer instructions set.
    "payment_provider": ["paypal", "stripe", "offline", None, 1],
    "save_card": [1, 0, "true", None],
}


@pytest.mark.parametrize("field", list(INVALID_VALUES))
def test_each_invalid_field_is_named_and_nothing_is_held(client, field):
    cohort = make_cohort()
    token = eligible_token()
    for value in INVALID_VALUES[field]:
        response = client.post(URL, json=changed(booking_body(cohort, token), field, value))
        error = error_of(response, 422, "validation_failed")
        assert set(error["fields"]) == {field}, (value, error["fields"])
        assert all(isinstance(reason, str) and reason for reason in error["fields"][field])
    assert booking_count() == 0
    assert screening_of(token).token_used_at is None  # a refused request does not use up the pre-screen
    assert book(client, cohort, token)["status"] == "held"  # and the body without the change is fine


def test_a_lodging_the_program_does_not_offer_is_422(client):
    cohort = make_cohort(program=make_program(lodging_options=["none", "shared"]))
    error = error_of(client.post(URL, json=booking_body(cohort, eligible_token(), lodging="private")), 422,
                     "validation_failed")
    assert error["fields"] == {"lodging": ["Choose one of: none, shared."]}


def test_every_invalid_field_is_named_at_once(client):
    """Types and unknown fields are checked first, all together; then the booking rules, all together."""
    shape = {"cohort_id": "1", "screening_token": 1, "lodging": "suite", "colour": "blue",
             "applicant": {"first_name": 1, "last_name": "Rivera", "email": 42, "phone": "1"}}
    error = error_of(client.post(URL, json=shape), 422, "validation_failed")
    assert set(error["fields"]) == {"cohort_id", "screening_token", "lodging", "colour", "applicant.first_name",
                                    "applicant.email", "policy_accepted"}

    rules = {"cohort_id": 987654, "screening_token": "x" * 43, "lodging": "none", "policy_accepted": False,
             "applicant": {"first_name": "", "last_name": "Rivera", "email": "nope", "phone": "1"}}
    error = error_of(client.post(URL, json=rules), 422, "validation_failed")
    assert set(error["fields"]) == {"cohort_id", "screening_token", "applicant.first_name", "applicant.email",
                                    "applicant.phone", "policy_accepted"}


@pytest.mark.parametrize("data, status", [
    ("{", 400), ("", 400), ("not json", 400), ("[]", 422), ('"a booking"', 422), ("null", 422),
])
def test_a_body_that_is_not_a_json_object_is_refused(client, data, status):
    response = client.post(URL, data=data, content_type="application/json")
    error_of(response, status, "malformed_json" if status == 400 else "validation_failed")
    assert booking_count() == 0


# Bodies a careless or hostile client might send: each is refused as a 400 or a 422, never a 500.
HOSTILE = {
    "huge-integer-literal": '{"cohort_id": ' + "9" * 5000 + "}",
    "nan": '{"cohort_id": NaN, "screening_token": "x", "lodging": "shared", "applicant": {}}',
    "infinity": '{"cohort_id": 1e999999}',
    "nul-in-token": '{"cohort_id": 1, "screening_token": "x\\u0000y", "lodging": "shared"}',
    "lone-surrogate-in-name": '{"applicant": {"first_name": "\\udc00"}}',
    "object-as-token": '{"cohort_id": 1, "screening_token": {"$ne": null}, "lodging": "shared"}',
    "duplicate-keys": '{"cohort_id": 1, "cohort_id": "x"}',
    "long-token": json.dumps({"cohort_id": 1, "screening_token": "x" * 100_000, "lodging": "shared",
                              "applicant": APPLICANT}),
    "long-name": json.dumps({"cohort_id": 1, "screening_token": "x", "lodging": "shared",
                             "applicant": {**APPLICANT, "last_name": "R" * 100_000}}),
    "moderate-nesting": '{"applicant": ' + "[" * 100 + "]" * 100 + "}",
    "deep-nesting": "[" * 100_000 + "]" * 100_000,
}


@pytest.mark.parametrize("path", [URL, "/api/v1/waitlist"], ids=["bookings", "waitlist"])
def test_odd_bodies_are_never_a_server_error(client, path):
    make_cohort()
    for name, data in HOSTILE.items():
        response = client.post(path, data=data, content_type="application/json")
        assert response.status_code in (400, 422), (name, response.status_code)
        error_of(response, response.status_code, "malformed_json" if response.status_code == 400
                 else "validation_failed")
    assert booking_count() == 0


# --- 409 ---------------------------------------------------------------------------------------------------------

def test_a_full_cohort_is_409_and_holds_nothing(client):
    cohort = make_cohort(1)
    book(client, cohort)
    token = eligible_token()
    error = error_of(client.post(URL, json=booking_body(cohort, token)), 409, "cohort_full")
    assert "fields" not in error
    assert booking_count() == 1
    assert screening_of(token).token_used_at is None
    # The pre-screen is still good for the cohort's waitlist.
    response = client.post("/api/v1/waitlist", json={"cohort_id": cohort.id, "screening_token": token,
                                                     "applicant": APPLICANT})
    assert response.status_code == 201, response.get_data(as_text=True)


def test_a_closed_cohort_is_409(client):
    cohort = make_cohort()
    cohort.status = "closed"
    db.session.commit()
    error_of(client.post(URL, json=booking_body(cohort, eligible_token())), 409, "cohort_closed")
    assert booking_count() == 0


# --- GET with the manage token ----------------------------------------------------------------------------------

def test_the_manage_token_reads_the_booking_and_nothing_of_the_pre_screen(client):
    cohort = make_cohort()
    token = eligible_token()
    created = book(client, cohort, token)
    response = client.get(f"{URL}/{created['reference']}", headers=bearer(created["manage_token"]))
    assert response.status_code == 200, response.get_data(as_text=True)
    assert response.headers["Cache-Control"] == "no-store"
    body = response.get_json()
    assert set(body) == BOOKING_FIELDS
    assert {key: body[key] for key in BOOKING_FIELDS - {"payment"}} == {
        key: created[key] for key in BOOKING_FIELDS - {"payment"}}
    # Reading starts no payment with the provider: it says what is due.
    assert body["payment"] == {"provider": "demo", "status": "requires_payment", "kind": "deposit",
                               "amount_cents": DEPOSIT, "currency": "usd"}

    assert body.pop("cancellation_policy") == policy.public_policy()  # the same public words for everyone
    text = json.dumps(body).lower()
    for word in ("screening", "eligible", "outcome", "reason", "phq", "cssrs", "answers", "review", "urgent", token):
        assert word.lower() not in text, word


def test_payments_are_listed_with_refunds_negative(client):
    created = book(client, make_cohort(starts_in_days=60))
    pay_deposit(created)
    response = client.get(f"{URL}/{created['reference']}", headers=bearer(created["manage_token"]))
    body = response.get_json()
    assert body["status"] == "confirmed" and body["hold_expires_at"] is None and body["paid_cents"] == DEPOSIT
    assert body["payment"] == {"provider": "demo", "status": "requires_payment", "kind": "balance",
                               "amount_cents": TOTAL - DEPOSIT, "currency": "usd",
                               "due_date": body["balance_due_date"]}
    [deposit] = body["payments"]
    assert set(deposit) == PAYMENT_FIELDS
    assert deposit["kind"] == "deposit" and deposit["amount_cents"] == DEPOSIT and deposit["status"] == "succeeded"
    assert deposit["currency"] == "usd" and deposit["provider"] == "demo" and type(deposit["id"]) is int
    assert ISO_UTC.fullmatch(deposit["created_at"])

    cancelled = client.post(f"{URL}/{created['reference']}/cancel", headers=bearer(created["manage_token"]))
    payments = cancelled.get_json()["payments"]
    assert [(p["kind"], p["amount_cents"]) for p in payments] == [("deposit", DEPOSIT),
                                                                   ("refund", -(DEPOSIT - 100_00))]
    assert cancelled.get_json()["payment"] == {"provider": "demo", "status": "none"}


def test_paid_in_full_says_so(client):
    created = book(client, make_cohort())
    pay_deposit(created)
    services.payment_received(created["reference"], kind="balance", amount_cents=TOTAL - DEPOSIT,
                              provider="demo", provider_reference="demo_balance")
    body = client.get(f"{URL}/{created['reference']}", headers=bearer(created["manage_token"])).get_json()
    assert body["status"] == "paid_in_full" and body["paid_cents"] == TOTAL
    assert body["payment"] == {"provider": "demo", "status": "paid"}


# --- 401 ----------------------------------------------------------------------------------------------------------

def _headers_cases(created: dict, other: dict) -> dict:
    token = created["manage_token"]
    return {
        "no header": {},
        "empty bearer": {"Authorization": "Bearer "},
        "wrong token": bearer("x" * 43),
        "token in another scheme": {"Authorization": f"Basic {token}"},
        "token without a scheme": {"Authorization": token},
        "another booking's token": bearer(other["manage_token"]),
        "token with a character changed": bearer(token[:-1] + ("A" if token[-1] != "A" else "B")),
    }


@pytest.mark.parametrize("method, suffix", [("get", ""), ("post", "/cancel")], ids=["get", "cancel"])
def test_without_the_right_manage_token_it_is_401(client, method, suffix):
    cohort = make_cohort()
    created, other = book(client, cohort), book(client, cohort)
    for case, headers in _headers_cases(created, other).items():
        response = getattr(client, method)(f"{URL}/{created['reference']}{suffix}", headers=headers)
        error = error_of(response, 401, "unauthorized")
        assert response.headers["WWW-Authenticate"].startswith("Bearer"), case
        assert "fields" not in error
    # An unknown reference answers exactly as a wrong token does, so guessing learns nothing.
    wrong_token = getattr(client, method)(f"{URL}/{created['reference']}{suffix}", headers=bearer("x" * 43))
    for reference in ("RT-AAAAAA", "rt-" + created["reference"][3:], "x" * 10_000, "RT-%00AAAA", "%E2%82%AC",
                      "%ff%fe", "RT-' OR 1=1 --"):
        unknown = getattr(client, method)(f"{URL}/{reference}{suffix}", headers=bearer(created["manage_token"]))
        assert unknown.status_code == 401, reference
        assert unknown.get_json() == wrong_token.get_json()
        assert unknown.headers["WWW-Authenticate"] == wrong_token.headers["WWW-Authenticate"]
    db.session.expire_all()
    assert {b.status for b in db.session.scalars(sa.select(Booking))} == {"held"}


# --- Cancelling -----------------------------------------------------------------------------------------------

# days before the start, the refund of a paid deposit, the rule's wording
# days before the start, what was paid (the deposit; the whole price within 14 days of the start), the refund
REFUND_CASES = [
    (60, DEPOSIT, DEPOSIT - 100_00, policy.APPLICANT_CANCELLATION_TIERS[0].wording),
    (30, DEPOSIT, DEPOSIT - 100_00, policy.APPLICANT_CANCELLATION_TIERS[0].wording),
    (29, DEPOSIT, DEPOSIT // 2, policy.APPLICANT_CANCELLATION_TIERS[1].wording),
    (15, DEPOSIT, DEPOSIT // 2, policy.APPLICANT_CANCELLATION_TIERS[1].wording),
    (14, TOTAL, TOTAL // 2, policy.APPLICANT_CANCELLATION_TIERS[1].wording),
    (13, TOTAL, 0, policy.APPLICANT_CANCELLATION_TIERS[2].wording),
]


@pytest.mark.parametrize("days, paid, refund, rule", REFUND_CASES,
                         ids=[f"{days}_days" for days, *_ in REFUND_CASES])
def test_cancelling_refunds_what_the_policy_gives(client, days, paid, refund, rule):
    cohort = make_cohort(starts_in_days=days)
    created = book(client, cohort)
    assert created["deposit_cents"] == paid
    pay_deposit(created)
    url = f"{URL}/{created['reference']}/cancel"

    response = client.post(url, headers=bearer(created["manage_token"]))
    assert response.status_code == 200, response.get_data(as_text=True)
    assert response.headers["Cache-Control"] == "no-store"
    body = response.get_json()
    assert set(body) == BOOKING_FIELDS | {"refund"}
    assert body["status"] == "cancelled" and body["reference"] == created["reference"]
    assert body["refund"] == {"amount_cents": refund, "currency": "usd", "rule": rule}
    assert body["paid_cents"] == paid - refund
    assert body["owed_cents"] == 0  # a cancelled booking owes nothing
    refunds = [p for p in body["payments"] if p["kind"] == "refund"]
    assert [p["amount_cents"] for p in refunds] == ([-refund] if refund else [])

    ledger_total = db.session.scalar(sa.select(sa.func.sum(Payment.amount_cents)))
    assert ledger_total == paid - refund

    again = client.post(url, headers=bearer(created["manage_token"]))
    error_of(again, 409, "booking_not_cancellable")
    assert db.session.scalar(sa.select(sa.func.sum(Payment.amount_cents))) == ledger_total  # refunded once


def test_cancelling_an_unpaid_hold_frees_the_seat(client):
    cohort = make_cohort(1)
    created = book(client, cohort)
    error_of(client.post(URL, json=booking_body(cohort, eligible_token())), 409, "cohort_full")
    body = client.post(f"{URL}/{created['reference']}/cancel", json={},
                       headers=bearer(created["manage_token"])).get_json()
    assert body["status"] == "cancelled" and body["payments"] == [] and body["paid_cents"] == 0
    assert body["refund"]["amount_cents"] == 0
    assert book(client, cohort)["status"] == "held"


@pytest.mark.parametrize("status", ["declined", "expired"])
def test_a_booking_that_is_over_cannot_be_cancelled(client, status):
    created = book(client, make_cohort())
    booking = db.session.scalar(sa.select(Booking).where(Booking.reference == created["reference"]))
    booking.status = status
    db.session.commit()
    error_of(client.post(f"{URL}/{created['reference']}/cancel", headers=bearer(created["manage_token"])), 409,
             "booking_not_cancellable")
    db.session.expire_all()
    assert booking.status == status


@pytest.mark.parametrize("data, status, field", [
    ('{"reason": "changed my mind"}', 422, "reason"),
    ('{"refund_cents": 99400}', 422, "refund_cents"),
    ("{", 400, None),
    ("[]", 422, "body"),
])
def test_a_cancellation_takes_no_fields(client, data, status, field):
    created = book(client, make_cohort())
    response = client.post(f"{URL}/{created['reference']}/cancel", data=data, content_type="application/json",
                           headers=bearer(created["manage_token"]))
    error = error_of(response, status, "validation_failed" if status == 422 else "malformed_json")
    if field:
        assert set(error["fields"]) == {field}
    db.session.expire_all()
    assert db.session.scalar(sa.select(Booking.status)) == "held"


# --- 429 -----------------------------------------------------------------------------------------------------------

def test_booking_writes_are_rate_limited_and_reading_is_not(database_url):
    limited = create_app("testing", SQLALCHEMY_DATABASE_URI=database_url, RATELIMIT_ENABLED=True,
                         RATELIMIT_PUBLIC_WRITE="3 per minute")
    with limited.app_context():
        try:
            client = limited.test_client()
            for url, refused in ((URL, 422), (f"{URL}/RT-AAAAAA/cancel", 401), ("/api/v1/waitlist", 422)):
                statuses = [client.post(url, json={}).status_code for _ in range(4)]
                assert statuses == [refused] * 3 + [429], url
            assert [client.get(f"{URL}/RT-AAAAAA").status_code for _ in range(5)] == [401] * 5
        finally:
            db.session.remove()
            db.engine.dispose()


@pytest.mark.parametrize(("starts_in_days", "deposit", "due"), [
    (5, TOTAL, None), (14, TOTAL, None),  # within 14 days of the start: the whole price at booking
    (15, DEPOSIT, 1),  # the balance falls due tomorrow
])
def test_a_cohort_starting_within_14_days_takes_the_whole_price_at_booking(client, starts_in_days, deposit, due):
    created = book(client, make_cohort(starts_in_days=starts_in_days))
    assert (created["total_cents"], created["deposit_cents"], created["balance_cents"]) == (
        TOTAL, deposit, TOTAL - deposit)
    assert created["balance_due_date"] == (None if due is None else (today() + timedelta(days=due)).isoformat())
    assert (created["payment"]["kind"], created["payment"]["amount_cents"]) == ("deposit", deposit)
    pay_deposit(created)
    read = client.get(f"{URL}/{created['reference']}", headers=bearer(created["manage_token"])).get_json()
    assert read["status"] == ("paid_in_full" if due is None else "confirmed")
    assert read["owed_cents"] == TOTAL - deposit
    assert read["payment"]["status"] == ("paid" if due is None else "requires_payment")


@pytest.mark.parametrize("accepted", ["missing", False, None, "true", 1, "yes"])
def test_a_booking_needs_the_policy_accepted_with_true(client, accepted):
    cohort = make_cohort(3)
    token = eligible_token()
    body = booking_body(cohort, token)
    if accepted == "missing":
        del body["policy_accepted"]
    else:
        body["policy_accepted"] = accepted
    error = error_of(client.post(URL, json=body), 422, "validation_failed")
    assert set(error["fields"]) == {"policy_accepted"}
    assert booking_count() == 0  # nothing held
    assert screening_of(token).token_used_at is None


def test_the_booking_records_the_policy_accepted_and_returns_it(client):
    moment = now()
    with time_machine.travel(moment, tick=False):
        created = book(client, make_cohort(3))
    assert created["cancellation_policy"] == policy.public_policy()
    assert created["cancellation_policy"]["version"] == policy.POLICY_VERSION
    assert created["cancellation_policy"]["rules"][0] == {"min_days_before_start": 30, "refund_percent": 100,
                                                          "fee_cents": 100_00}
    booking = db.session.scalar(sa.select(Booking).where(Booking.reference == created["reference"]))
    assert (booking.policy_version, booking.policy_accepted_at) == (policy.POLICY_VERSION, moment)
    read = client.get(f"{URL}/{created['reference']}", headers=bearer(created["manage_token"])).get_json()
    assert read["cancellation_policy"] == policy.public_policy()
