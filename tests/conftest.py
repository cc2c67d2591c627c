"""Fixtures shared by every test.

Each test that uses the database runs twice, once on SQLite and once on a real PostgreSQL server (test ids
end in [sqlite] or [postgresql]). The schema comes from the Alembic migrations, once per backend; between
tests every table is emptied and the default price list loaded again.
"""

import os
import threading
from pathlib import Path

import jinja2
import jinja2.bccache
import pytest
import sqlalchemy as sa
import time_machine
from flask import g
from hypothesis import HealthCheck, settings
from werkzeug.routing import Rule
from werkzeug.serving import make_server

from retreat import create_app
from retreat.extensions import db
from retreat.pricing.services import ensure_default_price_list
from tests.support import postgres, system

ARTIFACTS = Path(__file__).resolve().parent.parent / "test-artifacts"

settings.register_profile("default", deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
settings.load_profile("default")


@pytest.hookimpl(hookwrapper=True)
def pytest_runtest_makereport(item, call):
    """Under CI a skipped test is a failed test: every real component must run there."""
    outcome = yield
    report = outcome.get_result()
    if system.in_ci() and report.skipped and not hasattr(report, "wasxfail"):
        report.outcome = "failed"
        report.longrepr = f"Skipped under CI, which must run every test: {report.longrepr}"


@pytest.fixture(scope="session", autouse=True)
def test_calendar():
    """RETREAT_TEST_DATE (an ISO date-time, say 2028-02-28T23:30:00Z) runs the suite as if started then, the clock
    ticking on: a test that fails on some dates shows itself without waiting for them. Unset, the real clock.
    Tests that talk to localstripe need the real clock (Stripe signs its webhooks with it)."""
    when = os.environ.get("RETREAT_TEST_DATE")
    if not when:
        yield
        return
    with time_machine.travel(when, tick=True):
        yield


@pytest.fixture(scope="session")
def postgres_server():
    bindir = postgres.find_bindir()
    system.require(bindir is not None and (bindir / "pg_ctl").exists(), "PostgreSQL")
    with postgres.throwaway_server(bindir) as base_url:
        yield base_url


def _migrate(url: str) -> None:
    import flask_migrate
    app = create_app("testing", SQLALCHEMY_DATABASE_URI=url)
    with app.app_context():
        flask_migrate.upgrade()
        db.engine.dispose()


@pytest.fixture(scope="session", params=["sqlite", "postgresql"])
def database_url(request, tmp_path_factory):
    """A migrated database on each backend, made once per test session."""
    if request.param == "sqlite":
        url = f"sqlite:///{tmp_path_factory.mktemp('sqlite') / 'retreat.sqlite3'}"
    else:
        url = postgres.create_database(request.getfixturevalue("postgres_server"), "retreat_test")
    _migrate(url)
    return url


def _empty_all_tables() -> None:
    tables = db.metadata.sorted_tables
    if db.engine.dialect.name == "postgresql":
        names = ", ".join(f'"{table.name}"' for table in tables)
        db.session.execute(sa.text(f"TRUNCATE {names} RESTART IDENTITY CASCADE"))
    else:
        # SQLite has no TRUNCATE, and its triggers refuse DELETE on the append-only tables (audit log, ledger):
        # they are set aside while the tables are emptied and made again from their own SQL.
        triggers = db.session.execute(sa.text("SELECT name, sql FROM sqlite_master WHERE type = 'trigger'")).all()
        for name, _ in triggers:
            db.session.execute(sa.text(f'DROP TRIGGER "{name}"'))
        for table in reversed(tables):
            db.session.execute(table.delete())
        for _, sql in triggers:
            db.session.execute(sa.text(sql))
    db.session.commit()


def forget_signed_in_user_per_request(app) -> None:
    """The `app` fixture keeps one app context open for the whole test and test-client requests reuse it, so
    Flask's `g` (where Flask-Login caches the signed-in user) would outlive a request. In production every
    request starts with an empty `g`; this restores that."""

    @app.before_request
    def forget_cached_user():
        g.pop("_login_user", None)
        g.pop("csp_extra", None)


class CompiledTemplates(jinja2.BytecodeCache):
    """Templates compiled once per test process rather than once per test's app (compiling them was a third of
    a page test's time). Jinja keys each entry by the template's name and checks its source, so an edited
    template is compiled again."""

    def __init__(self):
        self.compiled: dict[str, bytes] = {}

    def load_bytecode(self, bucket: jinja2.bccache.Bucket) -> None:
        if bucket.key in self.compiled:
            bucket.bytecode_from_string(self.compiled[bucket.key])

    def dump_bytecode(self, bucket: jinja2.bccache.Bucket) -> None:
        self.compiled[bucket.key] = bucket.bytecode_to_string()


COMPILED_TEMPLATES = CompiledTemplates()


def compile_route_builders_once() -> None:
    """Werkzeug compiles a URL builder for every route of every app, through Python's compiler: most of the time
    of making an app, which every test does (thousands of times, for the same hundred routes). A builder depends
    only on its rule's text, parts and defaults, so the tests compile each once per process; werkzeug binds the
    same function to each app's rule, as it does its own."""
    compile_builder = Rule._compile_builder
    compiled: dict[tuple, object] = {}

    def once(rule: Rule, append_unknown: bool = True):
        key = (rule.rule, rule.host, rule.subdomain, tuple(rule._trace),
               tuple(sorted((name, repr(value)) for name, value in (rule.defaults or {}).items())), append_unknown)
        if key not in compiled:
            compiled[key] = compile_builder(rule, append_unknown)
        return compiled[key]

    Rule._compile_builder = once


compile_route_builders_once()


@pytest.fixture
def app(database_url):
    app = create_app("testing", SQLALCHEMY_DATABASE_URI=database_url)
    app.jinja_env.bytecode_cache = COMPILED_TEMPLATES
    forget_signed_in_user_per_request(app)
    with app.app_context():
        _empty_all_tables()
        ensure_default_price_list()
        yield app
        db.session.remove()
        db.engine.dispose()


@pytest.fixture
def client(app):
    return app.test_client()


@pytest.fixture
def demo(app):
    """The demo programs, cohorts and bookings of `flask demo seed`."""
    from retreat.demo import seed_demo_data
    seed_demo_data()
    return app


class LiveServer:
    def __init__(self, app):
        self._server = make_server("127.0.0.1", 0, app, threaded=True)
        self.url = f"http://127.0.0.1:{self._server.server_port}"
        self._thread = threading.Thread(target=self._server.serve_forever, daemon=True)

    def __enter__(self):
        self._thread.start()
        return self

    def __exit__(self, *exc):
        self._server.shutdown()
        self._thread.join(timeout=5)


@pytest.fixture
def live_server(app):
    """The test's app served over HTTP on 127.0.0.1, for browsers and load tools."""
    with LiveServer(app) as server:
        yield server


@pytest.fixture(scope="session")
def artifacts_dir():
    """Where tests leave files for a person to look at (screenshots); CI keeps the folder."""
    folder = Path(os.environ.get("TEST_ARTIFACTS", ARTIFACTS))
    folder.mkdir(parents=True, exist_ok=True)
    return folder


STAFF_PASSWORD = "correct horse battery staple"


@pytest.fixture
def staff_user(app):
    """Make a staff user with the given roles and STAFF_PASSWORD: staff_user("coordinator", "admin")."""
    from retreat.staff import services as staff_services

    def make(*roles: str, email: str | None = None, password: str = STAFF_PASSWORD):
        email = email or f"{'-'.join(roles)}@clinic.example"
        user, _ = staff_services.create_user(email, f"Test {' '.join(roles)}", roles, password=password)
        return user

    return make


@pytest.fixture
def login_as(client, staff_user):
    """Sign the test client in as a new staff user with these roles; returns the user."""

    def login(*roles: str, **kwargs):
        user = staff_user(*roles, **kwargs)
        response = client.post("/staff/login", data={"email": user.email, "password": STAFF_PASSWORD})
        assert response.status_code == 302, response.get_data(as_text=True)
        return user

    return login
