import re
from datetime import timedelta

import pytest

from retreat.booking.availability import seats_left
from retreat.booking.models import Booking
from retreat.catalog import services
from retreat.catalog.models import Cohort, Program
from retreat.core.clock import now, today
from retreat.extensions import db


def _program(**overrides) -> Program:
    fields = dict(slug="test-iv-emdr", name="Test IV with EMDR", summary="A test program.", duration_days=7,
                  ketamine_route="iv", dosing_sessions=4, therapy_modality="emdr", integration_sessions=4,
                  intensive_sessions=1, lodging_options=["none", "shared"], published=True)
    fields.update(overrides)
    program = Program(**fields)
    db.session.add(program)
    return program


def _cohort(program: Program, days_ahead: int, capacity: int = 4, status: str = "open") -> Cohort:
    start = today() + timedelta(days=days_ahead)
    cohort = Cohort(program=program, start_date=start, end_date=start + timedelta(days=program.duration_days - 1),
                    capacity=capacity, status=status)
    db.session.add(cohort)
    return cohort


def _booking(cohort: Cohort, status: str, hold_minutes: int | None = None) -> Booking:
    booking = Booking(
        reference=f"RT-T{db.session.new.__len__():05d}{status[:3]}", cohort=cohort, status=status, lodging="none",
        applicant_first_name="Ada", applicant_last_name="Test", applicant_email="ada@example.org",
        applicant_phone="+1 555 0100", price_list_version=1, total_cents=370000, deposit_cents=74000,
        balance_cents=296000, balance_due_date=cohort.start_date - timedelta(days=14),
        hold_expires_at=None if hold_minutes is None else now() + timedelta(minutes=hold_minutes),
    )
    db.session.add(booking)
    return booking


def test_home_lists_each_program_with_its_facts(client, demo):
    page = client.get("/").get_data(as_text=True)
    for program in services.published_programs():
        card = page[page.index(program.name):]
        card = card[: card.find("</li>")]
        assert f"/programs/{program.slug}" in page
        assert program.next_open_cohort is not None
        assert f"{program.price_min_cents // 100:,}" in card
        assert str(program.next_open_cohort.start_date.day) in card
        assert re.search(r"\d+ seats? left", card), program.slug


def test_program_page_shows_what_is_included_and_marks_the_full_cohort(client, demo):
    page = client.get("/programs/iv-emdr-one-week").get_data(as_text=True)
    assert "<strong>4</strong> IV ketamine sessions" in page
    assert "<strong>4</strong> EMDR (Eye Movement Desensitization and Reprocessing) integration therapy" in page
    assert "half-day therapy intensive" in page
    assert 'class="badge badge-full">Full<' in page
    assert page.count("<tr class=\"is-full\">") == 1


def test_seats_left_counts_confirmed_bookings_and_live_holds_only(app):
    program = _program()
    cohort = _cohort(program, 30, capacity=5)
    _booking(cohort, "confirmed")
    _booking(cohort, "paid_in_full")
    _booking(cohort, "held", hold_minutes=20)
    _booking(cohort, "pending_review", hold_minutes=60 * 48)
    _booking(cohort, "held", hold_minutes=-1)  # lapsed: frees its seat at once
    _booking(cohort, "cancelled")
    _booking(cohort, "expired")
    db.session.commit()
    assert seats_left(cohort) == 1
    (view,) = services.published_programs()
    assert view.cohorts[0].seats_left == 1
    assert view.cohorts[0].status == "open"


def test_full_closed_past_and_cancelled_cohorts(app):
    program = _program()
    full = _cohort(program, 10, capacity=1)
    _booking(full, "confirmed")
    _cohort(program, 20, status="closed")
    _cohort(program, -3)
    _cohort(program, 40, status="cancelled")
    db.session.commit()
    (view,) = services.published_programs()
    assert [(c.status, c.seats_left) for c in view.cohorts] == [("full", 0), ("closed", 4)]
    assert view.next_open_cohort is None


def test_unpublished_program_is_not_shown(client, app):
    _program(slug="draft", published=False)
    db.session.commit()
    assert b"draft" not in client.get("/").data
    assert client.get("/programs/draft").status_code == 404


@pytest.mark.parametrize("path", ["/", "/programs/iv-emdr-one-week", "/estimate"])
def test_public_pages_load_nothing_from_other_hosts(client, demo, path):
    page = client.get(path).get_data(as_text=True)
    assert "<script" not in page
    external = re.findall(r'(?:src|href)="(https?://[^"]+)"', page)
    assert all(url.startswith("https://988lifeline.org") for url in external), external
    assert "988" in page


def test_cached_catalog_is_forgotten_after_a_change(app, database_url):
    from retreat import create_app
    from retreat.pricing.services import ensure_default_price_list

    cached_app = create_app("testing", SQLALCHEMY_DATABASE_URI=database_url, CATALOG_CACHE_SECONDS=10)
    with cached_app.app_context():
        ensure_default_price_list()
        program = _program()
        cohort = _cohort(program, 30, capacity=2)
        db.session.commit()
        assert services.published_programs()[0].cohorts[0].seats_left == 2
        _booking(cohort, "confirmed")
        db.session.commit()
        assert services.published_programs()[0].cohorts[0].seats_left == 2  # cached
        services.forget_cached_catalog()
        assert services.published_programs()[0].cohorts[0].seats_left == 1
        db.session.remove()
        db.engine.dispose()
