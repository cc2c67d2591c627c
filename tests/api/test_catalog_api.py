"""Contract tests of the public catalog API: GET /api/v1/programs and GET /api/v1/programs/{slug}
(shared/API.md, "Catalog"; prices from shared/domain/pricing.md)."""

import re
from datetime import date, timedelta

import pytest

from retreat.booking.models import Booking, new_booking_reference
from retreat.catalog.models import Cohort, Program
from retreat.catalog.services import forget_cached_catalog
from retreat.core.clock import now, today
from retreat.demo import DEMO_PROGRAMS
from retreat.extensions import db
from retreat.pricing import estimator
from retreat.pricing.services import current_price_sheet

PROGRAM_FIELDS = {
    "slug", "name", "summary", "duration_days", "ketamine_route", "therapy_modality", "dosing_sessions",
    "integration_sessions", "intensive_sessions", "price_range", "cohorts",
}
COHORT_FIELDS = {"id", "start_date", "end_date", "capacity", "seats_left", "status"}
KETAMINE_ROUTES = {"iv", "im", "sublingual", "esketamine"}
THERAPY_MODALITIES = {"emdr", "art", "ifs"}
COHORT_STATUSES = {"open", "full", "closed"}
ISO_DATE = re.compile(r"^\d{4}-\d{2}-\d{2}$")
DEMO_BY_SLUG = {spec["slug"]: spec for spec in DEMO_PROGRAMS}


def is_int(value) -> bool:
    return type(value) is int  # a JSON true/false must not pass for a number


def iso_date(value) -> date:
    assert isinstance(value, str) and ISO_DATE.match(value), value
    return date.fromisoformat(value)


def assert_program_shape(program: dict) -> None:
    assert program.keys() >= PROGRAM_FIELDS, PROGRAM_FIELDS - program.keys()
    for field in ("slug", "name", "summary"):
        assert isinstance(program[field], str) and program[field], field
    for field in ("duration_days", "dosing_sessions", "integration_sessions", "intensive_sessions"):
        assert is_int(program[field]), field
    assert program["ketamine_route"] in KETAMINE_ROUTES
    assert program["therapy_modality"] in THERAPY_MODALITIES

    price_range = program["price_range"]
    assert {"min_cents", "max_cents", "currency"} <= price_range.keys()
    assert is_int(price_range["min_cents"]) and is_int(price_range["max_cents"])
    assert 0 < price_range["min_cents"] <= price_range["max_cents"]
    assert price_range["currency"] == "usd"

    assert isinstance(program["cohorts"], list)
    first_day = today()
    for cohort in program["cohorts"]:
        assert cohort.keys() >= COHORT_FIELDS, COHORT_FIELDS - cohort.keys()
        assert is_int(cohort["id"])
        start, end = iso_date(cohort["start_date"]), iso_date(cohort["end_date"])
        assert first_day <= start <= end
        assert is_int(cohort["capacity"]) and is_int(cohort["seats_left"])
        assert 0 <= cohort["seats_left"] <= cohort["capacity"]
        assert cohort["status"] in COHORT_STATUSES
    starts = [cohort["start_date"] for cohort in program["cohorts"]]
    assert starts == sorted(starts), "cohorts are listed soonest first"


def list_programs(client) -> list[dict]:
    response = client.get("/api/v1/programs")
    assert response.status_code == 200
    assert response.mimetype == "application/json"
    body = response.get_json()
    assert isinstance(body, dict) and isinstance(body["programs"], list)
    return body["programs"]


def listed(client, slug: str) -> dict:
    matches = [program for program in list_programs(client) if program["slug"] == slug]
    assert len(matches) == 1, f"{slug} listed {len(matches)} times"
    return matches[0]


def add_program(slug: str, *, published: bool = True, **fields) -> Program:
    values = {
        "name": f"Program {slug}", "summary": "A test program.", "duration_days": 7,
        "ketamine_route": "sublingual", "dosing_sessions": 4, "therapy_modality": "art",
        "integration_sessions": 4, "intensive_sessions": 1, "lodging_options": ["none", "shared", "private"],
    }
    values.update(fields)
    program = Program(slug=slug, published=published, **values)
    db.session.add(program)
    return program


def add_cohort(program: Program, days_ahead: int, *, capacity: int = 10, status: str = "open") -> Cohort:
    start = today() + timedelta(days=days_ahead)
    cohort = Cohort(program=program, start_date=start, capacity=capacity, status=status,
                    end_date=start + timedelta(days=program.duration_days - 1))
    db.session.add(cohort)
    return cohort


def add_booking(cohort: Cohort, status: str, hold_expires_at=None) -> Booking:
    booking = Booking(
        reference=new_booking_reference(), cohort=cohort, status=status, lodging="none",
        applicant_first_name="Test", applicant_last_name="Applicant", applicant_email="test@example.org",
        applicant_phone="+1 555 0100", price_list_version=1, total_cents=345_000, deposit_cents=69_000,
        balance_cents=276_000, balance_due_date=cohort.start_date - timedelta(days=14),
        hold_expires_at=hold_expires_at,
    )
    db.session.add(booking)
    return booking


def commit() -> None:
    db.session.commit()
    forget_cached_catalog()


# --- The list ---------------------------------------------------------------------------------------------

def test_lists_every_published_demo_program_with_the_program_shape(client, demo):
    programs = list_programs(client)

    assert sorted(program["slug"] for program in programs) == sorted(DEMO_BY_SLUG)
    for program in programs:
        assert_program_shape(program)
        spec = DEMO_BY_SLUG[program["slug"]]
        for field in ("name", "summary", "duration_days", "ketamine_route", "therapy_modality",
                      "dosing_sessions", "integration_sessions", "intensive_sessions"):
            assert program[field] == spec[field], (program["slug"], field)


def test_empty_catalog_is_an_empty_list(client):
    assert list_programs(client) == []


def test_unpublished_program_is_not_listed_and_not_found(client, demo):
    hidden = add_program("hidden-draft", published=False)
    add_cohort(hidden, 30)
    add_program("visible-new")  # control: a direct write does show once the cache is forgotten
    commit()

    slugs = [program["slug"] for program in list_programs(client)]
    assert "hidden-draft" not in slugs
    assert "visible-new" in slugs

    response = client.get("/api/v1/programs/hidden-draft")
    assert response.status_code == 404
    error = response.get_json()["error"]
    assert error["code"] == "not_found"
    assert isinstance(error["message"], str) and error["message"]


def test_unpublishing_removes_a_program(client, demo):
    program = db.session.scalar(db.select(Program).where(Program.slug == "iv-emdr-one-week"))
    program.published = False
    commit()

    assert "iv-emdr-one-week" not in [p["slug"] for p in list_programs(client)]
    assert client.get("/api/v1/programs/iv-emdr-one-week").status_code == 404


# --- Price range --------------------------------------------------------------------------------------------

def _estimator_total(spec: dict, lodging: str) -> int:
    configuration = estimator.Configuration(
        duration_days=spec["duration_days"], ketamine_route=spec["ketamine_route"],
        dosing_sessions=spec["dosing_sessions"], therapy_modality=spec["therapy_modality"],
        integration_sessions=spec["integration_sessions"], intensive_sessions=spec["intensive_sessions"],
        lodging=lodging,
    )
    return estimator.estimate(configuration, current_price_sheet()).total_cents


def test_price_range_spans_the_programs_lodging_options_as_the_estimator_prices_them(client, demo):
    for program in list_programs(client):
        spec = DEMO_BY_SLUG[program["slug"]]
        totals = [_estimator_total(spec, lodging) for lodging in spec["lodging_options"]]
        expected = {"min_cents": min(totals), "max_cents": max(totals), "currency": "usd"}
        assert program["price_range"] == expected, program["slug"]

        # ... and the public estimate of each of its lodging options agrees.
        estimated = []
        for lodging in spec["lodging_options"]:
            response = client.post("/api/v1/estimates", json={"program": program["slug"], "lodging": lodging})
            assert response.status_code == 201, response.get_json()
            estimated.append(response.get_json()["total_cents"])
        assert (min(estimated), max(estimated)) == (program["price_range"]["min_cents"],
                                                    program["price_range"]["max_cents"])


@pytest.mark.parametrize(("slug", "min_cents", "max_cents"), [
    # 300 + 4 x 600 + 4 x 200 + 750 = 4,250 without lodging; + 6 nights x 190 = 5,390 in a private room.
    ("iv-emdr-one-week", 425_000, 539_000),
    # No "none" option: 300 + 3,600 + 1,200 + 1,500 + 13 x 120 = 8,160 shared; + 13 x 190 = 9,070 private.
    ("iv-ifs-two-weeks", 816_000, 907_000),
])
def test_price_range_with_the_default_prices(client, demo, slug, min_cents, max_cents):
    price_range = listed(client, slug)["price_range"]
    assert price_range == {"min_cents": min_cents, "max_cents": max_cents, "currency": "usd"}


# --- Cohorts ------------------------------------------------------------------------------------------------

def test_cohorts_are_upcoming_only_soonest_first(client):
    program = add_program("dated")
    later = add_cohort(program, 60)
    past = add_cohort(program, -20)
    soonest = add_cohort(program, 10)
    cancelled = add_cohort(program, 20, status="cancelled")
    closed = add_cohort(program, 40, status="closed")
    middle = add_cohort(program, 30)
    commit()

    cohorts = listed(client, "dated")["cohorts"]
    assert [cohort["id"] for cohort in cohorts] == [soonest.id, middle.id, closed.id, later.id]
    assert past.id not in [cohort["id"] for cohort in cohorts]
    assert cancelled.id not in [cohort["id"] for cohort in cohorts]

    by_id = {cohort["id"]: cohort for cohort in cohorts}
    assert by_id[closed.id]["status"] == "closed"
    for cohort in (soonest, middle, later):
        shown = by_id[cohort.id]
        assert shown["status"] == "open"
        assert shown["start_date"] == cohort.start_date.isoformat()
        assert shown["end_date"] == cohort.end_date.isoformat()
        assert shown["capacity"] == 10 and shown["seats_left"] == 10


def test_program_without_cohorts_lists_none(client):
    add_program("no-dates-yet")
    commit()
    assert listed(client, "no-dates-yet")["cohorts"] == []


HOUR = timedelta(hours=1)


@pytest.mark.parametrize(("status", "hold_offset", "takes_seat"), [
    ("confirmed", None, True),
    ("paid_in_full", None, True),
    ("held", HOUR, True),
    ("pending_review", HOUR, True),
    ("held", -HOUR, False),
    ("pending_review", -HOUR, False),
    ("cancelled", None, False),
    ("cancelled", HOUR, False),
    ("declined", None, False),
    ("expired", -HOUR, False),
], ids=["confirmed", "paid_in_full", "live-hold", "live-review-hold", "expired-hold", "expired-review-hold",
        "cancelled", "cancelled-with-hold-time", "declined", "expired"])
def test_seats_left_by_booking_status(client, status, hold_offset, takes_seat):
    program = add_program("seats")
    cohort = add_cohort(program, 30, capacity=5)
    add_booking(cohort, status, now() + hold_offset if hold_offset is not None else None)
    commit()

    shown = listed(client, "seats")["cohorts"][0]
    assert shown["capacity"] == 5
    assert shown["seats_left"] == (4 if takes_seat else 5)
    assert shown["status"] == "open"


def test_seats_left_is_capacity_minus_confirmed_and_live_holds(client):
    program = add_program("busy")
    cohort = add_cohort(program, 30, capacity=10)
    other = add_cohort(program, 60, capacity=10)
    for status in ("confirmed", "confirmed", "paid_in_full"):
        add_booking(cohort, status)
    add_booking(cohort, "held", now() + HOUR)
    add_booking(cohort, "pending_review", now() + 24 * HOUR)
    add_booking(cohort, "held", now() - HOUR)
    add_booking(cohort, "pending_review", now() - HOUR)
    add_booking(cohort, "cancelled")
    add_booking(cohort, "cancelled")
    add_booking(other, "confirmed")  # another cohort's seat is not this one's
    commit()

    cohorts = {c["id"]: c for c in listed(client, "busy")["cohorts"]}
    assert cohorts[cohort.id]["seats_left"] == 10 - 3 - 2
    assert cohorts[cohort.id]["status"] == "open"
    assert cohorts[other.id]["seats_left"] == 9


def test_cohort_filled_by_confirmed_bookings_and_live_holds_is_full(client):
    program = add_program("filling")
    cohort = add_cohort(program, 30, capacity=2)
    add_booking(cohort, "confirmed")
    add_booking(cohort, "held", now() + HOUR)
    add_booking(cohort, "held", now() - HOUR)
    commit()

    shown = listed(client, "filling")["cohorts"][0]
    assert (shown["seats_left"], shown["status"]) == (0, "full")


def test_overbooked_cohort_shows_no_seats_rather_than_negative(client):
    program = add_program("overbooked")
    cohort = add_cohort(program, 30, capacity=1)
    add_booking(cohort, "confirmed")
    add_booking(cohort, "confirmed")
    commit()

    shown = listed(client, "overbooked")["cohorts"][0]
    assert (shown["seats_left"], shown["status"]) == (0, "full")


def test_closed_cohort_shows_closed_even_with_seats_left(client):
    program = add_program("closing")
    add_cohort(program, 30, capacity=8, status="closed")
    commit()

    shown = listed(client, "closing")["cohorts"][0]
    assert shown["status"] == "closed"
    assert shown["seats_left"] == 8


def test_demo_cohorts_show_their_seats_and_the_full_one(client, demo):
    full = []
    for program in list_programs(client):
        spec = DEMO_BY_SLUG[program["slug"]]
        expected = [(capacity, capacity - taken) for _, capacity, taken in sorted(spec["cohorts"])]
        assert [(c["capacity"], c["seats_left"]) for c in program["cohorts"]] == expected, program["slug"]
        for cohort in program["cohorts"]:
            assert cohort["status"] == ("full" if cohort["seats_left"] == 0 else "open")
            if cohort["status"] == "full":
                full.append(program["slug"])
    # The demo's one full cohort: the first of "IV Ketamine with EMDR, One Week" (8 seats, 8 confirmed).
    assert full == ["iv-emdr-one-week"]
    first = listed(client, "iv-emdr-one-week")["cohorts"][0]
    assert (first["capacity"], first["seats_left"], first["status"]) == (8, 0, "full")


# --- One program --------------------------------------------------------------------------------------------

def test_program_detail_is_the_listed_program(client, demo):
    for program in list_programs(client):
        response = client.get(f"/api/v1/programs/{program['slug']}")
        assert response.status_code == 200
        assert response.mimetype == "application/json"
        detail = response.get_json()
        assert_program_shape(detail)
        assert detail == program


@pytest.mark.parametrize("slug", ["no-such-program", "IV-EMDR-ONE-WEEK", "iv-emdr-one-week-", "0"])
def test_unknown_program_is_not_found(client, demo, slug):
    response = client.get(f"/api/v1/programs/{slug}")
    assert response.status_code == 404
    assert response.mimetype == "application/json"
    error = response.get_json()["error"]
    assert error["code"] == "not_found"
    assert isinstance(error["message"], str) and error["message"]
    assert "fields" not in error
