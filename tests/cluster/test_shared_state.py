"""What several app hosts share, tested in one process: the cached catalog's version (two apps on one database
stand for two hosts, a dict for Redis), the readiness check and the JSON request log. The real thing (nginx,
gunicorn hosts, Redis, PostgreSQL) is tests/cluster/test_topology.py."""

import json
import logging
from datetime import timedelta

import pytest

from retreat import create_app
from retreat.booking import cohorts
from retreat.catalog import services as catalog
from retreat.catalog.models import Cohort, Program
from retreat.core.clock import today
from retreat.core.read_cache import ReadCache
from retreat.core.shared_state import SharedVersion
from retreat.extensions import db
from retreat.pricing.services import ensure_default_price_list
from retreat.web.request_log import JsonFormatter, redacted_path


class FakeRedis:
    """Redis's GET, INCR and PING on a dict that several hosts share; `down` makes every call fail."""

    def __init__(self):
        self.values: dict[str, int] = {}
        self.down = False

    def _up(self):
        if self.down:
            raise ConnectionError("Redis is down")

    def get(self, key):
        self._up()
        return self.values.get(key)

    def incr(self, key):
        self._up()
        self.values[key] = self.values.get(key, 0) + 1
        return self.values[key]

    def ping(self):
        self._up()
        return True


def _host(database_url: str, redis: FakeRedis | None):
    host = create_app("testing", SQLALCHEMY_DATABASE_URI=database_url, CATALOG_CACHE_SECONDS=10)
    shared = SharedVersion(redis) if redis is not None else None
    host.extensions["redis"] = redis
    # check_seconds=0: every read asks (the real hosts ask at most every CATALOG_VERSION_CHECK_SECONDS).
    host.extensions["read_cache"] = ReadCache(10, shared=shared, check_seconds=0)
    return host


def _seats_left(host) -> int:
    with host.app_context():
        return catalog.published_programs()[0].cohorts[0].seats_left


@pytest.fixture
def cohort_id(app):
    program = Program(slug="shared-iv-emdr", name="Shared IV with EMDR", summary="A test program.", duration_days=7,
                      ketamine_route="iv", dosing_sessions=4, therapy_modality="emdr", integration_sessions=4,
                      intensive_sessions=1, lodging_options=["none"], published=True)
    start = today() + timedelta(days=40)
    cohort = Cohort(program=program, start_date=start, end_date=start + timedelta(days=6), capacity=4)
    db.session.add_all([program, cohort])
    db.session.commit()
    return cohort.id


@pytest.mark.parametrize("shared", [True, False], ids=["redis", "no-redis"])
def test_a_capacity_raised_on_one_host_is_seen_on_the_other_at_once_with_redis(database_url, cohort_id, shared):
    redis = FakeRedis() if shared else None
    host_a, host_b = _host(database_url, redis), _host(database_url, redis)
    assert _seats_left(host_b) == 4  # host B has the catalog cached
    with host_a.app_context():
        ensure_default_price_list()
        cohorts.set_capacity(cohort_id, 9)
    assert _seats_left(host_a) == 9  # the host that changed it forgets at once, Redis or not
    # Host B: with the shared version it sees the change at its next check; alone, only when its cache expires.
    assert _seats_left(host_b) == (9 if shared else 4)
    for host in (host_a, host_b):
        with host.app_context():
            db.engine.dispose()


def test_redis_down_fails_no_request_and_the_cache_expires_as_before(database_url, cohort_id, caplog):
    redis = FakeRedis()
    host_a, host_b = _host(database_url, redis), _host(database_url, redis)
    assert _seats_left(host_b) == 4
    redis.down = True
    with caplog.at_level(logging.WARNING, logger="retreat.shared_state"):
        with host_a.app_context():
            cohorts.set_capacity(cohort_id, 6)  # the bump fails after the commit: logged, the change stands
        assert _seats_left(host_a) == 6
        assert _seats_left(host_b) == 4  # stale until its cache expires (CATALOG_CACHE_SECONDS)
    assert "Redis unreachable" in caplog.text
    redis.down = False
    with host_a.app_context():
        cohorts.set_capacity(cohort_id, 7)
    assert _seats_left(host_b) == 7
    for host in (host_a, host_b):
        with host.app_context():
            db.engine.dispose()


def test_a_value_loaded_from_reads_older_than_a_change_is_not_kept():
    """A load that started before another host's change and ends after the version check must not be cached
    (it would stay stale for the whole expiry)."""
    redis = FakeRedis()
    cache = ReadCache(10, shared=SharedVersion(redis), check_seconds=0)

    def slow_stale_load():
        redis.incr("retreat:read_cache:version")  # another host changes things while this load reads
        cache.get("other", lambda: "fresh")  # a second request on this host sees the new version meanwhile
        return "stale"

    assert cache.get("catalog", slow_stale_load) == "stale"
    assert cache.get("catalog", lambda: "fresh") == "fresh"


def test_readyz_names_each_check_and_no_secret(client):
    answer = client.get("/readyz")
    assert answer.status_code == 200
    assert answer.json == {"status": "ready", "checks": {"database": "ok", "migrations": "ok"}}


def test_readyz_is_503_when_the_database_is_behind_the_code(app, client):
    import sqlalchemy as sa
    original = db.session.scalar(sa.text("SELECT version_num FROM alembic_version"))
    db.session.execute(sa.text("UPDATE alembic_version SET version_num = 'an0ldrevision'"))
    db.session.commit()
    try:
        answer = client.get("/readyz")
    finally:
        db.session.execute(sa.text("UPDATE alembic_version SET version_num = :v"), {"v": original})
        db.session.commit()
    assert answer.status_code == 503
    assert answer.json["checks"]["database"] == "ok"
    assert answer.json["checks"]["migrations"].startswith("behind the code")


def test_readyz_is_503_naming_redis_when_it_is_down_without_its_address(app, client):
    redis = FakeRedis()
    redis.down = True
    app.extensions["redis"] = redis
    answer = client.get("/readyz")
    assert answer.status_code == 503
    assert answer.json["checks"]["redis"] == "unreachable"
    assert answer.json["checks"]["database"] == "ok"


def test_readyz_is_503_when_the_database_cannot_be_reached(tmp_path):
    app = create_app("testing", SQLALCHEMY_DATABASE_URI="postgresql+psycopg://nobody:hunter2@127.0.0.1:9/none")
    answer = app.test_client().get("/readyz")
    assert answer.status_code == 503
    assert answer.json["checks"]["database"] == "unreachable"
    assert "hunter2" not in answer.get_data(as_text=True) and "127.0.0.1" not in answer.get_data(as_text=True)


@pytest.mark.parametrize(("path", "view_args", "logged"), [
    ("/bookings/manage/abcDEF123/pay", {"token": "abcDEF123"}, "/bookings/manage/[token]/pay"),
    ("/bookings/manage/abcDEF123/typo", None, "/bookings/manage/[token]/typo"),
    ("/bookings/new/scrTok_9", {"token": "scrTok_9"}, "/bookings/new/[token]"),
    ("/bookings/new/scrTok_9/waitlist", None, "/bookings/new/[token]/waitlist"),
    ("/screening/result/scrTok_9", {"token": "scrTok_9"}, "/screening/result/[token]"),
    ("/screening/approved/scrTok_9", None, "/screening/approved/[token]"),
    ("/bookings/confirm/RT-ABC123/c0de", {"reference": "RT-ABC123", "token": "c0de"},
     "/bookings/confirm/RT-ABC123/[token]"),
    ("/api/v1/bookings/RT-ABC123", {"reference": "RT-ABC123"}, "/api/v1/bookings/RT-ABC123"),
    ("/programs/iv-emdr", {"slug": "iv-emdr"}, "/programs/iv-emdr"),
])
def test_request_log_paths_carry_no_token(path, view_args, logged):
    assert redacted_path(path, view_args) == logged


def test_each_request_is_one_json_line_with_the_request_id_from_nginx(app, client, caplog):
    app.logger.handlers[:] = []
    formatter = JsonFormatter()
    with caplog.at_level(logging.INFO, logger="retreat.request"):
        answer = client.get("/bookings/manage/SeCrEt-ToKeN/pay?x=SeCrEt2", headers={"X-Request-Id": "req-42.a"})
        unnamed = client.get("/healthz", headers={"X-Request-Id": "bad id; <script>"})
    assert answer.headers["X-Request-Id"] == "req-42.a"
    lines = [formatter.format(record) for record in caplog.records if record.name == "retreat.request"]
    first, second = (json.loads(line) for line in lines)
    assert all("\n" not in line for line in lines)
    assert first["request_id"] == "req-42.a"
    assert (first["method"], first["path"], first["status"]) == ("GET", "/bookings/manage/[token]/pay", 404)
    assert isinstance(first["duration_ms"], float)
    assert "SeCrEt" not in lines[0]
    assert second["request_id"] == unnamed.headers["X-Request-Id"] != "bad id; <script>"
    assert len(second["request_id"]) == 32


def test_with_redis_down_rate_limits_count_per_process_and_never_fail_a_request(app, database_url):
    limited = create_app("testing", SQLALCHEMY_DATABASE_URI=database_url, RATELIMIT_ENABLED=True,
                         RATELIMIT_STORAGE_URI="redis://127.0.0.1:9/0", RATELIMIT_PUBLIC_WRITE="2 per minute")
    client = limited.test_client()
    statuses = [client.post("/api/v1/estimates", json={"program": "none", "lodging": "shared"}).status_code
                for _ in range(3)]
    assert statuses == [422, 422, 429]  # refused for its content twice, then limited (in memory): never a 500
    with limited.app_context():
        db.engine.dispose()
