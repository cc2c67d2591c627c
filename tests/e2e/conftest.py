"""Browser fixtures: Debian's Chromium driven by pytest-playwright, against the test's live server.

`playwright install` cannot download browsers on these machines, so the launch points Playwright at
/usr/bin/chromium. A machine without it skips these tests with the install hint (CI fails instead).
Pages open on `live_server.url`; pytest-base-url's `base_url` is not used.
"""

from pathlib import Path
from urllib.parse import urlsplit

import pytest

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
