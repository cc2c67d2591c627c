"""Holds against abuse, tried as an attacker would: one script cannot hold every seat.

- A hold longer than the card hold (bank transfer, review) lasts only as long as a card hold until the applicant
  opens the link emailed to them; only then is it kept for its full time (and a review asked of a clinician).
- At most one live unpaid hold per email address (case-folded) and per phone number, clinic-wide; at most two per
  client address in one cohort (the real client behind a configured proxy). Over a limit: 429 too_many_holds,
  nothing held, and words that say what to do.
- Distinct applicants still book a cohort to its last seat; the limits hold under a concurrent burst on both
  databases; coordinators see each cohort's live holds and can release one (audited).
"""

from datetime import timedelta

import pytest
import sqlalchemy as sa
import time_machine
from werkzeug.middleware.proxy_fix import ProxyFix

from retreat import create_app
from retreat.booking import availability, services
from retreat.booking import hold_rules as holds
from retreat.booking.models import Booking, WaitlistEntry
from retreat.core.audit import AuditEntry
from retreat.core.clock import now
from retreat.extensions import db
from retreat.notify.models import OutboxEmail
from retreat.screening.models import Screening
from tests.booking.support import APPLICANT, booking_body, eligible_token, make_cohort, make_program, review_token
from tests.booking.test_concurrency import race

URL = "/api/v1/bookings"
BANK = "Pay to Cedar House Clinic LLC, account 12345678, routing 021000021."


@pytest.fixture
def limits(app):
    """The hold limits on, as in production (the test configuration switches them off for other tests)."""
    app.config["HOLD_LIMITS_ENABLED"] = True
    return app


def applicant(number: int, **changes) -> dict:
    """A different invented person each time, as a script would make them."""
    return {"first_name": "Pat", "last_name": f"Script {number}", "email": f"pat.script{number}@example.org",
            "phone": f"+1 555 01{number:02d} {1000 + number}", **changes}


def post_booking(client, cohort, *, address: str = "203.0.113.7", token: str | None = None, **body):
    values = booking_body(cohort, token or eligible_token(), applicant=body.pop("applicant", dict(APPLICANT)), **body)
    return client.post(URL, json=values, environ_base={"REMOTE_ADDR": address})


def count_bookings(**where) -> int:
    query = sa.select(sa.func.count()).select_from(Booking)
    for name, value in where.items():
        query = query.where(getattr(Booking, name) == value)
    return db.session.scalar(query)


# --- Keys -----------------------------------------------------------------------------------------------------

@pytest.mark.parametrize(("typed", "key"), [
    ("Alex@Example.org", "alex@example.org"),
    ("  ALEX@EXAMPLE.ORG ", "alex@example.org"),
    ("Straße@example.de", "strasse@example.de"),
])
def test_an_email_address_counts_however_it_is_typed(typed, key):
    assert holds.email_key(typed) == key


@pytest.mark.parametrize("typed", ["+1 555 013 4477", "555-013-4477", "(555) 013 4477", "+15550134477",
                                   "1 555 013 4477", "555.013.4477"])
def test_a_phone_number_counts_however_it_is_typed(typed):
    assert holds.phone_key(typed) == "+15550134477"


def test_a_foreign_number_keeps_its_country():
    assert holds.phone_key("+44 20 7946 0958") == "+442079460958"


# --- The limits, one by one -----------------------------------------------------------------------------------

# What the second booking changes from the first (same cohort or another), and whether it is refused.
LIMIT_CASES = {
    "same email, other case, other cohort": (
        {"applicant": applicant(2, email="Alex@EXAMPLE.org")}, True, True),
    "same phone, other format, other cohort": (
        {"applicant": applicant(2, phone="555-123-4567")}, True, True),
    "another applicant from the same address": ({"applicant": applicant(2)}, False, False),
    "another applicant, another cohort": ({"applicant": applicant(2)}, True, False),
}


@pytest.mark.parametrize("case", list(LIMIT_CASES))
def test_one_live_unpaid_hold_per_email_and_per_phone(limits, client, case):
    changes, other_cohort, refused = LIMIT_CASES[case]
    first_cohort = make_cohort(5)
    assert post_booking(client, first_cohort).status_code == 201
    second_cohort = make_cohort(5) if other_cohort else first_cohort
    response = post_booking(client, second_cohort, **changes)
    if refused:
        assert response.status_code == 429
        error = response.get_json()["error"]
        assert error["code"] == "too_many_holds"
        assert "pay for that booking or cancel it" in error["message"]
        assert count_bookings() == 1
    else:
        assert response.status_code == 201, response.get_json()


def test_a_paid_cancelled_or_lapsed_hold_no_longer_counts(limits, client):
    cohort = make_cohort(5)
    first = post_booking(client, cohort).get_json()
    services.payment_received(first["reference"], kind="deposit", amount_cents=first["deposit_cents"],
                              provider="demo", provider_reference="demo_paid_first")
    assert post_booking(client, cohort).status_code == 201  # the first one is paid: not a hold any more
    second = db.session.scalars(sa.select(Booking).order_by(Booking.id.desc())).first()
    services.cancel_booking(second)
    assert post_booking(client, cohort).status_code == 201
    third = db.session.scalars(sa.select(Booking).order_by(Booking.id.desc())).first()
    with time_machine.travel(third.hold_expires_at + timedelta(seconds=1), tick=False):
        assert post_booking(client, cohort).status_code == 201  # the third lapsed unpaid


def test_one_address_cannot_fill_a_cohort_but_others_book_it_to_the_last_seat(limits, client):
    """The attack of the issue: scripted pre-screens and bookings with invented names from one address."""
    cohort = make_cohort(8)
    answers = [post_booking(client, cohort, applicant=applicant(n)) for n in range(8)]
    assert [r.status_code for r in answers] == [201, 201] + [429] * 6
    assert all(r.get_json()["error"]["code"] == "too_many_holds" for r in answers[2:])
    assert "from your connection" in answers[2].get_json()["error"]["message"]
    assert availability.seats_left(db.session.get(type(cohort), cohort.id)) == 6

    # Six real applicants, each from their own connection, take the six seats left; the next finds it full.
    for n in range(10, 16):
        assert post_booking(client, cohort, applicant=applicant(n), address=f"198.51.100.{n}").status_code == 201
    full = post_booking(client, cohort, applicant=applicant(20), address="198.51.100.20")
    assert (full.status_code, full.get_json()["error"]["code"]) == (409, "cohort_full")
    assert count_bookings(cohort_id=cohort.id) == 8


def test_the_real_client_address_is_used_behind_a_configured_proxy(limits, client, monkeypatch):
    """With PROXY_FIX_HOPS=1 create_app wraps the app in ProxyFix, as here: clients behind one proxy are told
    apart by X-Forwarded-For."""
    monkeypatch.setattr(limits, "wsgi_app", ProxyFix(limits.wsgi_app, x_for=1, x_proto=1, x_host=1))
    cohort = make_cohort(8)

    def from_behind_proxy(number: int, real: str):
        body = booking_body(cohort, eligible_token(), applicant=applicant(number))
        return client.post(URL, json=body, headers={"X-Forwarded-For": real},
                           environ_base={"REMOTE_ADDR": "10.0.0.2"})

    statuses = [from_behind_proxy(n, real).status_code
                for n, real in enumerate(["198.51.100.1"] * 3 + ["198.51.100.2"] * 2)]
    assert statuses == [201, 201, 429, 201, 201]
    assert set(db.session.scalars(sa.select(Booking.client_address))) == {"198.51.100.1", "198.51.100.2"}


def test_the_limits_are_switched_off_together(app, client):
    app.config["HOLD_LIMITS_ENABLED"] = False
    cohort = make_cohort(5)
    assert [post_booking(client, cohort).status_code for _ in range(3)] == [201, 201, 201]


def test_the_booking_page_says_what_to_do_when_over_a_limit(limits, client):
    cohort = make_cohort(5)
    assert post_booking(client, cohort).status_code == 201
    token = eligible_token()
    page = client.post(f"/bookings/new/{token}", data={
        "cohort": str(cohort.id), "lodging": "shared", "first_name": "Alex", "last_name": "Rivera",
        "email": "ALEX@example.org", "phone": "555 123 4567", "policy_accepted": "y",
    }, environ_base={"REMOTE_ADDR": "198.51.100.9"})
    assert page.status_code == 429
    html = page.get_data(as_text=True)
    assert "A seat is already held for this email address or phone number" in html
    assert db.session.get(Screening, screening_id(token)).token_used_at is None  # the pre-screen is still usable


def screening_id(token: str) -> int:
    from retreat.screening import services as screening_services
    return screening_services.by_token(token).id


# --- Under a burst, on both databases -------------------------------------------------------------------------

@pytest.fixture
def limited_racing_app(app, database_url):
    racing = create_app("testing", SQLALCHEMY_DATABASE_URI=database_url, HOLD_LIMITS_ENABLED=True,
                        SQLALCHEMY_ENGINE_OPTIONS={"pool_size": 12, "max_overflow": 0, "pool_timeout": 30})
    yield racing
    with racing.app_context():
        db.engine.dispose()


def test_the_limits_hold_under_a_concurrent_burst(app, limited_racing_app):
    """Ten requests with one email address for ten different cohorts, all at once: one hold. Ten with invented
    applicants from one address for one cohort, all at once: two holds."""
    cohort_ids = [make_cohort(3, program=make_program()).id for _ in range(10)]
    tokens = [eligible_token() for _ in range(20)]
    same_email = [
        (lambda n=n, cohort_id=cohort_id, token=token: services.create_booking(policy_accepted=True, 
            cohort_id=cohort_id, screening_token=token, lodging="shared",
            applicant=applicant(n, email="Alex@Example.org"), client_address=f"198.51.100.{n}"))
        for n, (cohort_id, token) in enumerate(zip(cohort_ids, tokens[:10], strict=True))]
    outcomes = race(limited_racing_app, same_email)
    assert sum(isinstance(o, services.Created) for o in outcomes) == 1, outcomes
    assert all(isinstance(o, holds.TooManyHolds) for o in outcomes if not isinstance(o, services.Created)), outcomes

    target = make_cohort(8).id
    one_address = [
        (lambda n=n, token=token: services.create_booking(policy_accepted=True, 
            cohort_id=target, screening_token=token, lodging="shared", applicant=applicant(30 + n),
            client_address="203.0.113.99"))
        for n, token in enumerate(tokens[10:])]
    outcomes = race(limited_racing_app, one_address)
    assert sum(isinstance(o, services.Created) for o in outcomes) == 2, outcomes
    assert count_bookings(cohort_id=target) == 2
    # The refused racers' pre-screens stay usable.
    used = db.session.scalar(sa.select(sa.func.count()).select_from(Screening)
                             .where(Screening.token_used_at.is_not(None)))
    assert used == 3


# --- Long holds wait for the email address ----------------------------------------------------------------------

def test_a_bank_transfer_hold_lapses_like_a_card_hold_unless_the_email_is_confirmed(app):
    app.config["BANK_TRANSFER_INSTRUCTIONS"] = BANK
    cohort = make_cohort(1)
    start = now()
    with time_machine.travel(start, tick=False):
        created = services.create_booking(policy_accepted=True, cohort_id=cohort.id, screening_token=eligible_token(),
                                          lodging="shared",
                                          applicant=dict(APPLICANT), payment_provider="offline")
    booking = created.booking
    assert booking.hold_expires_at == start + timedelta(minutes=30)
    assert holds.needs_email_confirmation(booking)
    email = db.session.scalars(sa.select(OutboxEmail).where(OutboxEmail.kind == "booking_held")).one()
    link = f"/bookings/confirm/{booking.reference}/{holds.email_confirmation_token(booking)}"
    assert link in email.body and "Please confirm your email address" in email.body

    with time_machine.travel(start + timedelta(minutes=31), tick=False):
        assert availability.seats_left(db.session.get(type(cohort), cohort.id)) == 1  # the unconfirmed hold lapsed


def test_confirming_the_email_keeps_the_seat_for_the_full_hold_once(app, client):
    app.config["BANK_TRANSFER_INSTRUCTIONS"] = BANK
    cohort = make_cohort(1)
    start = now()
    with time_machine.travel(start, tick=False):
        created = services.create_booking(policy_accepted=True, cohort_id=cohort.id, screening_token=eligible_token(),
                                          lodging="shared",
                                          applicant=dict(APPLICANT), payment_provider="offline")
    booking = created.booking
    link = f"/bookings/confirm/{booking.reference}/{holds.email_confirmation_token(booking)}"
    with time_machine.travel(start + timedelta(minutes=12), tick=False):
        response = client.get(link)
        again = client.get(link)
    assert response.status_code == 303
    assert response.headers["Location"].endswith(f"/bookings/manage/{created.manage_token}")
    assert again.status_code == 303
    booking = db.session.get(Booking, booking.id)
    assert booking.email_confirmed_at == start + timedelta(minutes=12)
    assert booking.hold_expires_at == start + timedelta(days=5)
    assert not holds.needs_email_confirmation(booking)
    actions = list(db.session.scalars(sa.select(AuditEntry.action).where(AuditEntry.target_id == booking.reference)))
    assert actions.count("booking.email_confirmed") == 1 and actions.count("booking.hold_extended") == 1


@pytest.mark.parametrize("link", ["/bookings/confirm/{reference}/{wrong}", "/bookings/confirm/RT-ZZZZZZ/{right}",
                                  "/bookings/confirm/{reference}/{other}"])
def test_a_wrong_confirmation_link_confirms_nothing(app, client, link):
    app.config["BANK_TRANSFER_INSTRUCTIONS"] = BANK
    cohort = make_cohort(5)
    mine, other = (services.create_booking(policy_accepted=True, cohort_id=cohort.id,
                                           screening_token=eligible_token(), lodging="shared",
                                           applicant=applicant(n), payment_provider="offline").booking
                   for n in range(2))
    url = link.format(reference=mine.reference, right=holds.email_confirmation_token(mine), wrong="0" * 40,
                      other=holds.email_confirmation_token(other))
    assert client.get(url).status_code == 404
    assert db.session.get(Booking, mine.id).email_confirmed_at is None


def test_a_confirmation_after_the_hold_lapsed_keeps_the_seat_only_if_one_is_free(app):
    app.config["BANK_TRANSFER_INSTRUCTIONS"] = BANK
    cohort = make_cohort(1)
    start = now()
    with time_machine.travel(start, tick=False):
        late = services.create_booking(policy_accepted=True, cohort_id=cohort.id, screening_token=eligible_token(),
                                       lodging="shared",
                                       applicant=applicant(1), payment_provider="offline").booking
    with time_machine.travel(start + timedelta(minutes=40), tick=False):
        services.create_booking(policy_accepted=True, cohort_id=cohort.id, screening_token=eligible_token(),
                                lodging="shared",
                                applicant=applicant(2))  # takes the seat the lapsed hold let go
        services.confirm_email(late.reference, holds.email_confirmation_token(late))
    late = db.session.get(Booking, late.id)
    assert late.email_confirmed_at is not None
    assert late.hold_expires_at == start + timedelta(minutes=30)  # not taken back from the one who holds it now


def test_a_review_request_reaches_the_clinicians_only_once_the_email_is_confirmed(app):
    cohort = make_cohort(3)
    created = services.create_booking(policy_accepted=True, cohort_id=cohort.id, screening_token=review_token(),
                                      lodging="shared",
                                      applicant=dict(APPLICANT))
    booking = created.booking
    assert booking.status == "pending_review"
    screening = db.session.get(Screening, booking.screening_id)
    assert screening.review_status is None
    services.confirm_email(booking.reference, holds.email_confirmation_token(booking))
    assert db.session.get(Screening, booking.screening_id).review_status == "pending"


def test_the_manage_page_asks_for_the_confirmation(app, client):
    app.config["BANK_TRANSFER_INSTRUCTIONS"] = BANK
    created = services.create_booking(policy_accepted=True, cohort_id=make_cohort(3).id,
                                      screening_token=eligible_token(),
                                      lodging="shared", applicant=dict(APPLICANT), payment_provider="offline")
    html = client.get(f"/bookings/manage/{created.manage_token}").get_data(as_text=True)
    assert "Please confirm your email address." in html and APPLICANT["email"] in html
    services.confirm_email(created.booking.reference, holds.email_confirmation_token(created.booking))
    html = client.get(f"/bookings/manage/{created.manage_token}").get_data(as_text=True)
    assert "Please confirm your email address." not in html


# --- Coordinators see live holds and release one ----------------------------------------------------------------

def test_a_coordinator_sees_live_holds_and_releases_one(app, client, login_as):
    app.config["BANK_TRANSFER_INSTRUCTIONS"] = BANK
    cohort = make_cohort(2)
    card = services.create_booking(policy_accepted=True, cohort_id=cohort.id, screening_token=eligible_token(),
                                   lodging="shared",
                                   applicant=applicant(1)).booking
    bank = services.create_booking(policy_accepted=True, cohort_id=cohort.id, screening_token=eligible_token(),
                                   lodging="shared",
                                   applicant=applicant(2), payment_provider="offline").booking
    waiting = services.join_waitlist(cohort_id=cohort.id, screening_token=eligible_token(),
                                     applicant=applicant(3)).entry
    login_as("coordinator")
    html = client.get(f"/staff/cohorts/{cohort.id}").get_data(as_text=True)
    for booking in (card, bank):
        assert booking.reference in html
    assert "Card payment" in html and "Bank transfer" in html
    assert "Not confirmed" in html

    response = client.post(f"/staff/cohorts/{cohort.id}/holds/{bank.reference}/release")
    assert response.status_code == 303
    released = db.session.get(Booking, bank.id)
    assert released.status == "expired"
    entry = db.session.scalars(sa.select(AuditEntry).where(AuditEntry.action == "booking.hold_released")).one()
    assert entry.actor_email.startswith("coordinator") and entry.target_id == bank.reference
    kinds = set(db.session.scalars(sa.select(OutboxEmail.kind)))
    assert "booking_hold_released" in kinds and "waitlist_offer" in kinds
    assert db.session.get(WaitlistEntry, waiting.id).status == "offered"  # the freed seat went to the waitlist

    again = client.post(f"/staff/cohorts/{cohort.id}/holds/{bank.reference}/release", follow_redirects=True)
    assert "nothing to release" in again.get_data(as_text=True)


@pytest.mark.parametrize("role", ["clinician", "finance"])
def test_only_coordinators_and_admins_release_holds(app, client, login_as, role):
    cohort = make_cohort(2)
    booking = services.create_booking(policy_accepted=True, cohort_id=cohort.id, screening_token=eligible_token(),
                                      lodging="shared",
                                      applicant=applicant(1)).booking
    login_as(role)
    assert client.post(f"/staff/cohorts/{cohort.id}/holds/{booking.reference}/release").status_code == 403
    assert db.session.get(Booking, booking.id).status == "held"
