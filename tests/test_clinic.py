"""The clinic has a face: its settings, the footer of every public page, the contact page, every email's foot, and
every time shown to a person in the clinic's zone (core/clinic.py and the clinic_time/clinic_date filters).

Expected times are worked out by hand from the zones' rules (New York: EST, UTC-5, until 2:00 on the second Sunday
of March, EDT, UTC-4, until 2:00 on the first Sunday of November; Auckland: NZDT, UTC+13, in the southern summer,
NZST, UTC+12, in winter), not from the code under test.
"""

import re
from datetime import UTC, date, datetime
from pathlib import Path
from zoneinfo import ZoneInfo

import pytest
import sqlalchemy as sa
import time_machine
from flask import render_template_string

import config
from retreat import create_app
from retreat.booking import services as booking_services
from retreat.extensions import db
from retreat.notify import services as notify
from retreat.notify.models import OutboxEmail
from tests.booking.support import APPLICANT, eligible_token, make_cohort
from tests.pricing.test_estimate_pages import _TreeBuilder
from tests.test_config import _production_environment

ROOT = Path(__file__).resolve().parent.parent
NAME, PHONE, EMAIL = "Cedar House Retreats", "(828) 555-0142", "hello@cedarhouse.example"
ADDRESS = "Cedar House, 14 Orchard Lane, Asheville, NC 28801"
TEL = "tel:+18285550142"


def parse(response):
    """The whole page (header, main and footer)."""
    builder = _TreeBuilder()
    builder.feed(response.get_data(as_text=True))
    builder.close()
    return builder.root


def bare_app(**overrides):
    """The testing app without a database: filters and templates only."""
    return create_app("testing", SQLALCHEMY_DATABASE_URI="sqlite://", **overrides)


# --- Times in the clinic's zone ----------------------------------------------------------------------------------

@pytest.mark.parametrize(("zone", "moment", "shown", "day"), [
    # New York in winter (EST) and summer (EDT)
    ("America/New_York", datetime(2027, 1, 15, 19, 5, tzinfo=UTC), "Fri 15 Jan 2027, 2:05 PM EST", date(2027, 1, 15)),
    ("America/New_York", datetime(2027, 7, 15, 19, 5, tzinfo=UTC), "Thu 15 Jul 2027, 3:05 PM EDT", date(2027, 7, 15)),
    # The spring change, Sunday 14 March 2027: 1:59 EST, then 3:00 EDT a minute later
    ("America/New_York", datetime(2027, 3, 14, 6, 59, tzinfo=UTC), "Sun 14 Mar 2027, 1:59 AM EST", date(2027, 3, 14)),
    ("America/New_York", datetime(2027, 3, 14, 7, 0, tzinfo=UTC), "Sun 14 Mar 2027, 3:00 AM EDT", date(2027, 3, 14)),
    # The autumn change, Sunday 7 November 2027: 1:30 comes twice, EDT then EST
    ("America/New_York", datetime(2027, 11, 7, 5, 30, tzinfo=UTC), "Sun 7 Nov 2027, 1:30 AM EDT", date(2027, 11, 7)),
    ("America/New_York", datetime(2027, 11, 7, 6, 30, tzinfo=UTC), "Sun 7 Nov 2027, 1:30 AM EST", date(2027, 11, 7)),
    # A naive value is UTC (as SQLite's raw rows are)
    ("America/New_York", datetime(2027, 1, 15, 19, 5), "Fri 15 Jan 2027, 2:05 PM EST", date(2027, 1, 15)),
    # Another zone's offset is honoured: 9:05 in Berlin is 14:05 UTC
    ("America/New_York", datetime(2027, 1, 15, 15, 5, tzinfo=ZoneInfo("Europe/Berlin")),
     "Fri 15 Jan 2027, 9:05 AM EST", date(2027, 1, 15)),
    # Early in the UTC day it is still the evening before in New York
    ("America/New_York", datetime(2027, 4, 1, 0, 30, tzinfo=UTC), "Wed 31 Mar 2027, 8:30 PM EDT", date(2027, 3, 31)),
    # Noon and midnight
    ("America/New_York", datetime(2027, 1, 15, 17, 0, tzinfo=UTC), "Fri 15 Jan 2027, 12:00 PM EST", date(2027, 1, 15)),
    ("America/New_York", datetime(2027, 1, 15, 5, 0, tzinfo=UTC), "Fri 15 Jan 2027, 12:00 AM EST", date(2027, 1, 15)),
    # Auckland, set through the configuration: already the next day
    ("Pacific/Auckland", datetime(2027, 1, 15, 19, 5, tzinfo=UTC), "Sat 16 Jan 2027, 8:05 AM NZDT", date(2027, 1, 16)),
    ("Pacific/Auckland", datetime(2027, 7, 15, 19, 5, tzinfo=UTC), "Fri 16 Jul 2027, 7:05 AM NZST", date(2027, 7, 16)),
])
def test_times_are_shown_in_the_clinic_zone_with_its_abbreviation(zone, moment, shown, day):
    app = bare_app(CLINIC_TIMEZONE=zone)
    with app.test_request_context():
        assert render_template_string("{{ moment|clinic_time }}", moment=moment) == shown
        assert render_template_string("{{ moment|clinic_date }}", moment=moment) == day.isoformat()
        assert render_template_string("{{ moment|clinic_date|long_date }}", moment=moment) == shown.split(",")[0]


def test_the_time_element_carries_the_moment_with_the_clinic_offset():
    with bare_app().test_request_context():
        html = render_template_string("{{ m|clinic_time_tag }}", m=datetime(2027, 7, 15, 19, 5, tzinfo=UTC))
        assert html == '<time datetime="2027-07-15T15:05:00-04:00">Thu 15 Jul 2027, 3:05 PM EDT</time>'
        assert render_template_string("{{ m|clinic_time(with_date=False, seconds=True) }}",
                                      m=datetime(2027, 1, 15, 19, 5, 9, tzinfo=UTC)) == "2:05:09 PM EST"
        assert render_template_string("{{ none|clinic_time }}") == "—"


@pytest.mark.parametrize(("zone", "words"), [
    ("America/New_York", "Eastern Time"), ("America/Los_Angeles", "Pacific Time"),
    ("Pacific/Auckland", "Auckland time"), ("America/Argentina/Buenos_Aires", "Buenos Aires time"),
])
def test_the_zone_is_named_in_words(zone, words):
    with bare_app(CLINIC_TIMEZONE=zone).test_request_context():
        assert render_template_string("{{ clinic_zone_name() }}") == words


# --- Configuration -----------------------------------------------------------------------------------------------

def _complete_production(monkeypatch):
    _production_environment(monkeypatch)
    for name in ("STRIPE_SECRET_KEY", "STRIPE_PUBLISHABLE_KEY", "STRIPE_WEBHOOK_SECRET"):
        monkeypatch.setenv(name, "x_live_configured")
    monkeypatch.setenv("CLINIC_EMAIL", "care@clinic.example")
    monkeypatch.setenv("CLINIC_PHONE", "(212) 555-0199")
    monkeypatch.setenv("CLINIC_TIMEZONE", "America/Chicago")


def test_production_starts_with_the_clinic_settings(monkeypatch):
    _complete_production(monkeypatch)
    create_app("production")


@pytest.mark.parametrize("missing", ["CLINIC_EMAIL", "CLINIC_PHONE", "CLINIC_TIMEZONE", "CLINIC_NPI", "CLINIC_TAX_ID"])
def test_production_refuses_to_start_without_each_clinic_setting(monkeypatch, missing):
    _complete_production(monkeypatch)
    monkeypatch.delenv(missing)
    with pytest.raises(config.ConfigurationError, match=f"refuses to start without {missing}"):
        create_app("production")


@pytest.mark.parametrize("config_name", ["production", "development", "testing"])
@pytest.mark.parametrize("zone", ["America/Nowhere", "EST5EDT/../etc", "Eastern"])
def test_an_unknown_time_zone_stops_every_configuration(monkeypatch, tmp_path, config_name, zone):
    _complete_production(monkeypatch)
    monkeypatch.setattr(config, "INSTANCE_PATH", tmp_path)
    monkeypatch.setenv("CLINIC_TIMEZONE", zone)
    with pytest.raises(config.ConfigurationError, match="CLINIC_TIMEZONE"):
        create_app(config_name)


def test_an_unknown_time_zone_given_to_the_app_is_refused():
    with pytest.raises(config.ConfigurationError, match="CLINIC_TIMEZONE 'Mars/Olympus_Mons'"):
        bare_app(CLINIC_TIMEZONE="Mars/Olympus_Mons")


def test_development_has_a_believable_clinic(monkeypatch, tmp_path):
    for name in ("CLINIC_NAME", "CLINIC_EMAIL", "CLINIC_PHONE", "CLINIC_ADDRESS", "CLINIC_TIMEZONE"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setattr(config, "INSTANCE_PATH", tmp_path)
    settings = create_app("development").config
    assert re.fullmatch(r"\(\d{3}\) 555-01\d\d", settings["CLINIC_PHONE"]), "a number reserved for fiction"
    assert settings["CLINIC_EMAIL"].endswith(".example")
    assert settings["CLINIC_NAME"] and settings["CLINIC_ADDRESS"]
    assert settings["CLINIC_TIMEZONE"] == "America/New_York"


# --- The clinic on the pages -------------------------------------------------------------------------------------

@pytest.mark.parametrize("path", ["/", "/estimate", "/screening/", "/contact", "/programs/no-such-program",
                                  "/bookings/manage/" + "x" * 40])
def test_every_public_page_shows_how_to_reach_the_clinic(client, path):
    page = parse(client.get(path))
    footer = page.find("footer")
    assert NAME in footer.text()
    [phone] = [a for a in footer.find_all("a") if a.attrs.get("href") == TEL]
    assert phone.text() == PHONE
    assert any(a.attrs.get("href") == f"mailto:{EMAIL}" for a in footer.find_all("a"))
    assert any(a.attrs.get("href") == "/contact" for a in footer.find_all("a"))
    assert footer.text().index(PHONE) < footer.text().index(EMAIL), "phone first"


def test_the_contact_page_names_the_clinic_its_zone_and_the_crisis_lines(client, app):
    app.config.update(CLINIC_TIMEZONE="Pacific/Auckland")
    page = parse(client.get("/contact"))
    main = page.find("main")
    assert main.find("h1").text() == f"Contact {NAME}"
    hrefs = {a.attrs.get("href") for a in main.find_all("a")}
    assert {TEL, f"mailto:{EMAIL}", "tel:988", "tel:911"} <= hrefs
    assert ADDRESS in main.find("address").text()
    assert "all times on this site are Auckland time" in main.text()
    assert "988 Suicide & Crisis Lifeline" in main.text() and "Veterans press 1" in main.text()


def test_a_page_that_asks_to_contact_the_clinic_gives_its_phone_and_email(client):
    """A manage link that is not valid: the error page's message says how to reach the clinic."""
    text = parse(client.get("/bookings/manage/" + "x" * 40)).find("main").text()
    assert f"Please contact the clinic (call {PHONE} or email {EMAIL})" in text


def test_the_contact_macro_links_the_phone_and_email():
    with bare_app().test_request_context():
        html = render_template_string('{% from "macros.html" import contact_clinic %}{{ contact_clinic() }}')
    assert html == (f'contact the clinic (call <a class="nowrap" href="{TEL}">{PHONE}</a> or email '
                    f'<a class="break" href="mailto:{EMAIL}">{EMAIL}</a>)')


CONTACT_WORDS = re.compile(r"contact (the clinic|us)|get in touch|call us|email us|on our website", re.IGNORECASE)


def test_templates_ask_to_contact_the_clinic_only_through_the_macro():
    """Wording that sends the applicant to the clinic is followed by its phone and email: the macro gives both."""
    bare = []
    for path in sorted((ROOT / "templates").rglob("*.html")):
        for number, line in enumerate(path.read_text().splitlines(), 1):
            text = re.sub(r"\{\{ contact_clinic\([^)]*\) \}\}|\{#.*?#\}|\{%.*?%\}", "", line)
            if CONTACT_WORDS.search(text) and "<title" not in text and "block title" not in line:
                bare.append(f"{path.relative_to(ROOT)}:{number}: {line.strip()}")
    assert bare == []


# --- Emails ------------------------------------------------------------------------------------------------------

def test_the_foot_of_every_email_names_the_clinic_and_how_to_reach_it(app):
    assert notify.clinic_contact() == f"{NAME}\n{ADDRESS}\nPhone: {PHONE}\nEmail: {EMAIL}"


def test_the_seat_held_email_gives_the_hold_in_the_clinic_zone_and_the_full_foot(app):
    with time_machine.travel(datetime(2027, 1, 15, 19, 5, tzinfo=UTC), tick=False):
        cohort = make_cohort(3)
        booking_services.create_booking(policy_accepted=True, cohort_id=cohort.id, screening_token=eligible_token(),
                                        lodging="shared", applicant=dict(APPLICANT))
    [held] = db.session.scalars(sa.select(OutboxEmail).where(OutboxEmail.kind == "booking_held")).all()
    assert "until Fri 15 Jan 2027, 2:35 PM EST while you pay" in held.body
    assert f"{NAME}\n{ADDRESS}\nPhone: {PHONE}\nEmail: {EMAIL}" in held.body
    assert "UTC" not in held.body and "on our website" not in held.body


def test_no_email_sends_the_applicant_to_the_website_for_contact_details():
    sources = [path for path in (ROOT / "retreat").rglob("*.py") if "on our website" in path.read_text()]
    assert sources == []


# --- Nobody adds UTC times back ----------------------------------------------------------------------------------

# `date` values (a month of the month close) may be formatted; a datetime is shown through the clinic filters.
DATE_VALUES = ("close.month.", "close.previous.", "close.next.")


def test_no_template_formats_a_datetime_itself():
    found = []
    for path in sorted((ROOT / "templates").rglob("*.html")):
        for number, line in enumerate(path.read_text().splitlines(), 1):
            for match in re.finditer(r"([\w.]+)\.(strftime|isoformat)\(|([\w.]+_at)\.date\(\)", line):
                if not match.group(0).startswith(DATE_VALUES) and not match.group(0).endswith(
                        ("start_date.isoformat(", "end_date.isoformat(", "start.isoformat(")):
                    found.append(f"{path.relative_to(ROOT)}:{number}: {match.group(0)}")
            if re.search(r"\bUTC\b", line) and "finance/" not in str(path):
                found.append(f"{path.relative_to(ROOT)}:{number}: says UTC")
    assert found == []


def test_no_python_outside_the_exports_writes_a_time_of_day_itself():
    allowed = {"retreat/core/spreadsheets.py"}  # CSV cells of staff exports, ISO-like by contract
    found = [f"{path.relative_to(ROOT)}: {match}" for path in sorted((ROOT / "retreat").rglob("*.py"))
             if str(path.relative_to(ROOT)) not in allowed
             for match in re.findall(r".{0,30}%[HI]:%M.{0,10}", path.read_text())]
    assert found == []


@pytest.mark.parametrize("name, value", [
    ("CLINIC_NPI", "1234567890"),  # wrong check digit
    ("CLINIC_NPI", "123456789"),
    ("CLINIC_NPI", "12345678931"),
    ("CLINIC_NPI", "NPI1234567"),
    ("CLINIC_TAX_ID", "12-345678"),
    ("CLINIC_TAX_ID", "123-45-6789"),  # a social security number's shape: not the clinic's EIN
    ("CLINIC_TAX_ID", "EIN 12-3456789"),
])
def test_production_refuses_an_npi_or_tax_id_an_insurer_would_refuse(monkeypatch, name, value):
    _complete_production(monkeypatch)
    monkeypatch.setenv(name, value)
    with pytest.raises(config.ConfigurationError, match=name):
        create_app("production")


@pytest.mark.parametrize("npi", ["1234567893", "1245319599", "1003000126"])
def test_real_npis_pass_their_check_digit(npi):
    assert config.npi_is_valid(npi)
