"""A custom estimate leads somewhere (GET /estimates/<id>): to the published programs with its ketamine route,
therapy modality and length, or, when none has them, to the pre-screen and the catalog with a sentence saying so.
A program's estimate leads to that program's dates."""

import pytest

from retreat.catalog import programs as catalog_programs
from retreat.catalog import services as catalog
from retreat.catalog.models import Program
from retreat.demo import seed_demo_data
from retreat.extensions import db
from retreat.pricing import services as pricing
from tests.pricing.test_estimate_pages import parse

SESSIONS = {"iv": 4, "im": 5, "sublingual": 4, "esketamine": 2}


def custom_estimate_page(client, route: str, modality: str, days: int):
    issued = pricing.estimate_custom({
        "duration_days": days, "ketamine_route": route, "dosing_sessions": SESSIONS[route],
        "therapy_modality": modality, "integration_sessions": 5, "intensive_sessions": 1, "lodging": "shared"})
    response = client.get(f"/estimates/{issued.id}")
    assert response.status_code == 200
    return parse(response)


def next_step(page):
    return next((s for s in page.find_all("section") if s.attrs.get("aria-labelledby") == "next-heading"), None)


def hrefs(element) -> list[str]:
    return [a["href"] for a in element.find_all("a")]


@pytest.mark.parametrize(("route", "modality", "days", "slugs"), [
    ("iv", "emdr", 7, ["iv-emdr-one-week"]),
    ("iv", "ifs", 14, ["iv-ifs-two-weeks"]),
    ("im", "emdr", 10, ["im-emdr-ten-days"]),
    ("esketamine", "ifs", 7, ["esketamine-ifs-one-week"]),
    ("sublingual", "ifs", 14, ["sublingual-ifs-two-weeks"]),
])
def test_a_custom_estimate_links_to_the_programs_that_match_it(app, client, route, modality, days, slugs):
    seed_demo_data()
    section = next_step(custom_estimate_page(client, route, modality, days))
    assert section.find("h2").text() == "Programs like this one"
    listed = [a["href"] for a in section.find("ul").find_all("a")]
    assert listed == [f"/programs/{slug}" for slug in slugs]
    assert "1 of our programs has " in section.text() and f" over {days} days." in section.text()
    assert "/" in hrefs(section)  # and every program, to compare


@pytest.mark.parametrize(("route", "modality", "days", "words"), [
    ("iv", "emdr", 10, "IV ketamine with EMDR over 10 days"),
    ("im", "ifs", 7, "IM ketamine with IFS over 7 days"),
    ("esketamine", "emdr", 14, "Esketamine (Spravato) with EMDR over 14 days"),
])
def test_a_custom_estimate_no_program_matches_leads_to_the_pre_screen_and_the_catalog(app, client, route,
                                                                                        modality, days, words):
    seed_demo_data()
    section = next_step(custom_estimate_page(client, route, modality, days))
    assert section.find("h2").text() == "What next"
    assert f"None of our programs has {words} just now" in section.text()
    assert section.find("ul") is None
    assert hrefs(section) == ["/screening/", "/"]


def test_an_unpublished_program_is_not_offered(app, client):
    seed_demo_data()
    program = db.session.query(Program).filter_by(slug="im-emdr-ten-days").one()
    catalog_programs.set_published(program.id, False)
    catalog.forget_cached_catalog()
    section = next_step(custom_estimate_page(client, "im", "emdr", 10))
    assert "None of our programs has" in section.text()


def test_a_program_estimate_leads_to_its_dates(app, client):
    seed_demo_data()
    issued = catalog.estimate_for_program("iv-emdr-one-week", "shared")
    page = parse(client.get(f"/estimates/{issued.id}"))
    assert next_step(page) is None
    assert "/programs/iv-emdr-one-week#dates-heading" in hrefs(page)
