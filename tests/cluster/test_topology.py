"""The topology of deploy/README.md, really: PostgreSQL, Redis, two app hosts (gunicorn, 2 sync workers each) and
nginx in front, started once for this file from the pieces of `make cluster` (deploy/cluster.py).

- 200 applicants, each from their own address, book at the same moment through nginx for 20 seats: exactly 20
  are held, across both hosts, with the rate and hold limits on.
- A client's rate limit counts on every host (Redis): half its estimates on host A, half on host B, and the next
  one is refused.
- A coordinator signs in on host A and is signed in on host B; a capacity raised through host A shows in host B's
  cached catalog within a second (the catalog version in Redis).
- nginx passes a request id that both logs carry, serves the static files itself, runs as a user other than
  root, and no log holds a manage token.

Without nginx, redis-server or PostgreSQL the tests skip naming `make system-deps` (under CI they fail).
"""

import asyncio
import json
import re
import shutil
import tempfile
import time
from collections import Counter
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path

import pytest
import requests
import sqlalchemy as sa

from deploy import cluster as topology
from retreat import create_app
from retreat.booking.models import Booking
from retreat.extensions import db
from retreat.pricing.services import ensure_default_price_list
from retreat.staff import services as staff_services
from tests.booking.support import eligible_token, make_cohort, make_program
from tests.support import postgres, system

# One cluster for the whole file: under pytest-xdist (`make test`, --dist loadgroup) its tests share a worker.
pytestmark = pytest.mark.xdist_group("cluster_topology")

RUSH = 200
SEATS = 20
SMALL_COHORT_SEATS = 4
PUBLIC_WRITES_PER_MINUTE = 60
COORDINATOR = ("coordinator@cluster.example", "Tidal-Orchard-Lantern-42")
CATALOG_SEEN_WITHIN_SECONDS = 1.0


def _migrate(url: str) -> None:
    import flask_migrate

    app = create_app("testing", SQLALCHEMY_DATABASE_URI=url)
    with app.app_context():
        flask_migrate.upgrade()
        db.engine.dispose()


@pytest.fixture(scope="module")
def cluster(request):
    missing = topology.missing_programs()
    system.require(not missing, " and ".join(missing), topology.INSTALL_HINT)
    # The session's PostgreSQL server (tests/conftest.py), with a database of its own.
    database_url = postgres.create_database(request.getfixturevalue("postgres_server"), "retreat_topology")
    scratch = Path(tempfile.mkdtemp(prefix="retreat-topology-"))
    running = topology.Cluster(scratch, hosts=2, workers=2, migrate_with=_migrate,
                               existing_database_url=database_url, extra_env={
        "RATELIMIT_ENABLED": "true", "RATELIMIT_PUBLIC_WRITE": f"{PUBLIC_WRITES_PER_MINUTE} per minute",
        "HOLD_LIMITS_ENABLED": "true", "CATALOG_CACHE_SECONDS": "60", "CATALOG_VERSION_CHECK_SECONDS": "0.5",
    })
    try:
        running.start()
        yield running
    finally:
        running.stop()
        shutil.rmtree(scratch, ignore_errors=True)


@dataclass
class Seeded:
    program_slug: str
    rush_cohort_id: int
    small_cohort_id: int
    tokens: list[str]


@pytest.fixture(scope="module")
def seeded(cluster):
    """Written straight into the cluster's database with its secrets (the tokens are keyed by SECRET_KEY)."""
    app = create_app("testing", SQLALCHEMY_DATABASE_URI=cluster.database_url, SECRET_KEY=cluster.secret_key,
                     SCREENING_ENCRYPTION_KEYS=cluster.encryption_key)
    with app.app_context():
        ensure_default_price_list()
        program = make_program(lodging_options=["shared"])
        rush = make_cohort(SEATS, program=program)
        small = make_cohort(SMALL_COHORT_SEATS, program=program, starts_in_days=90)
        tokens = [eligible_token() for _ in range(RUSH)]
        staff_services.create_user(COORDINATOR[0], "Casey Coordinator", ["coordinator"], password=COORDINATOR[1])
        data = Seeded(program.slug, rush.id, small.id, tokens)
        db.session.remove()
        db.engine.dispose()
    return data


def _read_back(cluster, query):
    engine = sa.create_engine(cluster.database_url)
    try:
        with engine.connect() as connection:
            return connection.execute(query).all()
    finally:
        engine.dispose()


# --- the rush ------------------------------------------------------------------------------------------------

async def _post_from(source: str, port: int, path: str, body: dict) -> tuple[int | None, str]:
    payload = json.dumps(body).encode()
    head = (f"POST {path} HTTP/1.1\r\nHost: 127.0.0.1:{port}\r\nConnection: close\r\nAccept: application/json\r\n"
            f"Content-Type: application/json\r\nContent-Length: {len(payload)}\r\n\r\n").encode()
    try:
        reader, writer = await asyncio.open_connection("127.0.0.1", port, local_addr=(source, 0))
        writer.write(head + payload)
        await writer.drain()
        response = await asyncio.wait_for(reader.read(), 60)
        writer.close()
    except (OSError, TimeoutError) as error:
        return None, type(error).__name__
    status_line, _, rest = response.partition(b"\r\n")
    status = int(status_line.split(b" ")[1])
    code = ""
    if status >= 300:
        try:
            code = json.loads(rest.partition(b"\r\n\r\n")[2])["error"]["code"]
        except (ValueError, KeyError):
            code = "(no JSON error)"
    return status, code


async def _rush(port: int, bodies: list[dict]) -> list[tuple[int | None, str]]:
    # Each applicant from an address of their own (127.0.1.1 ...), as distinct clients reach nginx.
    return await asyncio.gather(*(_post_from(f"127.0.{1 + i // 250}.{1 + i % 250}", port, "/api/v1/bookings", body)
                                  for i, body in enumerate(bodies)))


def _in_own_thread(run):
    """Run `run` in a thread of its own: an xdist worker that drove Chromium keeps Playwright's event loop running
    in this thread, where asyncio.run refuses to start another."""
    with ThreadPoolExecutor(max_workers=1) as pool:
        return pool.submit(run).result()


def test_two_hundred_simultaneous_bookings_through_nginx_on_two_hosts_take_exactly_the_twenty_seats(cluster,
                                                                                                     seeded):
    bodies = [{"cohort_id": seeded.rush_cohort_id, "screening_token": token, "lodging": "shared",
               "applicant": {"first_name": "Rush", "last_name": f"Applicant {i}", "email": f"rush{i}@example.org",
                             "phone": f"+1 555 010 {i:04d}"},
               "policy_accepted": True} for i, token in enumerate(seeded.tokens)]
    port = int(cluster.nginx.address.rsplit(":", 1)[1])
    answers = Counter(_in_own_thread(lambda: asyncio.run(_rush(port, bodies))))
    assert answers == {(201, ""): SEATS, (409, "cohort_full"): RUSH - SEATS}
    rows = _read_back(cluster, sa.select(Booking.status).where(Booking.cohort_id == seeded.rush_cohort_id))
    assert len(rows) == SEATS
    # nginx sent bookings to both hosts (its access log names the upstream of each request).
    served = Counter(entry["upstream"] for entry in _json_lines(cluster.scratch / "nginx" / "access.log")
                     if entry["path"] == "/api/v1/bookings")
    assert set(served) == {host.address for host in cluster.app_hosts}, served


# --- rate limits across hosts --------------------------------------------------------------------------------

def test_a_rate_limit_reached_on_host_a_and_host_b_together_refuses_on_either(cluster, seeded):
    client = {"X-Forwarded-For": "127.0.9.9"}  # as nginx sends it: the app hosts trust one proxy hop
    body = {"program": seeded.program_slug, "lodging": "shared"}
    statuses = [requests.post(f"{cluster.host_url(i % 2)}/api/v1/estimates", json=body, headers=client,
                              timeout=10).status_code for i in range(PUBLIC_WRITES_PER_MINUTE)]
    assert statuses == [201] * PUBLIC_WRITES_PER_MINUTE  # 30 on each host
    for host in (0, 1):
        refused = requests.post(f"{cluster.host_url(host)}/api/v1/estimates", json=body, headers=client, timeout=10)
        assert refused.status_code == 429
    other_client = requests.post(f"{cluster.host_url(1)}/api/v1/estimates", json=body,
                                 headers={"X-Forwarded-For": "127.0.9.10"}, timeout=10)
    assert other_client.status_code == 201


# --- staff sessions and the catalog across hosts ------------------------------------------------------------

def _csrf(page: str) -> str:
    return re.search(r'name="csrf_token" type="hidden" value="([^"]+)"', page).group(1)


def _capacity_on(host_url: str, slug: str, cohort_id: int) -> int:
    programs = requests.get(f"{host_url}/api/v1/programs", timeout=10).json()["programs"]
    program = next(p for p in programs if p["slug"] == slug)
    return next(c["capacity"] for c in program["cohorts"] if c["id"] == cohort_id)


def test_a_staff_session_works_on_both_hosts_and_a_capacity_raised_on_a_shows_on_b_within_a_second(cluster,
                                                                                                     seeded):
    host_a, host_b = cluster.host_url(0), cluster.host_url(1)
    for _ in range(6):  # both of host B's workers have the catalog cached
        assert _capacity_on(host_b, seeded.program_slug, seeded.small_cohort_id) == SMALL_COHORT_SEATS

    browser = requests.Session()
    browser.headers["X-Forwarded-For"] = "127.0.8.8"
    login = browser.get(f"{host_a}/staff/login", timeout=10)
    signed_in = browser.post(f"{host_a}/staff/login", data={"csrf_token": _csrf(login.text), "email": COORDINATOR[0],
                                                            "password": COORDINATOR[1]},
                             allow_redirects=False, timeout=10)
    assert signed_in.status_code == 302, signed_in.text[:500]
    cohort_page = browser.get(f"{host_b}/staff/cohorts/{seeded.small_cohort_id}", allow_redirects=False, timeout=10)
    assert cohort_page.status_code == 200  # signed in on host A, recognised on host B
    raised = browser.post(f"{host_a}/staff/cohorts/{seeded.small_cohort_id}/capacity",
                          data={"csrf_token": _csrf(cohort_page.text), "capacity": "9"}, allow_redirects=False,
                          timeout=10)
    assert raised.status_code in (302, 303), raised.text[:500]
    changed = time.monotonic()

    late_reads = []  # reads of host B's catalog that started a second or more after the change
    while len(late_reads) < 6:
        started = time.monotonic()
        capacity = _capacity_on(host_b, seeded.program_slug, seeded.small_cohort_id)
        if started - changed >= CATALOG_SEEN_WITHIN_SECONDS:
            late_reads.append(capacity)
        elif capacity == SMALL_COHORT_SEATS:
            time.sleep(0.05)
    assert late_reads == [9] * 6


# --- request ids, logs, static files -------------------------------------------------------------------------

def _json_lines(path: Path) -> list[dict]:
    return [json.loads(line) for line in path.read_text().splitlines() if line.startswith("{")]


def test_nginx_passes_a_request_id_both_logs_carry_and_no_log_holds_a_token(cluster):
    secret = "SeCrEtMaNaGeToKeN0123456789"
    given = requests.get(f"{cluster.url}/bookings/manage/{secret}/pay", headers={"X-Request-Id": "topology-42"},
                         timeout=10)
    assert given.status_code == 404 and given.headers["X-Request-Id"] == "topology-42"
    made = requests.get(f"{cluster.url}/readyz", timeout=10)
    assert made.json() == {"status": "ready", "checks": {"database": "ok", "migrations": "ok", "redis": "ok"}}
    assert re.fullmatch(r"[0-9a-f]{32}", made.headers["X-Request-Id"])  # nginx's $request_id

    stylesheet = next((topology.ROOT / "static").rglob("*.css")).relative_to(topology.ROOT)
    static = requests.get(f"{cluster.url}/{stylesheet}", timeout=10)
    assert static.status_code == 200 and static.headers["Content-Type"].startswith("text/css")
    assert "X-Request-Id" not in static.headers  # nginx served it; no app host was asked

    time.sleep(0.2)  # the hosts' log lines are written as the response goes out
    app_lines = [line for host in cluster.app_hosts for line in _json_lines(host.log_path)]
    nginx_lines = _json_lines(cluster.scratch / "nginx" / "access.log")
    for lines in (app_lines, nginx_lines):
        ours = [line for line in lines if line.get("request_id") == "topology-42"]
        assert [(line["path"], line["status"]) for line in ours] == [("/bookings/manage/[token]/pay", 404)]
    assert any(line.get("request_id") == made.headers["X-Request-Id"] for line in app_lines)
    assert not any(line.get("path", "").startswith("/static/") for line in app_lines)
    for log in [*(host.log_path for host in cluster.app_hosts), cluster.scratch / "nginx" / "access.log",
                cluster.scratch / "nginx" / "error.log"]:
        assert secret not in log.read_text()

    nginx_uid = int(re.search(r"^Uid:\s+(\d+)", Path(f"/proc/{cluster.nginx.process.pid}/status").read_text(),
                              re.M).group(1))
    assert nginx_uid != 0
