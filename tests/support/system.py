"""System parts some tests need (PostgreSQL, Chromium). Locally a missing part skips the test with the command
that installs it; in CI (CI=true) nothing may be skipped, so a missing part fails."""

import os

import pytest

INSTALL_HINT = "run `make system-deps` (apt-get install -y postgresql chromium chromium-driver wrk)"


def in_ci() -> bool:
    return os.environ.get("CI", "").lower() in {"1", "true", "yes"}


def require(available: bool, what: str, install_hint: str = INSTALL_HINT) -> None:
    if available:
        return
    message = f"{what} is not installed: {install_hint}"
    if in_ci():
        pytest.fail(message + " (CI must run every test)", pytrace=False)
    pytest.skip(message)
