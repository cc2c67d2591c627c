"""Discount codes on bookings (catalog/discounts.py, booking/creation.py): the discount is a line of the frozen
price with the deposit rule on the discounted total; each bad code is a 422 naming `promo_code` with nothing held;
the last use of a limited code goes to one booking of a race (SQLite and PostgreSQL); a booking that ends unpaid
gives its use back, one that was paid keeps it. Through the JSON API, the booking form and the estimate page."""

import re
from datetime import timedelta

import pytest
import sqlalchemy as sa
import time_machine

from retreat import create_app
from retreat.booking import services
from retreat.booking.models import Booking
from retreat.catalog import discounts
from retreat.catalog.models import DiscountCode, DiscountUse
from retreat.core.clock import now, today
from retreat.core.errors import ValidationFailed
from retreat.extensions import db
from retreat.screening.models import Screening
from tests.booking.support import APPLICANT, booking_body, eligible_token, make_cohort, make_program
from tests.booking.test_concurrency import race

# The test program with a shared room: $4,970; its deposit 20% rounded up to the dollar: $994.
LIST_CENTS = 497_000


def make_code(code: str = "WELCOME10", **values) -> DiscountCode:
    values = {"code": code, "percent_off": None, "amount_off_cents": None, "program_ids": [], "valid_from": None,
              "valid_until": None, "max_uses": None} | values
    if values["percent_off"] is None and values["amount_off_cents"] is None:
        values["percent_off"] = 10
    return discounts.create_code(values, actor="test")


def uses_of(code: str) -> int:
    db.session.expire_all()
    return db.session.scalar(sa.select(DiscountCode.uses).where(DiscountCode.code == code))


def count(model) -> int:
    return db.session.scalar(sa.select(sa.func.count()).select_from(model))


# --- The price -----------------------------------------------------------------------------------------------

PRICES = [  # (the code, how it is typed, discount, total, deposit)
    ({"percent_off": 10}, str.lower, 49_700, 447_300, 89_500),  # 20% of $4,473 = $894.60, up to $895
    ({"amount_off_cents": 50_000}, lambda code: f" {code.title()} ", 50_000, 447_000, 89_400),
    ({"amount_off_cents": 450_000}, str, 450_000, 47_000, 47_000),  # the $500 minimum is more than the total
    ({"percent_off": 100}, str, None, None, None),  # nothing left to pay: not bookable online
]


def test_the_discount_is_a_line_of_the_frozen_price(client):
    cohort = make_cohort(10)
    for n, (values, typed, discount, total, deposit) in enumerate(PRICES):
        code = make_code(f"CASE{n}", **values).code
        response = client.post("/api/v1/bookings", json=booking_body(
            cohort, eligible_token(), promo_code=typed(code),
            applicant=dict(APPLICANT, email=f"a{n}@example.org", phone=f"+1 555 200 {n:04d}")))
        if discount is None:
            assert response.status_code == 422
            assert "promo_code" in response.get_json()["error"]["fields"]
            assert uses_of(code) == 0
            continue
        assert response.status_code == 201, response.get_json()
        body = response.get_json()
        assert (body["discount_cents"], body["total_cents"], body["deposit_cents"]) == (discount, total, deposit)
        assert body["balance_cents"] == total - deposit and body["payment"]["amount_cents"] == deposit
        booking = db.session.scalars(sa.select(Booking).where(Booking.reference == body["reference"])).one()
        assert (booking.discount_code, booking.discount_cents, booking.list_price_cents) == \
            (code, discount, LIST_CENTS)
        assert uses_of(code) == 1
        use = db.session.scalars(sa.select(DiscountUse).where(DiscountUse.booking_id == booking.id)).one()
        assert (use.booking_reference, use.discount_cents, use.returned_at) == (booking.reference, discount, None)
        assert client.get(f"/api/v1/bookings/{booking.reference}", headers={
            "Authorization": f"Bearer {body['manage_token']}"}).get_json()["discount_cents"] == discount
    assert count(Booking) == 3


@pytest.mark.parametrize("database_url", ["sqlite"], indirect=True)  # markup: the same on both
def test_within_14_days_the_whole_discounted_price_is_taken(client):
    cohort = make_cohort(3, starts_in_days=10)
    make_code(percent_off=25)
    body = client.post("/api/v1/bookings", json=booking_body(cohort, eligible_token(), promo_code="welcome10"))\
        .get_json()
    assert (body["total_cents"], body["deposit_cents"], body["balance_cents"]) == (372_750, 372_750, 0)


@pytest.mark.parametrize("database_url", ["sqlite"], indirect=True)  # markup: the same on both
def test_without_a_code_nothing_is_taken_off(client):
    cohort = make_cohort(3)
    body = client.post("/api/v1/bookings", json=booking_body(cohort, eligible_token())).get_json()
    assert (body["discount_cents"], body["total_cents"]) == (0, LIST_CENTS)
    assert db.session.scalars(sa.select(Booking)).one().discount_code is None


# --- Refused codes ------------------------------------------------------------------------------------------

def _unknown(other_program):
    return "NOSUCHCODE"


def _inactive(other_program):
    discounts.set_active(make_code("SWITCHEDOFF").id, False, actor="test")
    return "switchedoff"


def _expired(other_program):
    make_code("LASTWEEK", valid_until=today() - timedelta(days=1))
    return "LASTWEEK"


def _not_yet(other_program):
    make_code("NEXTWEEK", valid_from=today() + timedelta(days=1))
    return "NEXTWEEK"


def _used_up(other_program):
    code = make_code("ONCEONLY", max_uses=1)
    db.session.execute(sa.update(DiscountCode).where(DiscountCode.id == code.id).values(uses=1))
    db.session.commit()
    return "onceonly"


def _wrong_program(other_program):
    make_code("OTHERPROG", program_ids=[other_program.id])
    return "OTHERPROG"


def _not_a_code(other_program):
    return "10% off!"


REFUSALS = {
    "unknown": (_unknown, "not valid"),
    "inactive": (_inactive, "not valid"),
    "expired": (_expired, "expired"),
    "not-yet-valid": (_not_yet, "cannot be used yet"),
    "used-up": (_used_up, "used as many times"),
    "wrong-program": (_wrong_program, "not for this program"),
    "not-a-code": (_not_a_code, "not valid"),
}


def test_a_bad_code_is_a_422_naming_promo_code_and_nothing_is_held(client):
    cohort = make_cohort(3)
    other_program = make_program(slug="another-program")
    for case, (make_it, words) in REFUSALS.items():
        typed = make_it(other_program)
        token = eligible_token()
        uses_before = {row.code: row.uses for row in db.session.scalars(sa.select(DiscountCode))}
        response = client.post("/api/v1/bookings", json=booking_body(cohort, token, promo_code=typed))
        assert response.status_code == 422, (case, response.get_json())
        error = response.get_json()["error"]
        assert list(error["fields"]) == ["promo_code"], case
        assert words in error["fields"]["promo_code"][0], case
        assert count(Booking) == 0 and count(DiscountUse) == 0, case
        db.session.expire_all()
        assert {row.code: row.uses for row in db.session.scalars(sa.select(DiscountCode))} == uses_before, case
        assert db.session.scalar(sa.select(sa.func.count()).select_from(Screening)
                                 .where(Screening.token_used_at.is_not(None))) == 0, case
    # The pre-screen of a refused code books again.
    assert client.post("/api/v1/bookings", json=booking_body(cohort, token)).status_code == 201


@pytest.mark.parametrize("database_url", ["sqlite"], indirect=True)  # markup: the same on both
def test_a_code_limited_to_the_program_works_for_it(client):
    cohort = make_cohort(3)
    make_code("THISPROG", program_ids=[cohort.program_id], valid_until=today())
    response = client.post("/api/v1/bookings", json=booking_body(cohort, eligible_token(), promo_code="thisprog"))
    assert response.status_code == 201 and response.get_json()["discount_cents"] == 49_700


@pytest.mark.parametrize("database_url", ["sqlite"], indirect=True)  # markup: the same on both
def test_the_api_refuses_a_promo_code_that_is_no_text(client):
    cohort = make_cohort(3)
    token = eligible_token()
    for value in ("", 10, None, "x" * 41, "A\x00B"):
        response = client.post("/api/v1/bookings", json=booking_body(cohort, token, promo_code=value))
        assert response.status_code == 422, value
        assert "promo_code" in response.get_json()["error"]["fields"], value
    assert count(Booking) == 0


def test_a_full_cohort_takes_no_use(client):
    cohort = make_cohort(0)
    make_code(max_uses=1)
    response = client.post("/api/v1/bookings", json=booking_body(cohort, eligible_token(), promo_code="WELCOME10"))
    assert response.status_code == 409
    assert uses_of("WELCOME10") == 0 and count(DiscountUse) == 0


# --- The last use, raced ------------------------------------------------------------------------------------

RACERS = 8


@pytest.fixture
def racing_app(app, database_url):
    racing = create_app("testing", SQLALCHEMY_DATABASE_URI=database_url,
                        SQLALCHEMY_ENGINE_OPTIONS={"pool_size": RACERS, "max_overflow": 0, "pool_timeout": 30})
    yield racing
    with racing.app_context():
        db.engine.dispose()


def test_the_last_use_of_a_code_goes_to_one_booking_of_a_race(app, racing_app):
    """Racers for different cohorts (so no cohort lock serialises them) with one code that has one use left:
    exactly one booking gets it; the others are refused naming promo_code and hold nothing."""
    cohorts = [make_cohort(3, program=make_program()).id for _ in range(RACERS)]
    tokens = [eligible_token() for _ in range(RACERS)]
    make_code("LASTSEAT", max_uses=3)
    db.session.execute(sa.update(DiscountCode).values(uses=2))
    db.session.commit()
    attempts = [
        (lambda n=n: services.create_booking(
            policy_accepted=True, cohort_id=cohorts[n], screening_token=tokens[n], lodging="shared",
            applicant=dict(APPLICANT, email=f"racer{n}@example.org", phone=f"+1 555 010 {n:04d}"),
            promo_code="lastseat").booking.id)
        for n in range(RACERS)]
    outcomes = race(racing_app, attempts)
    won = [o for o in outcomes if isinstance(o, int)]
    refused = [o for o in outcomes if not isinstance(o, int)]
    assert len(won) == 1, outcomes
    assert all(isinstance(o, ValidationFailed) and list(o.fields) == ["promo_code"] for o in refused), outcomes
    assert uses_of("LASTSEAT") == 3
    assert count(Booking) == 1 and count(DiscountUse) == 1
    assert db.session.scalar(sa.select(Booking.discount_code)) == "LASTSEAT"


# --- Uses given back ----------------------------------------------------------------------------------------

def _book(cohort, code="WELCOME10", **applicant) -> Booking:
    return services.create_booking(policy_accepted=True, cohort_id=cohort.id, screening_token=eligible_token(),
                                   lodging="shared", applicant=dict(APPLICANT, **applicant),
                                   promo_code=code).booking


def test_a_hold_that_lapses_gives_its_use_back_and_a_script_cannot_burn_a_code(app):
    """Holds made and left unpaid: when they expire their uses come back, so the scholarship code works again."""
    cohort = make_cohort(5)
    make_code("SCHOLAR", amount_off_cents=100_000, max_uses=1)
    booking = _book(cohort, "SCHOLAR")
    assert uses_of("SCHOLAR") == 1
    with pytest.raises(ValidationFailed) as refused:
        _book(cohort, "SCHOLAR", email="second@example.org", phone="+1 555 999 0000")
    assert "used as many times" in refused.value.fields["promo_code"][0]
    with time_machine.travel(now() + timedelta(minutes=31), tick=False):
        assert services.expire_lapsed_holds() == 1
    db.session.expire_all()
    assert db.session.get(Booking, booking.id).status == "expired"
    assert uses_of("SCHOLAR") == 0
    use = db.session.scalars(sa.select(DiscountUse)).one()
    assert use.returned_at is not None
    # The code is usable again, by someone else.
    other = _book(cohort, "SCHOLAR", email="second@example.org", phone="+1 555 999 0000")
    assert other.discount_cents == 100_000 and uses_of("SCHOLAR") == 1


def test_a_deposit_after_the_hold_lapsed_takes_the_use_again(app):
    cohort = make_cohort(5)
    make_code(max_uses=1)
    booking = _book(cohort)
    with time_machine.travel(now() + timedelta(minutes=31), tick=False):
        services.expire_lapsed_holds()
    assert uses_of("WELCOME10") == 0
    services.payment_received(booking.reference, kind="deposit", amount_cents=booking.deposit_cents,
                              provider="demo", provider_reference="demo_late_deposit")
    db.session.expire_all()
    assert db.session.get(Booking, booking.id).status == "confirmed"
    assert uses_of("WELCOME10") == 1
    assert db.session.scalars(sa.select(DiscountUse)).one().returned_at is None


def test_cancelling_unpaid_gives_the_use_back_cancelling_paid_keeps_it(app, staff_user):
    cohort = make_cohort(5)
    make_code()
    unpaid = _book(cohort)
    services.cancel_booking(unpaid, by="applicant")
    assert uses_of("WELCOME10") == 0
    paid = _book(cohort, email="paid@example.org", phone="+1 555 222 3333")
    services.payment_received(paid.reference, kind="deposit", amount_cents=paid.deposit_cents, provider="demo",
                              provider_reference="demo_paid_deposit")
    services.cancel_booking(db.session.get(Booking, paid.id), by="applicant")
    db.session.expire_all()
    assert db.session.get(Booking, paid.id).status == "cancelled"
    assert uses_of("WELCOME10") == 1
    # A hold released by a coordinator gives its use back, once (the expiry job later changes nothing).
    released = _book(cohort, email="released@example.org", phone="+1 555 444 5555")
    assert uses_of("WELCOME10") == 2
    services.release_hold(released.reference, cohort_id=cohort.id, staff=staff_user("coordinator"))
    assert uses_of("WELCOME10") == 1
    with time_machine.travel(now() + timedelta(minutes=31), tick=False):
        services.expire_lapsed_holds()
    assert uses_of("WELCOME10") == 1


# --- The pages ----------------------------------------------------------------------------------------------

def _form(cohort, **changes) -> dict:
    return {"cohort": str(cohort.id), "lodging": "shared", "first_name": "Alex", "last_name": "Rivera",
            "email": "alex@example.org", "phone": "+1 555 123 4567", "policy_accepted": "y"} | changes


@pytest.mark.parametrize("database_url", ["sqlite"], indirect=True)  # markup: the same on both
def test_the_booking_form_takes_a_code_and_the_pay_page_shows_the_discount(client):
    cohort = make_cohort(3)
    make_code(percent_off=10)
    token = eligible_token()
    page = client.get(f"/bookings/new/{token}?cohort={cohort.id}").get_data(as_text=True)
    assert 'name="promo_code"' in page and "Discount code (optional)" in page
    response = client.post(f"/bookings/new/{token}", data=_form(cohort, promo_code="welcome10"))
    assert response.status_code == 303
    pay = client.get(response.headers["Location"]).get_data(as_text=True)
    text = re.sub(r"\s+", " ", pay)
    assert "Discount code WELCOME10" in text and "−$497" in text
    assert "$4,473" in text and "$895" in text and "$4,970" in text
    manage = re.sub(r"\s+", " ", client.get(response.headers["Location"].removesuffix("/pay")).get_data(as_text=True))
    assert "Discount code WELCOME10" in manage and "−$497" in manage and "$4,473" in manage


@pytest.mark.parametrize("database_url", ["sqlite"], indirect=True)  # markup: the same on both
def test_the_booking_form_shows_a_bad_code_on_its_field_and_holds_nothing(client):
    cohort = make_cohort(3)
    token = eligible_token()
    response = client.post(f"/bookings/new/{token}", data=_form(cohort, promo_code="GUESSME"))
    assert response.status_code == 422
    page = response.get_data(as_text=True)
    assert 'href="#promo_code"' in page and "This code is not valid" in page
    assert 'id="promo_code"' in page and 'value="GUESSME"' in page
    assert count(Booking) == 0


@pytest.mark.parametrize("database_url", ["sqlite"], indirect=True)  # markup: the same on both
def test_the_estimate_page_takes_a_code(client):
    cohort = make_cohort(3)
    program = db.session.get(type(cohort.program), cohort.program_id)
    make_code(percent_off=10, program_ids=[program.id])
    created = client.post("/estimate", data={"program-program": program.slug, "program-lodging": "shared",
                                             "program-submit": "1"})
    assert created.status_code == 303
    address = created.headers["Location"]
    shown = client.get(address).get_data(as_text=True)
    assert "Have a discount code?" in shown
    response = client.post(address, data={"promo_code": "welcome10"})
    assert response.status_code == 200
    text = re.sub(r"\s+", " ", response.get_data(as_text=True))
    assert 'data-testid="estimate-discount">−$497<' in text
    assert 'data-testid="estimate-total">$4,473<' in text and 'data-testid="estimate-deposit">$895<' in text
    refused = client.post(address, data={"promo_code": "nope-nope"})
    assert refused.status_code == 422 and "This code is not valid" in refused.get_data(as_text=True)
    assert "estimate-discount" not in refused.get_data(as_text=True)
    assert client.post(address, data={"promo_code": ""}).status_code == 422


@pytest.mark.parametrize("database_url", ["sqlite"], indirect=True)  # markup: the same on both
def test_guessing_codes_on_the_estimate_page_is_rate_limited(app, database_url):
    cohort_id = make_cohort(3).id
    db.session.remove()
    limited = create_app("testing", SQLALCHEMY_DATABASE_URI=database_url, RATELIMIT_ENABLED=True,
                         RATELIMIT_PUBLIC_WRITE="5 per minute")
    with limited.app_context():
        try:
            from retreat.catalog.models import Cohort
            cohort = db.session.get(Cohort, cohort_id)
            client = limited.test_client()
            address = client.post("/estimate", data={"program-program": cohort.program.slug,
                                                     "program-lodging": "shared", "program-submit": "1"}
                                  ).headers["Location"]
            statuses = [client.post(address, data={"promo_code": f"GUESS{n:03d}"}).status_code for n in range(5)]
            assert statuses == [422] * 5
            assert client.post(address, data={"promo_code": "GUESS999"}).status_code == 429
        finally:
            db.session.remove()
            db.engine.dispose()


@pytest.mark.parametrize("database_url", ["sqlite"], indirect=True)  # markup: the same on both
def test_a_bad_code_is_named_with_the_other_mistakes(client):
    cohort = make_cohort(3)
    response = client.post("/api/v1/bookings", json=booking_body(
        cohort, eligible_token(), promo_code="GUESSME", applicant=dict(APPLICANT, email="nope")))
    assert response.status_code == 422
    assert set(response.get_json()["error"]["fields"]) == {"applicant.email", "promo_code"}
