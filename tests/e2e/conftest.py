"""Browser fixtures: Debian's Chromium driven by pytest-playwright, against the test's live server.

`playwright install` cannot download browsers on these machines, so the launch points Playwright at
/usr/bin/chromium. A machine without it skips these tests with the install hint (CI fails instead).
Pages open on `live_server.url`; pytest-base-url's `base_url` is not used.

Every browser test runs on the same calendar, whatever day it runs (`pinned_clock`), and its demo data holds the
longest strings a real catalog shows (`longest_strings`): a program name of 95 characters, dates that span a new
year with two-digit days on both sides, and a five-digit price.

Browser tests run on SQLite only, except those marked `both_databases`: what a browser sees does not depend on the
database, and every rule behind a page is tested on both databases by the fast tests. The main booking journey runs
on PostgreSQL too, to prove the whole path from a phone to a paid seat on the production database.
"""

from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from urllib.parse import urlsplit

import pytest
import sqlalchemy as sa
import time_machine

from retreat.catalog.models import Cohort, Program
from retreat.catalog.services import forget_cached_catalog
from retreat.core.clock import today
from retreat.extensions import db
from retreat.pricing.editing import create_price_list_version
from tests.support.system import require

CHROMIUM = Path("/usr/bin/chromium")
CHROMIUM_ARGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]

# A Monday morning in New York. The clock still ticks from here, so holds and links age as they would.
PINNED_NOW = datetime(2027, 12, 6, 14, 0, tzinfo=UTC)

LONGEST_PROGRAM_NAME = "IV Ketamine with Internal Family Systems Integration and Two Half-Day Intensives, Two Weeks"
LONGEST_PROGRAM_SLUG = "iv-ifs-two-weeks-with-intensives"
# Under the price list `longest_strings` saves ($815 an IFS intensive): 300 + 6 x 600 + 10 x 200 + 2 x 815 +
# 13 x 190 for a private room.
LONGEST_PRICE = "$10,000"


@pytest.hookimpl(tryfirst=True)
def pytest_generate_tests(metafunc):
    """Each browser test runs on SQLite alone unless marked `both_databases` (or parametrized itself)."""
    if ("database_url" in metafunc.fixturenames and not metafunc.definition.get_closest_marker("both_databases")
            and not any("database_url" in marker.args[0].split(",")
                        for marker in metafunc.definition.iter_markers("parametrize"))):
        # As a marker, so that pytest's own parametrizing (from markers, then from fixture params) sees it.
        metafunc.definition.add_marker(pytest.mark.parametrize("database_url", ["sqlite"], indirect=True))


@pytest.fixture(autouse=True)
def pinned_clock():
    """The app's clock (and the demo data made from it) starts at PINNED_NOW in every browser test."""
    with time_machine.travel(PINNED_NOW, tick=True):
        yield


def year_spanning_start(today: date) -> date:
    """The first 28 December at least two weeks away: a two-week cohort from it ends on 10 January."""
    start = date(today.year, 12, 28)
    return start if start - today >= timedelta(days=14) else date(today.year + 1, 12, 28)


def add_longest_strings():
    """A published program with the longest strings the catalog meets, priced at exactly $10,000 in a private
    room; its one cohort runs from 28 December to 10 January. Returns the program."""
    create_price_list_version({"price_intensive_ifs": "815"}, "IFS intensives now include a follow-up call.")
    program = Program(
        slug=LONGEST_PROGRAM_SLUG, name=LONGEST_PROGRAM_NAME, published=True,
        summary="Six monitored IV infusions with ten Internal Family Systems sessions and two intensives.",
        description="A longer program for people who want more integration time.",
        location="Cedar House, 14 Orchard Lane, Asheville, NC", duration_days=14, ketamine_route="iv",
        dosing_sessions=6, therapy_modality="ifs", integration_sessions=10, intensive_sessions=2,
        lodging_options=["shared", "private"])
    start = year_spanning_start(today())
    db.session.add(program)
    db.session.add(Cohort(program=program, start_date=start, end_date=start + timedelta(days=13), capacity=12))
    db.session.commit()
    forget_cached_catalog()
    return program


@pytest.fixture
def demo(demo):
    """The demo data of `flask demo seed` on the pinned calendar, with the longest strings added."""
    add_longest_strings()
    return demo


@pytest.fixture
def longest_program(demo) -> Program:
    return db.session.scalars(sa.select(Program).where(Program.slug == LONGEST_PROGRAM_SLUG)).one()


PHONE = {"viewport": {"width": 390, "height": 844}, "is_mobile": True, "has_touch": True,
         "device_scale_factor": 1}
DESKTOP = {"viewport": {"width": 1280, "height": 900}, "device_scale_factor": 1}


@pytest.fixture(scope="session")
def browser_type_launch_args(browser_type_launch_args):
    require(CHROMIUM.exists(), "Chromium")
    return {**browser_type_launch_args, "executable_path": str(CHROMIUM), "args": CHROMIUM_ARGS}


@pytest.fixture(scope="session")
def base_url():
    """Not used: each test opens `live_server.url`, a fresh port per test. Overridden so that neither
    pytest-base-url nor a stray --base-url gives the browser contexts a different origin."""
    return None


@pytest.fixture
def screenshots(artifacts_dir):
    """Save a full-page screenshot under artifacts_dir/screenshots for a person to look at."""
    folder = artifacts_dir / "screenshots"
    folder.mkdir(parents=True, exist_ok=True)

    def save(page, name: str) -> Path:
        path = folder / name
        page.screenshot(path=str(path), full_page=True)
        return path

    return save


class RequestLog:
    """Every request a browser context makes, to prove nothing leaves 127.0.0.1."""

    def __init__(self):
        self.urls: list[str] = []

    def __call__(self, request):
        self.urls.append(request.url)

    def foreign(self) -> list[str]:
        local = {"data", "blob", "about"}
        return [url for url in self.urls
                if urlsplit(url).scheme not in local and urlsplit(url).hostname != "127.0.0.1"]


@pytest.fixture
def request_log():
    """The URLs of every request made by the pages of `phone_page` or `desktop_page`."""
    return RequestLog()


def _page(new_context, options, log):
    context = new_context(**options)
    context.on("request", log)
    page = context.new_page()
    page.set_default_timeout(10_000)
    return page


@pytest.fixture
def phone_page(new_context, request_log):
    """A page on a phone-sized viewport (390x844), its requests recorded in `request_log`."""
    return _page(new_context, PHONE, request_log)


@pytest.fixture
def desktop_page(new_context, request_log):
    """A page on a desktop viewport (1280x900), its requests recorded in `request_log`."""
    return _page(new_context, DESKTOP, request_log)
