"""Contract tests of POST /api/v1/waitlist (shared/API.md, "Bookings"): a full cohort's waitlist in order, one
entry per pre-screen, refused while seats are free, and the first in line offered the seat a cancellation frees."""

import pytest
import sqlalchemy as sa

from retreat.booking.models import Booking, WaitlistEntry
from retreat.extensions import db
from retreat.notify.models import OutboxEmail
from tests.api.test_bookings_api import DROP, book, changed, crisis_token, error_of, screening_of
from tests.booking.support import APPLICANT, eligible_token, ineligible_token, make_cohort, make_program

URL = "/api/v1/waitlist"


def waitlist_body(cohort, token: str, **changes) -> dict:
    body = {"cohort_id": cohort.id, "screening_token": token, "applicant": dict(APPLICANT)}
    body.update(changes)
    return body


def applicant(n: int) -> dict:
    return {**APPLICANT, "first_name": f"Applicant{n}", "email": f"applicant{n}@example.org"}


def entry_count() -> int:
    return db.session.scalar(sa.select(sa.func.count()).select_from(WaitlistEntry))


def full_cohort(client, **kwargs):
    """A cohort of one seat, held by a booking made through the API; returns (cohort, that booking)."""
    cohort = make_cohort(1, **kwargs)
    return cohort, book(client, cohort)


def test_joining_a_full_cohort_gives_places_in_line(client):
    cohort, _ = full_cohort(client)
    positions = []
    for n in (1, 2):
        response = client.post(URL, json=waitlist_body(cohort, eligible_token(), applicant=applicant(n)))
        assert response.status_code == 201, response.get_data(as_text=True)
        assert response.mimetype == "application/json"
        body = response.get_json()
        assert set(body) == {"id", "cohort_id", "position", "lodging"}
        assert type(body["id"]) is int and type(body["position"]) is int
        assert body["cohort_id"] == cohort.id
        assert body["lodging"] == "none"  # the program's first lodging option
        positions.append(body["position"])
    assert positions == [1, 2]
    entries = db.session.scalars(sa.select(WaitlistEntry).order_by(WaitlistEntry.id)).all()
    assert [(e.applicant_email, e.status) for e in entries] == [
        ("applicant1@example.org", "waiting"), ("applicant2@example.org", "waiting")]
    joined = db.session.scalars(sa.select(OutboxEmail.to_address).where(OutboxEmail.kind == "waitlist_joined")).all()
    assert sorted(joined) == ["applicant1@example.org", "applicant2@example.org"]


def test_a_chosen_lodging_is_kept(client):
    cohort, _ = full_cohort(client)
    body = client.post(URL, json=waitlist_body(cohort, eligible_token(), lodging="private")).get_json()
    assert body["lodging"] == "private"
    assert db.session.get(WaitlistEntry, body["id"]).lodging == "private"


def test_joining_again_with_the_same_pre_screen_gives_the_same_entry(client):
    cohort, _ = full_cohort(client)
    client.post(URL, json=waitlist_body(cohort, eligible_token(), applicant=applicant(1)))
    token = eligible_token()
    first = client.post(URL, json=waitlist_body(cohort, token, applicant=applicant(2))).get_json()
    again = client.post(URL, json=waitlist_body(cohort, token, applicant=applicant(2)))
    assert again.status_code == 201
    assert again.get_json() == first and first["position"] == 2
    assert entry_count() == 2


def test_a_cohort_with_free_seats_is_409_seats_available(client):
    cohort = make_cohort(2)
    book(client, cohort)
    error = error_of(client.post(URL, json=waitlist_body(cohort, eligible_token())), 409, "seats_available")
    assert "fields" not in error
    assert entry_count() == 0


def test_a_closed_cohort_is_409(client):
    cohort, _ = full_cohort(client)
    cohort.status = "closed"
    db.session.commit()
    error_of(client.post(URL, json=waitlist_body(cohort, eligible_token())), 409, "cohort_closed")
    assert entry_count() == 0


@pytest.mark.parametrize("make_token", [ineligible_token, crisis_token], ids=["ineligible", "crisis"])
def test_a_pre_screen_that_does_not_allow_booking_is_403(client, make_token):
    cohort, _ = full_cohort(client)
    error_of(client.post(URL, json=waitlist_body(cohort, make_token())), 403, "screening_not_eligible")
    assert entry_count() == 0


INVALID_VALUES = {
    "cohort_id": [DROP, None, "1", True, 0, 987654],
    "screening_token": [DROP, "", 7, "x" * 43, "\udfff"],
    "lodging": [None, "suite", 3],
    "applicant": [DROP, None, "Alex"],
    "applicant.first_name": [DROP, "", 1],
    "applicant.email": [DROP, "not-an-email", True],
    "applicant.phone": [DROP, "12"],
    "applicant.middle_name": ["Jo"],
    # A booking's payment choices are made when a seat is offered, not here.
    "payment_provider": ["demo"],
    "save_card": [True],
}


@pytest.mark.parametrize("field", list(INVALID_VALUES))
def test_each_invalid_field_is_named_and_nothing_is_stored(client, field):
    cohort, _ = full_cohort(client)
    token = eligible_token()
    for value in INVALID_VALUES[field]:
        response = client.post(URL, json=changed(waitlist_body(cohort, token), field, value))
        error = error_of(response, 422, "validation_failed")
        assert set(error["fields"]) == {field}, (value, error["fields"])
    assert entry_count() == 0
    assert client.post(URL, json=waitlist_body(cohort, token)).status_code == 201


def test_a_lodging_the_program_does_not_offer_is_422(client):
    cohort, _ = full_cohort(client, program=make_program(lodging_options=["shared"]))
    error = error_of(client.post(URL, json=waitlist_body(cohort, eligible_token(), lodging="private")), 422,
                     "validation_failed")
    assert error["fields"] == {"lodging": ["Choose one of: shared."]}
    body = client.post(URL, json=waitlist_body(cohort, eligible_token())).get_json()
    assert body["lodging"] == "shared"


@pytest.mark.parametrize("data, status", [("{", 400), ("[1]", 422)])
def test_a_body_that_is_not_a_json_object_is_refused(client, data, status):
    response = client.post(URL, data=data, content_type="application/json")
    error_of(response, status, "malformed_json" if status == 400 else "validation_failed")


def test_a_cancellation_offers_the_seat_to_the_first_in_line(client):
    cohort, held = full_cohort(client)
    first_token, second_token = eligible_token(), eligible_token()
    first = client.post(URL, json=waitlist_body(cohort, first_token, applicant=applicant(1))).get_json()
    client.post(URL, json=waitlist_body(cohort, second_token, applicant=applicant(2)))

    response = client.post(f"/api/v1/bookings/{held['reference']}/cancel",
                           headers={"Authorization": f"Bearer {held['manage_token']}"})
    assert response.status_code == 200, response.get_data(as_text=True)

    db.session.expire_all()
    entry = db.session.get(WaitlistEntry, first["id"])
    assert entry.status == "offered"
    offered = db.session.get(Booking, entry.booking_id)
    assert offered.status == "held" and offered.applicant_email == "applicant1@example.org"
    assert screening_of(first_token).token_used_at is not None
    offers = db.session.scalars(sa.select(OutboxEmail.to_address).where(OutboxEmail.kind == "waitlist_offer")).all()
    assert offers == ["applicant1@example.org"]
    # The second is first in line now.
    again = client.post(URL, json=waitlist_body(cohort, second_token, applicant=applicant(2))).get_json()
    assert again["position"] == 1
