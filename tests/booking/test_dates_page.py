"""The dates page (GET /bookings/new/<token>) grouped by program, opening on the program chosen on its page
("Book" leads through the pre-screen, which remembers the program, not health data); and the nights a booking is
charged, which are its cohort's (cohorts last their program's length: tests/staff/test_cohorts_console.py)."""

import re
from datetime import timedelta

import pytest
import sqlalchemy as sa

from retreat.booking import services
from retreat.booking.models import Booking
from retreat.catalog.chosen import SESSION_KEY
from retreat.catalog.models import Cohort, Program
from retreat.core.clock import today
from retreat.core.errors import DomainError
from retreat.demo import seed_demo_data
from retreat.extensions import db
from retreat.web.filters import date_range
from tests.booking.support import APPLICANT, eligible_token, make_cohort, make_program
from tests.pricing.test_estimate_pages import parse


def offers_of(page) -> list:
    return [section for section in page.find_all("section") if "offer" in section.attrs.get("class", "").split()]


def name_of(section) -> str:
    return section.find("h2").text()


def is_open(section) -> bool:
    return "open" in section.find("details").attrs


def three_programs():
    """Three published programs with dates, cheapest first as the catalog orders them."""
    programs = [make_program(name=name, slug=slug, lodging_options=lodging) for name, slug, lodging in (
        ("Seven days, no lodging", "seven-none", ["none"]),
        ("Seven days, shared room", "seven-shared", ["shared"]),
        ("Seven days, private room", "seven-private", ["private"]))]
    for program in programs:
        make_cohort(4, starts_in_days=40, program=program)
        make_cohort(4, starts_in_days=70, program=program)
    return programs


def dates_page(client, token=None):
    return parse(client.get(f"/bookings/new/{token or eligible_token()}"))


def test_without_a_chosen_program_every_program_is_a_closed_card(client):
    three_programs()
    page = dates_page(client)
    sections = offers_of(page)
    assert [name_of(s) for s in sections] == ["Seven days, no lodging", "Seven days, shared room",
                                              "Seven days, private room"]
    assert not any(is_open(s) for s in sections)
    assert sections[0].find("span", class_="offer-summary").text().endswith("· from $4,250")


@pytest.mark.parametrize("slug", ["seven-shared", "seven-private"])
def test_book_on_a_program_page_opens_the_dates_page_on_that_program(client, slug):
    three_programs()
    program_page = parse(client.get(f"/programs/{slug}"))
    book = next(a for a in program_page.find_all("a") if a.text() == "Book: take the pre-screen first")
    assert book["href"] == f"/screening/?program={slug}"
    intro = parse(client.get(book["href"]))
    assert "You are booking" in intro.text()
    with client.session_transaction() as session:
        assert set(session) - {"csrf_token", "_fresh"} == {SESSION_KEY}  # the program's slug, nothing of health
        assert session[SESSION_KEY] == slug

    sections = offers_of(dates_page(client))
    assert sections[0].find("h2").attrs["id"] == f"offer-{slug}"
    assert "The program you chose" in sections[0].text()
    assert [is_open(s) for s in sections] == [True, False, False]
    assert len(sections) == 3


@pytest.mark.parametrize("program", ["no-such-program", "draft", "", None])
def test_the_intro_remembers_only_a_published_program_and_forgets_an_earlier_choice(client, program):
    make_cohort(program=make_program(slug="draft", published=False))
    make_cohort(program=make_program(slug="published"))
    client.get("/screening/?program=published")
    url = "/screening/" if program is None else f"/screening/?program={program}"
    response = client.get(url)
    assert response.status_code == 200
    assert "You are booking" not in parse(response).text()
    with client.session_transaction() as session:
        assert SESSION_KEY not in session


def test_a_chosen_program_without_open_dates_is_said_and_the_others_shown(client):
    three_programs()
    quiet = make_program(slug="quiet", name="A program between dates")
    client.get(f"/screening/?program={quiet.slug}")
    page = dates_page(client)
    assert "A program between dates has no dates open to book just now. The other programs’ dates are below." in \
        page.text()
    assert len(offers_of(page)) == 3 and not any(is_open(s) for s in offers_of(page))


def test_one_program_is_open_without_a_choice(client):
    make_cohort()
    [section] = offers_of(dates_page(client))
    assert is_open(section)


def test_each_cohort_is_a_row_with_its_dates_seats_price_and_a_button_naming_the_dates(client):
    program = make_program(name="Seven-day IV ketamine with EMDR")
    start = today() + timedelta(days=45)
    cohort = make_cohort(4, starts_in_days=45, program=program)
    full = make_cohort(1, starts_in_days=75, program=program)
    services.create_booking(policy_accepted=True, cohort_id=full.id, screening_token=eligible_token(), lodging="shared",
                            applicant=APPLICANT)
    token = eligible_token()
    [section] = offers_of(dates_page(client, token))
    rows = [li for li in section.find_all("li") if "cohort-row" in li.attrs.get("class", "").split()]
    assert len(rows) == 2
    first, second = rows
    end = start + timedelta(days=6)
    dates = date_range(start, end)
    assert first.find("p", class_="cohort-dates").text() == dates
    assert first.find("p", class_="cohort-facts").text() == "4 seats left from $4,250"
    [choose] = first.find_all("a")
    assert choose["href"] == f"/bookings/new/{token}?cohort={cohort.id}"
    assert choose.text() == f"Choose {dates}"
    assert choose["aria-label"] == f"Choose {dates}, Seven-day IV ketamine with EMDR"
    [wait] = second.find_all("a")
    assert "Full" in second.text()
    assert wait["aria-label"].startswith("Join the waitlist for ")
    assert wait["href"] == f"/bookings/new/{token}?cohort={full.id}"


def test_button_names_are_distinct_on_the_demo_dates_page(app, client):
    seed_demo_data()
    page = dates_page(client)
    buttons = [a for a in page.find_all("a") if "?cohort=" in a.attrs.get("href", "")]
    names = [a["aria-label"] for a in buttons]
    assert len(names) >= 19
    assert len(set(names)) == len(names)
    for button in buttons:  # the words shown name the dates, and are where the accessible name starts
        assert re.fullmatch(r"(Choose|Join the waitlist for) \d{1,2}( [A-Z][a-z]{2})?( \d{4})? ?– ?"
                            r"\d{1,2} [A-Z][a-z]{2} \d{4}", button.text()), button.text()
        assert button["aria-label"].startswith(button.text() + ", ")
    for section in offers_of(page):
        shown = [a.text() for a in section.find_all("a")]
        assert len(set(shown)) == len(shown)


# --- Nights: a booking is charged its cohort's nights -----------------------------------------------------------

@pytest.mark.parametrize(("days", "lodging", "night_cents"), [
    (7, "shared", 120_00), (7, "private", 190_00), (10, "shared", 120_00), (14, "private", 190_00),
])
def test_a_booking_pays_for_the_nights_of_its_dates(app, days, lodging, night_cents):
    program = make_program(duration_days=days, dosing_sessions=4, integration_sessions=4)
    cohort = make_cohort(program=program)
    nights = (cohort.end_date - cohort.start_date).days
    assert nights == days - 1
    with_lodging = services.create_booking(policy_accepted=True, cohort_id=cohort.id,
                                           screening_token=eligible_token(), lodging=lodging,
                                           applicant=APPLICANT).booking
    without = services.create_booking(policy_accepted=True, cohort_id=cohort.id, screening_token=eligible_token(),
                                      lodging="none",
                                      applicant={**APPLICANT, "email": "b@example.org", "phone": "+1 555 000 1111"}
                                      ).booking
    assert with_lodging.total_cents - without.total_cents == nights * night_cents


def test_dates_that_do_not_last_their_program_are_not_booked_at_another_length(app):
    """A 26-day cohort of a two-week program, saved before the rule, is refused rather than charged 13 nights."""
    program = make_program(duration_days=14, dosing_sessions=6, integration_sessions=6)
    cohort = make_cohort(program=program)
    cohort.end_date = cohort.start_date + timedelta(days=25)
    db.session.commit()
    with pytest.raises(DomainError) as refusal:
        services.create_booking(policy_accepted=True, cohort_id=cohort.id, screening_token=eligible_token(),
                                lodging="shared", applicant=APPLICANT)
    assert refusal.value.code in ("cohort_not_bookable", "cohort_not_open")
    assert db.session.scalar(sa.select(sa.func.count()).select_from(Booking)) == 0


def test_the_demo_dates_last_their_programs(app):
    from tests.e2e.conftest import add_longest_strings
    seed_demo_data()
    add_longest_strings()
    cohorts = db.session.scalars(sa.select(Cohort).join(Program)).all()
    assert len(cohorts) >= 20
    for cohort in cohorts:
        assert (cohort.end_date - cohort.start_date).days + 1 == cohort.program.duration_days, cohort
