"""Throughput benchmark of Retreat's hot public endpoints, each measured beside a bare endpoint.

Run from the project root (`make bench`, or by hand):

    .venv/bin/python bench/run.py [--duration 10s] [--connections 16] [--threads 2] [--rounds 1]
                                  [--db sqlite | --database-url URL] [--json-out bench/results/run.json]

It builds a fresh instance folder and SQLite database (migrated and seeded BEFORE the server starts), serves
the app with gunicorn (2 sync workers) on 127.0.0.1, and drives it with wrk. Each target endpoint runs between
two runs of the bare endpoint (GET /healthz, which touches nothing), and is compared with the mean of those
two, so a machine that slows down or speeds up during the run moves both sides of a ratio alike.

It reports and never asserts: exit 0 even when a target is missed, 1 when the harness itself failed (the
server did not start, an endpoint answered with an error, wrk failed), 2 when wrk is not installed.
See bench/README.md.

Then it runs bench/booking.py (--no-booking skips it), whose exit status it returns: that one does assert, and
exits 3 when a rush of bookings oversold a cohort or got answers other than 201 and 409 cohort_full.

Last, bench/finance_export.py (--no-finance skips it): 100,000 payments exported as CSV and XLSX beside the
database's own dump (`sqlite3 -csv`, `psql \\copy`); it reports and never asserts (its exit status is returned
when everything before it succeeded: 1 harness failed, 2 sqlite3 missing).
"""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import platform
import re
import shutil
import signal
import socket
import statistics
import subprocess
import sys
import tempfile
import time
import urllib.error
import urllib.request
from dataclasses import asdict, dataclass
from datetime import UTC, datetime
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
HOST = "127.0.0.1"  # the only address this harness ever serves on or loads
ESTIMATE_BODY = {"program": "iv-emdr-one-week", "lodging": "shared"}
SERVER_START_SECONDS = 30
SERVER_STOP_SECONDS = 10
SETUP_STEP_SECONDS = 180
NOISY_SPREAD = 0.25  # bare runs further apart than this (max - min over mean): the machine is not quiet
NOISY_LOAD = 0.5  # load average per CPU before the run above this: something else is running

WRK_MISSING = "wrk is not installed: run `make system-deps` (apt-get install -y wrk)"


class HarnessError(RuntimeError):
    """The benchmark could not measure what it set out to (as opposed to a target being missed)."""


@dataclass(frozen=True)
class Endpoint:
    key: str
    label: str
    method: str
    path: str
    status: int  # the one status every response must have
    content_type: str  # what the response's Content-Type starts with
    target: float | None = None  # minimum req/s ratio to the bare endpoint; None for the bare endpoint
    script: str | None = None  # wrk Lua script, relative to the project root


BARE = Endpoint("bare", "GET /healthz (bare)", "GET", "/healthz", 200, "application/json")
TARGETS = (
    Endpoint("programs", "GET /api/v1/programs", "GET", "/api/v1/programs", 200, "application/json", 0.60),
    # The same with the ETag of the body the client has (If-None-Match): 304, no body; costs at most 1.1× bare.
    Endpoint("programs_304", "GET /api/v1/programs → 304", "GET", "/api/v1/programs", 304, "", round(1 / 1.1, 2)),
    Endpoint("catalog", "GET / (catalog HTML)", "GET", "/", 200, "text/html", 0.45),
    Endpoint("estimate", "POST /api/v1/estimates", "POST", "/api/v1/estimates", 201, "application/json", 0.70,
             "bench/estimate_post.lua"),
)


# --- wrk output ---------------------------------------------------------------------------------------------

@dataclass
class WrkRun:
    endpoint: str
    phase: str  # warmup | measure
    round: int
    requests_per_second: float
    p50_ms: float
    p99_ms: float
    requests: int
    non_2xx_3xx: int
    socket_errors: dict[str, int]
    command: list[str]
    server_cpu_us_per_request: float | None = None  # gunicorn master + workers, user + system, from /proc


_TIME_UNITS_MS = {"us": 0.001, "ms": 1.0, "s": 1000.0, "m": 60_000.0, "h": 3_600_000.0}
_RPS = re.compile(r"^Requests/sec:\s+([0-9.]+)\s*$", re.M)
_PERCENTILE = r"^\s+{}%\s+([0-9.]+)(us|ms|s|m|h)\s*$"
_P50 = re.compile(_PERCENTILE.format(50), re.M)
_P99 = re.compile(_PERCENTILE.format(99), re.M)
_TOTAL = re.compile(r"^\s+(\d+) requests in ", re.M)
_NON_2XX = re.compile(r"Non-2xx or 3xx responses:\s+(\d+)")
_SOCKET = re.compile(r"Socket errors: connect (\d+), read (\d+), write (\d+), timeout (\d+)")


def parse_wrk(output: str) -> dict:
    """Requests/sec, p50 and p99 latency (ms), request count, error counts from `wrk --latency` output."""

    def need(pattern: re.Pattern, what: str) -> re.Match:
        match = pattern.search(output)
        if match is None:
            raise HarnessError(f"Could not find {what} in wrk's output:\n{output}")
        return match

    p50, p99 = need(_P50, "the 50% latency"), need(_P99, "the 99% latency (was --latency passed?)")
    non_2xx = _NON_2XX.search(output)
    socket_errors = _SOCKET.search(output)
    return {
        "requests_per_second": float(need(_RPS, "Requests/sec").group(1)),
        "p50_ms": float(p50.group(1)) * _TIME_UNITS_MS[p50.group(2)],
        "p99_ms": float(p99.group(1)) * _TIME_UNITS_MS[p99.group(2)],
        "requests": int(need(_TOTAL, "the request count").group(1)),
        "non_2xx_3xx": int(non_2xx.group(1)) if non_2xx else 0,
        "socket_errors": dict(zip(("connect", "read", "write", "timeout"),
                                  map(int, socket_errors.groups()), strict=True))
        if socket_errors else {"connect": 0, "read": 0, "write": 0, "timeout": 0},
    }


# --- the server ---------------------------------------------------------------------------------------------

def free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind((HOST, 0))
        return sock.getsockname()[1]


def venv_tool(name: str) -> list[str]:
    """The console script next to this Python (the project's .venv), else `python -m name`."""
    script = Path(sys.executable).parent / name
    return [str(script)] if script.exists() else [sys.executable, "-m", name]


def app_environment(instance: Path, database_url: str, body: str) -> dict[str, str]:
    env = dict(os.environ)
    env.update({
        "RETREAT_CONFIG": "development",
        "RETREAT_INSTANCE_PATH": str(instance),
        "DATABASE_URL": database_url,
        "RATELIMIT_ENABLED": "false",  # 60 estimates a minute per address would turn the POST into 429s
        "HOLD_LIMITS_ENABLED": "false",  # the booking rush sends every applicant from one address
        "RETREAT_BENCH_ESTIMATE_BODY": body,
        "PYTHONUNBUFFERED": "1",
    })
    return env


def prepare_database(env: dict[str, str]) -> list[str]:
    """Migrate, then seed, as separate steps before any server process exists (see TOOLING.md)."""
    messages = []
    for step in (["db", "upgrade"], ["demo", "seed"]):
        command = [*venv_tool("flask"), "--app", "wsgi", *step]
        try:
            done = subprocess.run(command, cwd=ROOT, env=env, capture_output=True, text=True,
                                  timeout=SETUP_STEP_SECONDS)
        except subprocess.TimeoutExpired:
            raise HarnessError(f"`{' '.join(command)}` took longer than {SETUP_STEP_SECONDS}s.") from None
        output = (done.stdout + done.stderr).strip()
        if done.returncode != 0:
            tail = "\n".join(output.splitlines()[-30:])
            raise HarnessError(f"`{' '.join(command)}` failed ({done.returncode}); its output ends:\n{tail}")
        # The first line only: the seed goes on to print one-time demo passwords, which no log needs.
        first = next((line.strip() for line in output.splitlines() if line.strip()), "ok")
        messages.append(f"flask {' '.join(step)}: {first}")
    return messages


class Server:
    """gunicorn on 127.0.0.1, in its own process group so that stopping it takes its workers too."""

    def __init__(self, env: dict[str, str], workers: int, log_path: Path):
        self.port = free_port()
        self.base_url = f"http://{HOST}:{self.port}"
        self.command = [*venv_tool("gunicorn"), "-w", str(workers), "-k", "sync", "-b", f"{HOST}:{self.port}",
                        "--graceful-timeout", "5", "wsgi:app"]
        self.env = env
        self.log_path = log_path
        self.process: subprocess.Popen | None = None

    def start(self) -> None:
        with self.log_path.open("wb") as log:
            self.process = subprocess.Popen(self.command, cwd=ROOT, env=self.env, stdin=subprocess.DEVNULL,
                                            stdout=log, stderr=subprocess.STDOUT, start_new_session=True)
        deadline = time.monotonic() + SERVER_START_SECONDS
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                raise HarnessError(f"gunicorn exited ({self.process.returncode}) before answering.\n"
                                   + self.log_tail())
            try:
                status, _, _ = request(self.base_url + BARE.path, timeout=1)
                if status == 200:
                    return
            except OSError:
                pass
            time.sleep(0.2)
        raise HarnessError(f"gunicorn did not answer {BARE.path} within {SERVER_START_SECONDS}s.\n"
                           + self.log_tail())

    def stop(self) -> None:
        """TERM the master (graceful, at most SERVER_STOP_SECONDS), then KILL its whole process group."""
        process = self.process
        if process is None:
            return
        if process.poll() is not None:
            return  # exited by itself; a gunicorn master stops its workers before it exits
        process.send_signal(signal.SIGTERM)
        try:
            process.wait(SERVER_STOP_SECONDS)
        except subprocess.TimeoutExpired:
            # The master is not reaped yet, so its process group (start_new_session) is still ours alone.
            with contextlib.suppress(ProcessLookupError, PermissionError):
                os.killpg(process.pid, signal.SIGKILL)
            try:
                process.wait(5)
            except subprocess.TimeoutExpired:
                print(f"warning: gunicorn (pid {process.pid}) did not exit", file=sys.stderr)

    def cpu_snapshot(self) -> tuple[frozenset[int], float] | None:
        """(pids, CPU seconds used so far) of the master and its workers, or None without /proc."""
        if self.process is None:
            return None
        pids = {self.process.pid, *_children(self.process.pid)}
        ticks = 0
        for pid in pids:
            try:
                fields = Path(f"/proc/{pid}/stat").read_text().rpartition(")")[2].split()
            except OSError:
                return None
            ticks += int(fields[11]) + int(fields[12])  # utime, stime
        return frozenset(pids), ticks / os.sysconf("SC_CLK_TCK")

    def log_tail(self, lines: int = 40) -> str:
        try:
            text = self.log_path.read_text(errors="replace").splitlines()
        except OSError:
            return "(no gunicorn log)"
        return "--- gunicorn log (tail) ---\n" + "\n".join(text[-lines:])


def _children(pid: int) -> list[int]:
    try:
        return [int(child) for child in Path(f"/proc/{pid}/task/{pid}/children").read_text().split()]
    except (OSError, ValueError):
        return []


# --- plain requests -----------------------------------------------------------------------------------------

class _NoRedirect(urllib.request.HTTPRedirectHandler):
    def redirect_request(self, *args, **kwargs):
        return None  # a 3xx is an answer to check, not to follow


_OPENER = urllib.request.build_opener(urllib.request.ProxyHandler({}), _NoRedirect)


# Request headers an endpoint's wrk runs send (the 304 endpoint's If-None-Match, learnt when it is checked).
WRK_HEADERS: dict[str, dict[str, str]] = {}


def request(url: str, method: str = "GET", body: bytes | None = None, timeout: float = 10,
            headers: dict[str, str] | None = None, with_headers: bool = False):
    """(status, content type, body) of one request, without proxies or redirects (and its headers if asked)."""
    sent = {"Content-Type": "application/json", "Accept": "application/json"} if body is not None else {}
    req = urllib.request.Request(url, data=body, method=method, headers={**sent, **(headers or {})})
    try:
        with _OPENER.open(req, timeout=timeout) as response:
            answer = response.status, response.headers.get("Content-Type", ""), response.read()
            received = response.headers
    except urllib.error.HTTPError as error:
        answer = error.code, error.headers.get("Content-Type", ""), error.read()
        received = error.headers
    return (*answer, received) if with_headers else answer


def check_endpoint(base_url: str, endpoint: Endpoint, body: str) -> int:
    """One request, checked for its status, type and content before wrk hammers it. Returns its size."""
    if endpoint.key == "programs_304":
        *_, received = request(base_url + endpoint.path, with_headers=True)
        if not received.get("ETag"):
            raise HarnessError(f"GET {endpoint.path} sent no ETag.")
        WRK_HEADERS[endpoint.key] = {"If-None-Match": received["ETag"]}
    status, content_type, payload = request(base_url + endpoint.path, endpoint.method,
                                            body.encode() if endpoint.method == "POST" else None,
                                            headers=WRK_HEADERS.get(endpoint.key))
    problem = None
    if status != endpoint.status:
        problem = f"status {status}, expected {endpoint.status}"
    elif not content_type.startswith(endpoint.content_type):
        problem = f"Content-Type {content_type!r}, expected {endpoint.content_type}"
    elif endpoint.key == "programs" and not json.loads(payload).get("programs"):
        problem = "no programs: the demo seed did not load"
    elif endpoint.key == "estimate" and "total_cents" not in json.loads(payload):
        problem = "no total_cents in the estimate"
    elif endpoint.key == "catalog" and b"program-card" not in payload:
        problem = "no program cards on the catalog page"
    if problem:
        raise HarnessError(f"{endpoint.method} {endpoint.path}: {problem}.\n"
                           f"{payload[:800].decode(errors='replace')}")
    return len(payload)


# --- wrk ----------------------------------------------------------------------------------------------------

def run_wrk(wrk: str, base_url: str, endpoint: Endpoint, *, seconds: int, threads: int, connections: int,
            env: dict[str, str], phase: str, round_number: int, cpu_probe=None) -> WrkRun:
    url = base_url + endpoint.path
    if not url.startswith(f"http://{HOST}:"):
        raise HarnessError(f"Refusing to load anything but {HOST}: {url}")
    command = [wrk, f"-t{threads}", f"-c{connections}", f"-d{seconds}s", "--latency"]
    if endpoint.script:
        command += ["-s", endpoint.script]
    for name, value in WRK_HEADERS.get(endpoint.key, {}).items():
        command += ["-H", f"{name}: {value}"]
    command.append(url)
    cpu_before = cpu_probe() if cpu_probe else None
    try:
        done = subprocess.run(command, cwd=ROOT, env=env, capture_output=True, text=True,
                              timeout=seconds + 30)
    except subprocess.TimeoutExpired:
        raise HarnessError(f"wrk did not finish within {seconds + 30}s: {' '.join(command)}") from None
    if done.returncode != 0:
        raise HarnessError(f"wrk failed ({done.returncode}): {' '.join(command)}\n{done.stdout}{done.stderr}")
    parsed = parse_wrk(done.stdout)
    cpu_after = cpu_probe() if cpu_probe else None
    run = WrkRun(endpoint=endpoint.key, phase=phase, round=round_number, command=command, **parsed)
    # Server CPU per request: much less disturbed than req/s by other programs competing for the CPUs.
    if cpu_before and cpu_after and cpu_before[0] == cpu_after[0] and run.requests:  # same processes
        run.server_cpu_us_per_request = (cpu_after[1] - cpu_before[1]) / run.requests * 1e6
    if run.non_2xx_3xx:
        raise HarnessError(f"{endpoint.label}: {run.non_2xx_3xx} of {run.requests} responses were errors "
                           f"(wrk: 'Non-2xx or 3xx responses') during {phase}; the numbers would be "
                           f"meaningless.\n{done.stdout}")
    if run.requests == 0:
        raise HarnessError(f"{endpoint.label}: wrk completed no requests.\n{done.stdout}")
    lost = run.socket_errors["connect"] + run.socket_errors["timeout"]
    if lost > 0.01 * run.requests:
        raise HarnessError(f"{endpoint.label}: {run.socket_errors} socket errors in {run.requests} requests; "
                           f"the server is not keeping up or not reachable.\n{done.stdout}")
    return run


# --- the report ---------------------------------------------------------------------------------------------

@dataclass
class Result:
    endpoint: str
    label: str
    requests_per_second: float
    p99_ms: float
    ratio: float | None  # req/s over the bare runs measured around it (median over rounds)
    p99_ratio: float | None  # p99 over the bare runs' p99 (median over rounds)
    target: float | None
    met: bool | None
    response_bytes: int
    round_ratios: list[float]
    server_cpu_us_per_request: float | None = None
    cpu_ratio: float | None = None  # bare CPU per request over this endpoint's (like req/s: higher is better)


def _median_or_none(values: list[float | None]) -> float | None:
    known = [value for value in values if value is not None]
    return statistics.median(known) if known else None


def summarise(runs: list[WrkRun], targets: list[Endpoint], sizes: dict[str, int]) -> list[Result]:
    """One row per endpoint. A target's ratio is its req/s over the mean of the bare runs just before and
    after it in the same round; with several rounds, the median of those ratios (and of req/s and p99)."""
    measured = [run for run in runs if run.phase == "measure"]
    bare = [run for run in measured if run.endpoint == BARE.key]
    results = [Result(BARE.key, BARE.label, statistics.median(r.requests_per_second for r in bare),
                      statistics.median(r.p99_ms for r in bare), 1.0, 1.0, None, None, sizes[BARE.key], [],
                      _median_or_none([r.server_cpu_us_per_request for r in bare]), 1.0)]
    for endpoint in targets:
        ratios, p99_ratios, cpu_ratios, rps, p99, cpu = [], [], [], [], [], []
        for index, run in enumerate(measured):
            if run.endpoint != endpoint.key:
                continue
            before, after = measured[index - 1], measured[index + 1]
            around = (before.endpoint, after.endpoint, before.round, after.round)
            if around != (BARE.key, BARE.key, run.round, run.round):
                raise HarnessError(f"{endpoint.label} was not measured between two bare runs.")
            bare_rps = statistics.mean([before.requests_per_second, after.requests_per_second])
            ratios.append(run.requests_per_second / bare_rps)
            p99_ratios.append(run.p99_ms / statistics.mean([before.p99_ms, after.p99_ms]))
            costs = (before.server_cpu_us_per_request, after.server_cpu_us_per_request,
                     run.server_cpu_us_per_request)
            if None not in costs and costs[2] > 0:
                cpu_ratios.append(statistics.mean(costs[:2]) / costs[2])
            rps.append(run.requests_per_second)
            p99.append(run.p99_ms)
            cpu.append(run.server_cpu_us_per_request)
        ratio = statistics.median(ratios)
        results.append(Result(endpoint.key, endpoint.label, statistics.median(rps), statistics.median(p99),
                              ratio, statistics.median(p99_ratios), endpoint.target, ratio >= endpoint.target,
                              sizes[endpoint.key], [round(r, 4) for r in ratios],
                              _median_or_none(cpu), _median_or_none(cpu_ratios)))
    return results


def cpu_summary(results: list[Result]) -> str | None:
    """Server CPU per request beside the table: a cross-check that other load on the machine barely moves."""
    if any(r.server_cpu_us_per_request is None or r.cpu_ratio is None for r in results):
        return None
    parts = [f"{r.label} {r.server_cpu_us_per_request:,.0f} µs" + ("" if r.target is None else
             f" ({r.cpu_ratio:.2f}×)") for r in results]
    return ("Server CPU per request (gunicorn processes, user + system; in brackets bare's over the "
            "endpoint's, comparable with the ratio to bare but less disturbed by other load): "
            + "; ".join(parts) + ".")


def markdown_table(results: list[Result]) -> str:
    lines = ["| endpoint | req/s | p99 | ratio to bare | target | met? |",
             "|---|---:|---:|---:|---:|:---:|"]
    for r in results:
        ratio = "1.00× (reference)" if r.target is None else f"{r.ratio:.2f}×"
        target = "—" if r.target is None else f"≥ {r.target:.2f}×"
        met = "—" if r.met is None else ("yes" if r.met else "**NO**")
        lines.append(f"| {r.label} | {r.requests_per_second:,.0f} | {r.p99_ms:.1f} ms | {ratio} | {target} "
                     f"| {met} |")
    return "\n".join(lines)


def git_commit() -> str | None:
    try:
        done = subprocess.run(["git", "rev-parse", "HEAD"], cwd=ROOT, capture_output=True, text=True,
                              timeout=10)
    except (OSError, subprocess.TimeoutExpired):
        return None
    return done.stdout.strip() or None


# --- main ---------------------------------------------------------------------------------------------------

def seconds_option(text: str) -> int:
    match = re.fullmatch(r"\s*(\d+)\s*(s|m)?\s*", text)
    if not match or int(match.group(1)) == 0:
        raise argparse.ArgumentTypeError("a whole number of seconds such as 10s (or minutes, 1m)")
    return int(match.group(1)) * (60 if match.group(2) == "m" else 1)


def positive_int(text: str) -> int:
    value = int(text)
    if value < 1:
        raise argparse.ArgumentTypeError("at least 1")
    return value


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0],
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--duration", type=seconds_option, default=10,
                        help="each measured wrk run (default 10s)")
    parser.add_argument("--warmup", type=seconds_option, default=2, help="each warm-up run (default 2s)")
    parser.add_argument("--connections", type=positive_int, default=16, help="wrk -c (default 16)")
    parser.add_argument("--threads", type=positive_int, default=2, help="wrk -t (default 2)")
    parser.add_argument("--workers", type=positive_int, default=2, help="gunicorn sync workers (default 2)")
    parser.add_argument("--rounds", type=positive_int, default=1,
                        help="repeat the interleaved sequence; ratios are the median over rounds (default 1)")
    parser.add_argument("--endpoints", default=",".join(t.key for t in TARGETS),
                        help="comma-separated subset of: " + ", ".join(t.key for t in TARGETS))
    parser.add_argument("--db", choices=("sqlite", "postgresql"), default=None,
                        help="sqlite (default): a fresh file in a temporary instance folder; "
                             "postgresql needs --database-url")
    parser.add_argument("--database-url", help="a THROWAWAY database: it is migrated and seeded")
    parser.add_argument("--json-out", type=Path,
                        help="also write the results and every wrk run as JSON here")
    parser.add_argument("--keep", action="store_true",
                        help="keep the temporary instance folder and server log")
    parser.add_argument("--no-booking", action="store_true",
                        help="skip the booking rush that follows (bench/booking.py)")
    parser.add_argument("--no-cluster", action="store_true",
                        help="skip the cluster benchmark (bench/cluster.py: nginx in front of 1 and 2 app hosts)")
    parser.add_argument("--no-finance", action="store_true",
                        help="skip the finance export benchmark that ends the run (bench/finance_export.py)")
    args = parser.parse_args(argv)
    if args.db is None:
        postgres = args.database_url and not args.database_url.startswith("sqlite")
        args.db = "postgresql" if postgres else "sqlite"
    if args.db == "postgresql" and not args.database_url:
        parser.error("--db postgresql needs --database-url postgresql+psycopg://USER@127.0.0.1:PORT/DB")
    if args.db == "sqlite" and args.database_url and not args.database_url.startswith("sqlite"):
        parser.error("--db sqlite takes no PostgreSQL --database-url")
    wanted = [key.strip() for key in args.endpoints.split(",") if key.strip()]
    known = {t.key: t for t in TARGETS}
    unknown = [key for key in wanted if key not in known]
    if unknown or not wanted:
        parser.error(f"unknown endpoints {unknown}; choose from {', '.join(known)}")
    args.targets = [known[key] for key in wanted]
    return args


def _raise_exit(signum, frame):
    raise SystemExit(128 + signum)  # so that `finally` stops the server on SIGTERM too


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    wrk = shutil.which("wrk")
    if wrk is None:
        print(WRK_MISSING, file=sys.stderr)
        return 2
    signal.signal(signal.SIGTERM, _raise_exit)

    instance = Path(tempfile.mkdtemp(prefix="retreat-bench-"))
    database_url = args.database_url or f"sqlite:///{instance / 'retreat.sqlite3'}"
    body = json.dumps(ESTIMATE_BODY)
    env = app_environment(instance, database_url, body)
    server = Server(env, args.workers, instance / "gunicorn.log")
    runs: list[WrkRun] = []
    sizes: dict[str, int] = {}
    started = datetime.now(UTC)
    load_before = os.getloadavg()
    wrk_options = dict(threads=args.threads, connections=args.connections, env=env)
    try:
        print(f"Instance folder {instance} ({args.db})", flush=True)
        for message in prepare_database(env):
            print(message, flush=True)
        server.start()
        print(f"gunicorn ({args.workers} sync workers) answering on {server.base_url}", flush=True)

        endpoints = [BARE, *args.targets]
        for endpoint in endpoints:
            sizes[endpoint.key] = check_endpoint(server.base_url, endpoint, body)
        for endpoint in endpoints:
            print(f"warm-up {args.warmup}s  {endpoint.label}", flush=True)
            runs.append(run_wrk(wrk, server.base_url, endpoint, seconds=args.warmup, phase="warmup",
                                round_number=0, cpu_probe=server.cpu_snapshot, **wrk_options))

        # Each round: bare, t1, bare, t2, bare, t3, bare. Every target sits between two bare runs.
        sequence = []
        for round_number in range(1, args.rounds + 1):
            for target in args.targets:
                sequence += [(round_number, BARE), (round_number, target)]
            sequence.append((round_number, BARE))
        minutes = len(sequence) * args.duration / 60
        print(f"measuring: {len(sequence)} runs of {args.duration}s (about {minutes:.1f} min)", flush=True)
        for index, (round_number, endpoint) in enumerate(sequence):
            run = run_wrk(wrk, server.base_url, endpoint, seconds=args.duration, phase="measure",
                          round_number=round_number, cpu_probe=server.cpu_snapshot, **wrk_options)
            runs.append(run)
            errors = f"  socket errors {run.socket_errors}" if any(run.socket_errors.values()) else ""
            cpu = run.server_cpu_us_per_request
            cpu_text = f"  server CPU {cpu:>5,.0f} µs/request" if cpu is not None else ""
            print(f"  [{index + 1:>2}/{len(sequence)}] {endpoint.label:<26} "
                  f"{run.requests_per_second:>9,.0f} req/s  p99 {run.p99_ms:>7.1f} ms{cpu_text}{errors}",
                  flush=True)
    except HarnessError as error:
        print(f"\nBENCHMARK HARNESS FAILED: {error}", file=sys.stderr)
        if server.process is not None:
            print(server.log_tail(), file=sys.stderr)
        return 1
    except KeyboardInterrupt:
        print("\nInterrupted; stopping the server.", file=sys.stderr)
        return 130
    finally:
        server.stop()
        if args.keep:
            print(f"Kept {instance}", file=sys.stderr)
        else:
            shutil.rmtree(instance, ignore_errors=True)

    results = summarise(runs, args.targets, sizes)
    bare_rps = [r.requests_per_second for r in runs if r.phase == "measure" and r.endpoint == BARE.key]
    spread = (max(bare_rps) - min(bare_rps)) / statistics.mean(bare_rps)

    print()
    print(f"Retreat benchmark: gunicorn {args.workers} sync workers, "
          f"wrk -t{args.threads} -c{args.connections} -d{args.duration}s, {args.db}, {os.cpu_count()} CPUs, "
          f"load average before {load_before[0]:.2f}")
    print()
    print(markdown_table(results))
    print()
    print(f"Bare runs: {', '.join(f'{v:,.0f}' for v in bare_rps)} req/s (spread {spread:.0%} of their mean). "
          "Ratios compare req/s with the mean of the bare runs just before and after each target; "
          "they are the numbers to quote, not the absolute req/s.")
    cpu_line = cpu_summary(results)
    if cpu_line:
        print(cpu_line)
    noisy = spread > NOISY_SPREAD or load_before[0] > NOISY_LOAD * (os.cpu_count() or 1)
    if noisy:
        print(f"WARNING: noisy machine (bare runs spread {spread:.0%}, load average before "
              f"{load_before[0]:.2f} on {os.cpu_count()} CPUs): something else is competing for the CPUs, "
              "and these ratios may be off by more than the margins to the targets. Rerun on a quiet "
              "machine" + (", or with --rounds 3." if args.rounds == 1 else "."))
    missed = [r.label for r in results if r.met is False]
    print("All targets met." if not missed
          else f"Targets missed: {', '.join(missed)} (reported, not asserted).")

    if args.json_out:
        document = {
            "started_at": started.isoformat(timespec="seconds"),
            "commit": git_commit(),
            "machine": {"cpus": os.cpu_count(), "platform": platform.platform(),
                        "python": platform.python_version(), "load_average_before": load_before},
            "settings": {"duration_s": args.duration, "warmup_s": args.warmup, "threads": args.threads,
                         "connections": args.connections, "workers": args.workers, "rounds": args.rounds,
                         "db": args.db, "estimate_body": ESTIMATE_BODY,
                         "catalog_cache_seconds": os.environ.get("CATALOG_CACHE_SECONDS", "10 (default)")},
            "results": [asdict(r) for r in results],
            "bare_spread": spread,
            "noisy": noisy,
            "runs": [asdict(r) for r in runs],
        }
        args.json_out.parent.mkdir(parents=True, exist_ok=True)
        args.json_out.write_text(json.dumps(document, indent=2) + "\n")
        print(f"Wrote {args.json_out}")
    status = 0
    if not args.no_booking:
        print(flush=True)
        status = booking_rush(args)
    if not args.no_cluster:
        print(flush=True)
        cluster_status = cluster_topology(args)
        status = status or cluster_status
    if not args.no_finance:
        print(flush=True)
        finance_status = finance_exports(args)
        status = status or finance_status
    return status


def booking_rush(args: argparse.Namespace) -> int:
    """Then bench/booking.py: simultaneous bookings for the last seats of a cohort, on SQLite and on a
    throwaway PostgreSQL server (or on the PostgreSQL database given). Its exit status: 0 measured and nothing
    oversold, 1 harness failed, 2 PostgreSQL not installed, 3 the booking path broke (oversold, wrong answers)."""
    argv = ["--db", "postgresql", "--database-url", args.database_url] if args.db == "postgresql" \
        else ["--db", "both"]
    if args.json_out:
        argv += ["--json-out", str(args.json_out.with_name(f"{args.json_out.stem}-booking.json"))]
    if args.keep:
        argv.append("--keep")
    return _run_script("booking.py", argv)


def cluster_topology(args: argparse.Namespace) -> int:
    """Then bench/cluster.py: the catalog and a booking rush through nginx in front of one app host and of two
    (PostgreSQL, Redis), each beside the bare endpoint through the same nginx. 0 measured, 1 harness failed,
    2 nginx, redis-server or PostgreSQL missing, 3 a rush oversold."""
    argv = ["--duration", f"{args.duration}s", "--warmup", f"{args.warmup}s", "--rounds", str(args.rounds)]
    if args.json_out:
        argv += ["--json-out", str(args.json_out.with_name(f"{args.json_out.stem}-cluster.json"))]
    if args.keep:
        argv.append("--keep")
    return _run_script("cluster.py", argv)


def finance_exports(args: argparse.Namespace) -> int:
    """Last, bench/finance_export.py: 100,000 payments exported as CSV and XLSX beside `sqlite3 -csv` (and
    `psql \\copy` where PostgreSQL is installed). Reports, never asserts: 0 measured, 1 harness failed, 2 no
    sqlite3."""
    argv = []
    if args.json_out:
        argv += ["--json-out", str(args.json_out.with_name(f"{args.json_out.stem}-finance.json"))]
    if args.keep:
        argv.append("--keep")
    return _run_script("finance_export.py", argv)


def _run_script(name: str, argv: list[str]) -> int:
    """Another benchmark of this folder, as its own process (it imports this module for the server and the
    environment; this one only starts it)."""
    return subprocess.run([sys.executable, str(Path(__file__).with_name(name)), *argv], cwd=ROOT).returncode


if __name__ == "__main__":
    sys.exit(main())
