"""The topology of deploy/README.md under load: nginx in front of one app host, then of two, on PostgreSQL and Redis.

Run from the project root (`make bench` runs it after the booking rush, or by hand):

    .venv/bin/python bench/cluster.py [--duration 10s] [--connections 16] [--rounds 1] [--json-out PATH]

It starts the pieces of `make cluster` (deploy/cluster.py): PostgreSQL, Redis, two app hosts (gunicorn, 2 sync
workers each, rate and hold limits off, demo data) and two nginx servers on 127.0.0.1, one whose upstream is host 1
alone and one whose upstream is both hosts. For each nginx it measures with wrk, interleaved with the bare endpoint
(GET /healthz) through the SAME nginx: bare, programs, bare, catalog, bare; then a booking rush (bench/booking.py's:
--requests simultaneous POST /api/v1/bookings for --seats seats, between two bursts of the bare endpoint). Ratios
compare each with the bare runs around it, so they say what the app adds, behind the same proxy, with one host and
with two. Server CPU is that of every app host's gunicorn processes.

Exit status: 0 measured (targets are not asserted); 1 the harness failed; 2 nginx, redis-server or PostgreSQL is not
installed; 3 a rush oversold or got answers other than 201 and 409 cohort_full.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import signal
import statistics
import sys
import tempfile
from collections import Counter
from pathlib import Path

import booking  # bench/booking.py: the rush's seed, bursts and requests
import run  # bench/run.py: wrk, its parsing, the endpoints
from run import ROOT, HarnessError

sys.path.insert(0, str(ROOT))
from deploy import cluster as topology  # noqa: E402

TARGETS = [target for target in run.TARGETS if target.key in ("programs", "catalog")]


class Topology:
    """One nginx and the app hosts behind it, as bench/run.py's Server and bench/booking.py's burst see a server:
    `base_url`, `port`, and `cpu_snapshot` (the CPU time of every app host's gunicorn master and workers)."""

    def __init__(self, name: str, nginx: topology.Piece, hosts: list[topology.Piece]):
        self.name = name
        self.port = int(nginx.address.rsplit(":", 1)[1])
        self.base_url = f"http://{nginx.address}"
        self.hosts = hosts

    def cpu_snapshot(self):
        pids, seconds = set(), 0.0
        for host in self.hosts:
            for pid in (host.process.pid, *run._children(host.process.pid)):
                try:
                    fields = Path(f"/proc/{pid}/stat").read_text().rpartition(")")[2].split()
                except OSError:
                    return None
                pids.add(pid)
                seconds += (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")
        return frozenset(pids), seconds


def measure_wrk(wrk: str, setup: Topology, args, env) -> list[dict]:
    """bare, programs, bare, catalog, bare (per round) through this nginx; each target's ratio to its bare runs."""
    options = dict(threads=args.threads, connections=args.connections, env=env, cpu_probe=setup.cpu_snapshot)
    for endpoint in [run.BARE, *TARGETS]:
        run.check_endpoint(setup.base_url, endpoint, "")
        run.run_wrk(wrk, setup.base_url, endpoint, seconds=args.warmup, phase="warmup", round_number=0, **options)
    sequence = []
    for number in range(1, args.rounds + 1):
        for target in TARGETS:
            sequence += [(number, run.BARE), (number, target)]
        sequence.append((number, run.BARE))
    runs = []
    for number, endpoint in sequence:
        done = run.run_wrk(wrk, setup.base_url, endpoint, seconds=args.duration, phase="measure",
                           round_number=number, **options)
        runs.append(done)
        cpu = done.server_cpu_us_per_request
        print(f"  [{setup.name}] {endpoint.label:<24} {done.requests_per_second:>8,.0f} req/s  p99 "
              f"{done.p99_ms:>6.1f} ms" + (f"  server CPU {cpu:,.0f} µs/request" if cpu else ""), flush=True)
    return [{"topology": setup.name, **_as_dict(result)} for result in run.summarise(runs, TARGETS,
                                                                                    {e.key: 0 for e in
                                                                                     [run.BARE, *TARGETS]})]


def _as_dict(result) -> dict:
    return {"endpoint": result.label, "requests_per_second": result.requests_per_second, "p99_ms": result.p99_ms,
            "ratio": result.ratio, "server_cpu_us_per_request": result.server_cpu_us_per_request}


def measure_rush(setup: Topology, cohort: dict, args) -> dict:
    bare = [booking.raw_request("GET", run.BARE.path, setup.port)] * args.requests
    rush_requests = [booking.raw_request("POST", "/api/v1/bookings", setup.port,
                                         booking.booking_body(cohort["cohort_id"], token, i))
                     for i, token in enumerate(cohort["tokens"])]
    before = booking.burst("bare", setup, bare)
    rush = booking.burst("rush", setup, rush_requests)
    after = booking.burst("bare", setup, bare)
    answers = rush.answers()
    bare_rps = statistics.mean([before.requests_per_second, after.requests_per_second])
    result = {"topology": setup.name, "answers": dict(answers), "rush_requests_per_second": rush.requests_per_second,
              "p50_ms": rush.percentile_ms(0.5), "p99_ms": rush.percentile_ms(0.99),
              "bare_requests_per_second": bare_rps, "ratio": rush.requests_per_second / bare_rps,
              "server_cpu_ms_per_request": rush.server_cpu_ms_per_request,
              "ok": answers == Counter({"201": cohort["seats"], "409 cohort_full": args.requests - cohort["seats"]})}
    print(f"  [{setup.name}] booking rush {result['rush_requests_per_second']:,.0f} req/s, p50 {result['p50_ms']:.0f} "
          f"ms, p99 {result['p99_ms']:.0f} ms, answers {dict(answers)}; bare {bare_rps:,.0f} req/s; ratio "
          f"{result['ratio']:.2f}×", flush=True)
    return result


def tables(wrk_results: list[dict], rushes: list[dict]) -> str:
    lines = ["| behind nginx | endpoint | req/s | p99 | ratio to bare (same nginx) | server CPU / request |",
             "|---|---|---:|---:|---:|---:|"]
    for r in wrk_results:
        ratio = "1.00× (reference)" if r["endpoint"] == run.BARE.label else f"{r['ratio']:.2f}×"
        cpu = f"{r['server_cpu_us_per_request']:,.0f} µs" if r["server_cpu_us_per_request"] else "—"
        lines.append(f"| {r['topology']} | {r['endpoint']} | {r['requests_per_second']:,.0f} | {r['p99_ms']:.1f} ms "
                     f"| {ratio} | {cpu} |")
    lines += ["", "| behind nginx | booking rush | 201 | 409 | other | rush req/s | p50 | p99 | bare req/s | ratio to "
                  "bare | server CPU / booking request |", "|---|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|"]
    for r in rushes:
        created, full = r["answers"].get("201", 0), r["answers"].get("409 cohort_full", 0)
        other = sum(r["answers"].values()) - created - full
        cpu = f"{r['server_cpu_ms_per_request']:.1f} ms" if r["server_cpu_ms_per_request"] else "—"
        lines.append(f"| {r['topology']} | POST /api/v1/bookings | {created} | {full} | {other} "
                     f"| {r['rush_requests_per_second']:,.0f} | {r['p50_ms']:.0f} ms | {r['p99_ms']:.0f} ms "
                     f"| {r['bare_requests_per_second']:,.0f} | {r['ratio']:.2f}× | {cpu} |")
    return "\n".join(lines)


def parse_args(argv):
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--duration", type=run.seconds_option, default=10, help="each measured wrk run (10s)")
    parser.add_argument("--warmup", type=run.seconds_option, default=2, help="each warm-up run (2s)")
    parser.add_argument("--connections", type=run.positive_int, default=16, help="wrk -c (16)")
    parser.add_argument("--threads", type=run.positive_int, default=2, help="wrk -t (2)")
    parser.add_argument("--workers", type=run.positive_int, default=2, help="gunicorn sync workers per host (2)")
    parser.add_argument("--rounds", type=run.positive_int, default=1, help="interleaved wrk sequences (1)")
    parser.add_argument("--requests", type=run.positive_int, default=200, help="simultaneous bookings (200)")
    parser.add_argument("--seats", type=run.positive_int, default=20, help="the rushed cohort's seats (20)")
    parser.add_argument("--json-out", type=Path, help="also write the results as JSON here")
    parser.add_argument("--keep", action="store_true", help="keep the scratch folder (logs)")
    return parser.parse_args(argv)


def _raise_exit(signum, frame):
    raise SystemExit(128 + signum)


def main(argv=None) -> int:
    args = parse_args(argv)
    wrk = shutil.which("wrk")
    if wrk is None:
        print(run.WRK_MISSING, file=sys.stderr)
        return 2
    missing = topology.missing_programs()
    if missing:
        print(f"Cluster benchmark not run: {', '.join(missing)} not installed: {topology.INSTALL_HINT}",
              file=sys.stderr)
        return 2
    signal.signal(signal.SIGTERM, _raise_exit)
    load_before = os.getloadavg()
    scratch = Path(tempfile.mkdtemp(prefix="retreat-bench-cluster-"))
    cluster = topology.Cluster(scratch, hosts=2, workers=args.workers, seed=True, extra_env={
        "RATELIMIT_ENABLED": "false", "HOLD_LIMITS_ENABLED": "false"})
    one_host = None
    try:
        print(f"Cluster benchmark: nginx in front of 1 and of 2 app hosts (gunicorn, {args.workers} sync workers "
              f"each), PostgreSQL and Redis; scratch {scratch}", flush=True)
        cluster.start()
        one_host = topology.start_nginx(scratch / "nginx-one-host", [cluster.app_hosts[0].address])
        setups = [Topology("1 host", one_host, cluster.app_hosts[:1]),
                  Topology("2 hosts", cluster.nginx, cluster.app_hosts)]
        seeded_path = scratch / "seeded.json"
        booking._internal("seed", cluster.env | {"RETREAT_INSTANCE_PATH": str(scratch / "seed-instance")},
                          str(seeded_path), str(len(setups)), str(args.seats), str(args.requests))
        seeded = json.loads(seeded_path.read_text())
        env = dict(os.environ)
        wrk_results, rushes = [], []
        for setup in setups:
            wrk_results += measure_wrk(wrk, setup, args, env)
        warm = seeded["warmup"]
        for setup in setups:  # each worker of each host has served a booking before the rushes
            booking.burst("warm-up", setup, [booking.raw_request("POST", "/api/v1/bookings", setup.port,
                                                                 booking.booking_body(warm["cohort_id"], t, i))
                                             for i, t in enumerate(warm["tokens"][:4])])
        for setup, cohort in zip(setups, seeded["cohorts"], strict=True):
            rushes.append(measure_rush(setup, cohort, args))
    except (HarnessError, topology.ClusterError) as error:
        print(f"\nCLUSTER BENCHMARK HARNESS FAILED: {error}", file=sys.stderr)
        return 1
    except KeyboardInterrupt:
        return 130
    finally:
        signal.signal(signal.SIGTERM, signal.SIG_IGN)
        if one_host is not None:
            one_host.stop()
        cluster.stop()
        if args.keep:
            print(f"Kept {scratch}", file=sys.stderr)
        else:
            shutil.rmtree(scratch, ignore_errors=True)

    print()
    print(f"Cluster benchmark: wrk -t{args.threads} -c{args.connections} -d{args.duration}s through nginx, "
          f"{os.cpu_count()} CPUs shared by nginx, the hosts, PostgreSQL, Redis and the load generator; load "
          f"average before {load_before[0]:.2f}")
    print()
    print(tables(wrk_results, rushes))
    print()
    print("Ratios compare each endpoint with the bare endpoint (GET /healthz) through the same nginx in the same run. "
          "All the processes share this machine's cores, so a second host adds workers, not CPUs: on one machine "
          "two hosts show the cost of the topology, not its capacity.")
    if args.json_out:
        args.json_out.parent.mkdir(parents=True, exist_ok=True)
        args.json_out.write_text(json.dumps({"load_average_before": load_before, "wrk": wrk_results,
                                             "rushes": rushes, "settings": vars(args) | {"json_out": None}},
                                            indent=2, default=str) + "\n")
    if not all(r["ok"] for r in rushes):
        print("BOOKING PATH BROKEN: a rush through nginx got answers other than 201 for each seat and 409 "
              "cohort_full for the rest.", file=sys.stderr)
        return 3
    return 0


if __name__ == "__main__":
    sys.exit(main())
