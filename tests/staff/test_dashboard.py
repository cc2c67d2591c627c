"""The coordinators' dashboard: the cohorts of the next 90 days, each with one stacked seat bar (confirmed,
held, pending review, free) drawn in SVG, its counts in text, and access for coordinators and admins only."""

import html
import re
from datetime import timedelta

import pytest
import sqlalchemy as sa
import time_machine

from retreat.booking import availability
from retreat.booking.models import Booking
from retreat.booking.occupancy import CohortOccupancy, upcoming_occupancy
from retreat.booking.staff_views import bar_segments
from retreat.catalog.models import Cohort, Program
from retreat.core.clock import now, today
from retreat.extensions import db

# --- Helpers ---------------------------------------------------------------------------------------------------

def make_program(name: str = "IV Ketamine with EMDR", slug: str = "iv-emdr") -> Program:
    program = Program(slug=slug, name=name, summary="A test program.", duration_days=7, ketamine_route="iv",
                      dosing_sessions=4, therapy_modality="emdr", integration_sessions=4, intensive_sessions=1,
                      lodging_options=["none", "shared"], published=True)
    db.session.add(program)
    return program


def make_cohort(program: Program, days_ahead: int, capacity: int = 10, status: str = "open") -> Cohort:
    start = today() + timedelta(days=days_ahead)
    cohort = Cohort(program=program, start_date=start, end_date=start + timedelta(days=6), capacity=capacity,
                    status=status)
    db.session.add(cohort)
    return cohort


_references = iter(range(1, 10_000))


def book(cohort: Cohort, status: str, *, hold_minutes: int | None = None, count: int = 1) -> None:
    """Booking rows made directly; `hold_minutes` from now (negative: a hold that has lapsed)."""
    for _ in range(count):
        db.session.add(Booking(
            reference=f"RT-D{next(_references):05d}", cohort=cohort, status=status, lodging="none",
            applicant_first_name="Ada", applicant_last_name="Test", applicant_email="ada@example.org",
            applicant_phone="+1 555 0100", price_list_version=1, total_cents=4_250_00, deposit_cents=850_00,
            balance_cents=3_400_00, balance_due_date=cohort.start_date - timedelta(days=14),
            hold_expires_at=None if hold_minutes is None else now() + timedelta(minutes=hold_minutes),
        ))


@pytest.fixture
def cohorts(app):
    """A cohort with every kind of booking, and cohorts in and out of the 90 days."""
    program = make_program()
    other = make_program("Esketamine with IFS", "esketamine-ifs")
    mixed = make_cohort(program, 10, capacity=10)
    book(mixed, "confirmed", count=2)
    book(mixed, "paid_in_full")
    book(mixed, "held", hold_minutes=30, count=2)
    book(mixed, "held", hold_minutes=-1)  # lapsed: the seat is free again
    book(mixed, "pending_review", hold_minutes=60 * 24)
    book(mixed, "pending_review", hold_minutes=-5)  # lapsed
    book(mixed, "cancelled")
    book(mixed, "declined")
    book(mixed, "expired", hold_minutes=-60)
    full = make_cohort(other, 30, capacity=4)
    book(full, "confirmed", count=3)
    book(full, "held", hold_minutes=10)
    closed = make_cohort(program, 45, capacity=8, status="closed")
    book(closed, "confirmed", count=5)
    today_cohort = make_cohort(other, 0, capacity=6)
    last_day = make_cohort(program, 90, capacity=6)
    beyond = make_cohort(program, 91, capacity=6)
    past = make_cohort(program, -1, capacity=6)
    cancelled = make_cohort(other, 20, capacity=6, status="cancelled")
    db.session.commit()
    return {"mixed": mixed.id, "full": full.id, "closed": closed.id, "today": today_cohort.id,
            "last_day": last_day.id, "beyond": beyond.id, "past": past.id, "cancelled": cancelled.id}


def cohort_row(page: str, cohort_id: int) -> str:
    found = re.search(rf'<tr class="occupancy-row[^"]*" data-cohort-id="{cohort_id}">(.*?)</tr>', page, re.S)
    assert found, f"no row for cohort {cohort_id}"
    return found[0]


def bar_rects(row: str) -> dict[str, tuple[float, float, int]]:
    """category -> (x, width, count) of the bar's segments."""
    rects = re.findall(r'<rect class="seat-segment seat-([a-z-]+)" x="([\d.]+)" y="0" width="([\d.]+)" '
                       r'height="10" data-count="(\d+)">', row)
    return {category: (float(x), float(width), int(count)) for category, x, width, count in rects}


# --- The service ----------------------------------------------------------------------------------------------

def test_counts_per_category(cohorts):
    rows = {row.cohort_id: row for row in upcoming_occupancy()}
    mixed = rows[cohorts["mixed"]]
    assert (mixed.program_name, mixed.capacity, mixed.status) == ("IV Ketamine with EMDR", 10, "open")
    assert (mixed.confirmed, mixed.held, mixed.pending_review, mixed.free) == (3, 2, 1, 4)
    assert mixed.start_date == today() + timedelta(days=10)
    full = rows[cohorts["full"]]
    assert (full.confirmed, full.held, full.pending_review, full.free, full.full) == (3, 1, 0, 0, True)
    closed = rows[cohorts["closed"]]
    assert (closed.status, closed.confirmed, closed.free) == ("closed", 5, 3)
    empty = rows[cohorts["today"]]
    assert (empty.confirmed, empty.held, empty.pending_review, empty.free) == (0, 0, 0, 6)


def test_free_seats_match_the_seats_left_the_public_sees(cohorts):
    for row in upcoming_occupancy():
        cohort = db.session.get(Cohort, row.cohort_id)
        assert row.free == availability.seats_left(cohort), row


def test_only_cohorts_from_today_to_90_days_ahead_and_not_cancelled(cohorts):
    ids = [row.cohort_id for row in upcoming_occupancy()]
    assert ids == [cohorts["today"], cohorts["mixed"], cohorts["full"], cohorts["closed"], cohorts["last_day"]]
    assert [row.cohort_id for row in upcoming_occupancy(days=30)] == [cohorts["today"], cohorts["mixed"],
                                                                      cohorts["full"]]


def test_a_hold_lapses_on_the_dashboard_too(cohorts):
    with time_machine.travel(now() + timedelta(hours=2), tick=False):
        mixed = next(row for row in upcoming_occupancy() if row.cohort_id == cohorts["mixed"])
    assert (mixed.confirmed, mixed.held, mixed.pending_review, mixed.free) == (3, 0, 1, 6)


def test_two_queries_however_many_cohorts(app, cohorts):
    program = db.session.scalars(sa.select(Program).where(Program.slug == "iv-emdr")).one()
    for days in range(1, 40):
        book(make_cohort(program, days, capacity=3), "confirmed")
    db.session.commit()
    statements = []

    def count(conn, cursor, statement, *args):
        statements.append(statement)

    sa.event.listen(db.engine, "before_cursor_execute", count)
    try:
        rows = upcoming_occupancy()
    finally:
        sa.event.remove(db.engine, "before_cursor_execute", count)
    assert len(rows) == 44
    assert len([s for s in statements if s.lstrip().upper().startswith("SELECT")]) == 2, statements


def test_over_capacity_never_shows_negative_free_seats():
    over = CohortOccupancy(1, "P", "p", today(), today(), capacity=2, status="open", confirmed=2, held=1,
                           pending_review=0)
    assert (over.free, over.over_capacity, over.full) == (0, 1, True)
    assert [(s.category, s.x, s.width) for s in bar_segments(over)] == [
        ("confirmed", 0, pytest.approx(66.6667)), ("held", pytest.approx(66.6667), pytest.approx(33.3333))]


def test_segments_fill_the_bar_in_proportion():
    row = CohortOccupancy(1, "P", "p", today(), today(), capacity=7, status="open", confirmed=3, held=1,
                          pending_review=2)
    segments = bar_segments(row)
    assert [s.category for s in segments] == ["confirmed", "held", "pending_review", "free"]
    assert [s.count for s in segments] == [3, 1, 2, 1]
    for segment in segments:
        assert segment.width == pytest.approx(100 * segment.count / 7, abs=1e-3)
    assert segments[-1].x + segments[-1].width == pytest.approx(100)
    assert bar_segments(CohortOccupancy(1, "P", "p", today(), today(), 0, "open", 0, 0, 0)) == ()


# --- The page --------------------------------------------------------------------------------------------------

def test_dashboard_shows_one_proportional_bar_per_cohort(client, login_as, cohorts):
    login_as("coordinator")
    response = client.get("/staff/dashboard")
    page = response.get_data(as_text=True)
    assert response.status_code == 200

    mixed = cohort_row(page, cohorts["mixed"])
    assert mixed.count("<svg") == 1
    rects = bar_rects(mixed)
    assert rects == {"confirmed": (0, 30, 3), "held": (30, 20, 2), "pending-review": (50, 10, 1),
                     "free": (60, 40, 4)}
    title = html.unescape(re.search(r"<title id=\"seats-title-\d+\">(.*?)</title>", mixed)[1])
    assert "3 confirmed, 2 held, 1 pending review, 4 free of 10 seats" in title
    assert re.search(r'<svg [^>]*role="img" aria-labelledby="seats-title-\d+"', mixed)
    text = re.sub(r"\s+", " ", re.sub(r"<[^>]+>", " ", mixed.split("</svg>")[1]))
    assert "3 confirmed 2 held 1 pending review 4 free of 10" in text

    full = cohort_row(page, cohorts["full"])
    assert 'class="badge badge-full">Full<' in full
    assert bar_rects(full) == {"confirmed": (0, 75, 3), "held": (75, 25, 1)}
    closed = cohort_row(page, cohorts["closed"])
    assert "Closed to bookings" in closed and "is-closed" in closed
    assert bar_rects(closed) == {"confirmed": (0, 62.5, 5), "free": (62.5, 37.5, 3)}
    assert "Full" not in closed
    assert bar_rects(cohort_row(page, cohorts["today"])) == {"free": (0, 100, 6)}
    assert "starts today" in cohort_row(page, cohorts["today"])

    for absent in ("beyond", "past", "cancelled"):
        assert f'data-cohort-id="{cohorts[absent]}"' not in page, absent
    assert page.index(f'data-cohort-id="{cohorts["today"]}"') < page.index(f'data-cohort-id="{cohorts["mixed"]}"')


def test_dashboard_has_a_legend_and_obeys_the_content_security_policy(client, login_as, cohorts):
    login_as("admin")
    response = client.get("/staff/dashboard")
    page = response.get_data(as_text=True)
    assert response.status_code == 200
    assert "style-src 'self'" in response.headers["Content-Security-Policy"]
    assert "style=" not in page and "<script" not in page
    for label in ("Confirmed", "Held", "Pending review", "Free"):
        assert f"<strong>{label}</strong>" in page
    assert "5 cohorts" in page


def test_dashboard_links_each_cohort_to_its_page(client, login_as, cohorts, app):
    login_as("coordinator")
    page = client.get("/staff/dashboard").get_data(as_text=True)
    if "staff.cohort" in app.view_functions:
        assert f'href="/staff/cohorts/{cohorts["mixed"]}"' in cohort_row(page, cohorts["mixed"])
    else:
        pytest.fail("the staff.cohort endpoint is missing: the dashboard cannot link to cohort pages")


def test_dashboard_without_cohorts(client, login_as):
    login_as("coordinator")
    response = client.get("/staff/dashboard")
    assert response.status_code == 200
    assert "No cohorts start in the next 90 days." in response.get_data(as_text=True)


@pytest.mark.parametrize("role", ["clinician", "finance"])
def test_other_roles_are_refused(client, login_as, role):
    login_as(role)
    assert client.get("/staff/dashboard").status_code == 403


def test_anonymous_visitors_are_sent_to_sign_in(client):
    response = client.get("/staff/dashboard")
    assert response.status_code == 302 and "/staff/login" in response.headers["Location"]


def test_coordinators_land_on_their_to_do_with_the_dashboard_in_the_menu(client, login_as):
    login_as("coordinator")
    response = client.get("/staff/")
    assert response.status_code == 200
    html = response.get_data(as_text=True)
    assert 'data-todo="hold_lapsing"' in html and 'href="/staff/dashboard"' in html
