"""Benchmark of the finance exports: 100,000 payments exported as CSV and XLSX, each beside a raw dump of the
same rows by the database's own tool (`sqlite3 -csv`; `psql \\copy` on PostgreSQL) in the same run.

Run from the project root (`make bench` runs it after the load benchmark):

    .venv/bin/python bench/finance_export.py [--rows 100000] [--repeat 3] [--postgres auto|yes|no]
                                             [--json-out bench/results/finance.json]

It seeds a fresh SQLite file in a temporary folder (and, where PostgreSQL is installed, a throwaway server as the
tests start one) with the demo-like catalog and `--rows` payments spread over 2027, migrated first. Each export
runs in a subprocess of its own: the app is created and warmed up, then the export of the whole year is timed
(rows streamed from the database to a file, as `flask finance export` and the HTTP download do) and the
process's peak resident memory is compared with its resident memory just before the export. Every timing is the
median of `--repeat` runs; memory growth the largest. The raw dumps select the same rows and columns with the
same joins, filter and order (the exporter's own SQL query), and write them as CSV.

Targets: CSV at most 2x the raw dump, XLSX at most 8x, peak memory growth at most 100 MB. It reports and never
asserts: exit 0 when it measured (targets met or not), 1 when the harness failed, 2 when sqlite3 is missing.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import platform
import random
import resource
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from dataclasses import asdict, dataclass
from datetime import UTC, date, datetime, timedelta
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

FIRST_DAY, LAST_DAY = date(2027, 1, 1), date(2027, 12, 31)
TARGETS = {"csv": 2.0, "xlsx": 8.0}
MEMORY_TARGET_MB = 100
STEP_SECONDS = 600
SQLITE_MISSING = "sqlite3 is not installed: apt-get install -y sqlite3 (Debian package sqlite3)"

class HarnessError(RuntimeError):
    pass


# --- Seeding ------------------------------------------------------------------------------------------------

def make_app(database_url: str):
    if not os.environ.get("RETREAT_INSTANCE_PATH"):  # main() sets it inside the run's temporary folder
        os.environ["RETREAT_INSTANCE_PATH"] = tempfile.mkdtemp(prefix="retreat-finance-bench-instance-")
    from retreat import create_app
    return create_app("testing", SQLALCHEMY_DATABASE_URI=database_url)


def migrate_and_seed(database_url: str, rows: int) -> dict:
    """Migrate an empty database and fill it with `rows` payments over 2027. Returns what it made."""
    import flask_migrate
    import sqlalchemy as sa

    from retreat.booking.models import Booking
    from retreat.catalog.models import Cohort, Program
    from retreat.extensions import db
    from retreat.payments.models import Payment

    app = make_app(database_url)
    randomness = random.Random(2027)
    with app.app_context():
        flask_migrate.upgrade()
        programs = [{"id": n, "slug": f"bench-program-{n}", "name": name, "summary": "Benchmark program.",
                     "description": "", "location": "", "duration_days": 7, "ketamine_route": "iv",
                     "dosing_sessions": 4, "therapy_modality": "emdr", "integration_sessions": 4,
                     "intensive_sessions": 1, "lodging_options": ["shared"], "published": True,
                     "created_at": datetime(2026, 12, 1, tzinfo=UTC), "updated_at": datetime(2026, 12, 1, tzinfo=UTC)}
                    for n, name in enumerate(["IV Ketamine with EMDR, One Week", "IV Ketamine with IFS, Two Weeks",
                                              "Esketamine (Spravato) with IFS", "IM Ketamine with EMDR, Ten Days",
                                              "Gentle Start: Sublingual Ketamine with ART"], start=1)]
        db.session.execute(sa.insert(Program), programs)
        cohorts = []
        for n in range(1, 61):
            start = FIRST_DAY + timedelta(days=14 + 6 * n)
            cohorts.append({"id": n, "program_id": 1 + n % len(programs), "start_date": start,
                            "end_date": start + timedelta(days=6), "capacity": 500, "status": "open",
                            "created_at": datetime(2026, 12, 1, tzinfo=UTC)})
        db.session.execute(sa.insert(Cohort), cohorts)
        booking_count = max(1, rows // 4)
        first_names = ["Jane", "Alex", "Sam", "Robin", "Zoë", "O'Brien", "María", "Lee", "=HYPERLINK(1)", "-2"]
        bookings = []
        for n in range(1, booking_count + 1):
            bookings.append({
                "id": n, "reference": f"RT-{n:08d}", "cohort_id": 1 + n % len(cohorts), "status": "confirmed",
                "lodging": "shared", "applicant_first_name": first_names[n % len(first_names)],
                "applicant_last_name": f"Applicant {n}", "applicant_email": f"applicant{n}@example.org",
                "applicant_phone": "+1 555 0100", "price_list_version": 1, "total_cents": 497_000,
                "deposit_cents": 99_400, "balance_cents": 397_600, "balance_due_date": date(2027, 6, 1),
                "payment_provider": "stripe", "save_card_consent": False, "balance_reminders_sent": [],
                "created_at": datetime(2026, 12, 1, tzinfo=UTC), "updated_at": datetime(2026, 12, 1, tzinfo=UTC),
            })
            if len(bookings) == 5000:
                db.session.execute(sa.insert(Booking), bookings)
                bookings.clear()
        if bookings:
            db.session.execute(sa.insert(Booking), bookings)
        seconds_in_year = int((LAST_DAY - FIRST_DAY + timedelta(days=1)).total_seconds())
        kinds = ("deposit", "balance", "balance", "refund")
        payments = []
        for n in range(1, rows + 1):
            kind = kinds[n % 4]
            provider = "stripe" if n % 5 else "offline"
            amount = {"deposit": 99_400, "balance": 397_600, "refund": -49_700}[kind] + n % 100
            known = provider == "stripe" and n % 7
            fee = (amount * 29 // 1000 + 30) if known and kind != "refund" else (0 if known else None)
            payments.append({
                "booking_id": 1 + n % booking_count, "kind": kind, "provider": provider,
                "provider_reference": f"{'pi' if provider == 'stripe' else 'bt'}_{n:012d}", "status": "succeeded",
                "currency": "usd", "amount_cents": amount, "fee_cents": fee,
                "net_cents": None if fee is None else amount - fee, "note": "",
                "created_at": datetime.combine(FIRST_DAY, datetime.min.time(), tzinfo=UTC)
                + timedelta(seconds=randomness.randrange(seconds_in_year)),
            })
            if len(payments) == 10_000:
                db.session.execute(sa.insert(Payment), payments)
                payments.clear()
        if payments:
            db.session.execute(sa.insert(Payment), payments)
        db.session.commit()
        count = db.session.scalar(sa.select(sa.func.count()).select_from(Payment))
        db.engine.dispose()
    return {"payments": count, "bookings": booking_count}


# --- One measured export, in its own process ---------------------------------------------------------------

def _rss_bytes() -> int:
    with open("/proc/self/statm") as statm:
        return int(statm.read().split()[1]) * os.sysconf("SC_PAGE_SIZE")


def measure_in_this_process(database_url: str, export_format: str, out: Path) -> dict:
    from retreat.extensions import db
    from retreat.finance import exports
    from retreat.finance.services import LedgerFilters

    app = make_app(database_url)
    with app.app_context():
        # Warm up: imports, the first connection, compiled queries; a one-day export to a throwaway file.
        warm = exports.build_export(LedgerFilters(date_from=FIRST_DAY, date_to=FIRST_DAY), export_format)
        with open(os.devnull, "wb") as sink:
            for chunk in warm.chunks:
                sink.write(chunk)
        db.session.rollback()
        before = _rss_bytes()
        peak_before = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024
        started, cpu_started = time.perf_counter(), time.process_time()
        built = exports.build_export(LedgerFilters(date_from=FIRST_DAY, date_to=LAST_DAY), export_format)
        with out.open("wb") as file:
            for chunk in built.chunks:
                file.write(chunk)
        seconds, cpu = time.perf_counter() - started, time.process_time() - cpu_started
        peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024
        db.session.rollback()
        db.engine.dispose()
    return {"seconds": seconds, "cpu_seconds": cpu, "rss_before": before, "peak_before": peak_before, "peak": peak,
            "growth": max(0, peak - max(before, 0)), "bytes": out.stat().st_size}


def measure(database_url: str, export_format: str, out: Path) -> dict:
    command = [sys.executable, str(Path(__file__).resolve()), "--measure", export_format, "--database-url",
               database_url, "--out", str(out)]
    try:
        done = subprocess.run(command, cwd=ROOT, capture_output=True, text=True, timeout=STEP_SECONDS)
    except subprocess.TimeoutExpired:
        raise HarnessError(f"the {export_format} export took longer than {STEP_SECONDS}s") from None
    if done.returncode != 0:
        raise HarnessError(f"the {export_format} export failed:\n{done.stdout}{done.stderr}")
    return json.loads(done.stdout.strip().splitlines()[-1])


# --- Raw dumps ------------------------------------------------------------------------------------------------

def export_sql(dialect_name: str) -> str:
    """The exporter's own query for the whole year, as SQL text for the database's tool."""
    import sqlalchemy as sa
    from sqlalchemy.dialects import postgresql, sqlite

    from retreat.finance import services
    from retreat.payments.models import Payment

    filters = services.LedgerFilters(date_from=FIRST_DAY, date_to=LAST_DAY)
    statement = (services._filtered(sa.select(*services._export_columns()), filters)
                 .order_by(Payment.created_at, Payment.id))
    dialect = sqlite.dialect() if dialect_name == "sqlite" else postgresql.dialect()
    return " ".join(str(statement.compile(dialect=dialect, compile_kwargs={"literal_binds": True})).split())


def _children_cpu() -> float:
    usage = resource.getrusage(resource.RUSAGE_CHILDREN)
    return usage.ru_utime + usage.ru_stime


def raw_sqlite(path: Path, out: Path) -> tuple[float, float]:
    """(wall seconds, CPU seconds) of `sqlite3 -csv` dumping the export's rows to a file."""
    cpu = _children_cpu()
    started = time.perf_counter()
    with out.open("wb") as file:
        done = subprocess.run(["sqlite3", "-csv", "-header", str(path), export_sql("sqlite")], stdout=file,
                              stderr=subprocess.PIPE, timeout=STEP_SECONDS)
    seconds = time.perf_counter() - started
    if done.returncode != 0:
        raise HarnessError(f"sqlite3 failed: {done.stderr.decode(errors='replace')}")
    return seconds, _children_cpu() - cpu


def raw_postgres(host: str, port: int, database: str, out: Path) -> tuple[float, None]:
    """Wall seconds of `psql \\copy` dumping the export's rows to a file (most of the work is the server's,
    so psql's own CPU time says little)."""
    command = ["psql", "-X", "-q", "-h", host, "-p", str(port), "-U", "postgres", "-d", database, "-c",
               f"\\copy ({export_sql('postgresql')}) TO '{out}' WITH (FORMAT csv, HEADER)"]
    started = time.perf_counter()
    done = subprocess.run(command, capture_output=True, text=True, timeout=STEP_SECONDS)
    seconds = time.perf_counter() - started
    if done.returncode != 0:
        raise HarnessError(f"psql \\copy failed: {done.stderr}")
    return seconds, None


# --- The run ------------------------------------------------------------------------------------------------

@dataclass
class Line:
    backend: str
    export: str
    seconds: float  # median over the repetitions
    ratio: float | None  # median over the repetitions of seconds over the raw dumps just before and after
    cpu_seconds: float | None
    cpu_ratio: float | None  # the same with CPU time (SQLite only: there the tool does all the work)
    target: float | None
    memory_growth_mb: float | None
    megabytes: float
    runs: list[float]

    @property
    def met(self) -> bool | None:
        if self.target is None:
            return None
        return self.ratio <= self.target and (self.memory_growth_mb or 0) <= MEMORY_TARGET_MB


def run_backend(backend: str, database_url: str, raw, folder: Path, repeat: int) -> list[Line]:
    """Each repetition runs: raw dump, CSV, raw dump, XLSX, raw dump; each export is compared with the mean of
    the raw dumps just before and after it, so that a machine slowing down or speeding up moves both alike."""
    raw_out = folder / f"{backend}-raw.csv"
    raws: list[tuple[float, float | None]] = []
    measured: dict[str, list[tuple[dict, tuple, tuple]]] = {"csv": [], "xlsx": []}
    for _ in range(repeat):
        before = raw(raw_out)
        raws.append(before)
        for export_format in ("csv", "xlsx"):
            result = measure(database_url, export_format, folder / f"{backend}-export.{export_format}")
            after = raw(raw_out)
            raws.append(after)
            measured[export_format].append((result, before, after))
            before = after
    raw_seconds = [wall for wall, _ in raws]
    raw_cpu = [cpu for _, cpu in raws if cpu is not None]
    lines = [Line(backend, "raw dump (sqlite3 -csv)" if backend == "sqlite" else "raw dump (psql \\copy)",
                  statistics.median(raw_seconds), None, statistics.median(raw_cpu) if raw_cpu else None, None,
                  None, None, raw_out.stat().st_size / 1e6, [round(x, 3) for x in raw_seconds])]
    for export_format, runs in measured.items():
        ratios = [r["seconds"] / ((b[0] + a[0]) / 2) for r, b, a in runs]
        cpu_ratios = [r["cpu_seconds"] / ((b[1] + a[1]) / 2) for r, b, a in runs if b[1] and a[1]]
        line = Line(backend, export_format.upper(), statistics.median(r["seconds"] for r, _, _ in runs),
                    statistics.median(ratios), statistics.median(r["cpu_seconds"] for r, _, _ in runs),
                    statistics.median(cpu_ratios) if cpu_ratios else None, TARGETS[export_format],
                    max(r["growth"] for r, _, _ in runs) / 1e6, runs[0][0]["bytes"] / 1e6,
                    [round(r["seconds"], 3) for r, _, _ in runs])
        lines.append(line)
        cpu = f", CPU {line.cpu_ratio:.2f}x" if line.cpu_ratio else ""
        print(f"  {backend:<10} {export_format:<5} {line.seconds:6.2f} s  ({line.ratio:.2f}x the raw dump{cpu}), "
              f"peak memory +{line.memory_growth_mb:.1f} MB", flush=True)
    return lines


def check_export(path: Path, rows: int) -> None:
    """The CSV has a header and one line per payment: the timing measured a complete export."""
    with path.open("rb") as file:
        lines = sum(1 for _ in file)
    if lines != rows + 1:
        raise HarnessError(f"{path.name} has {lines} lines; expected {rows + 1}")


def markdown_table(lines: list[Line]) -> str:
    table = ["| database | export | time | × raw dump | CPU × raw dump | target | peak memory growth | size | met? |",
             "|---|---|---:|---:|---:|---:|---:|---:|:---:|"]
    for line in lines:
        ratio = "1.00× (reference)" if line.ratio is None else f"{line.ratio:.2f}×"
        cpu = "—" if line.cpu_ratio is None else f"{line.cpu_ratio:.2f}×"
        if line.ratio is None and line.cpu_seconds is not None:
            cpu = f"{line.cpu_seconds:.2f} s CPU"
        target = "—" if line.target is None else f"≤ {line.target:.0f}×, ≤ {MEMORY_TARGET_MB} MB"
        memory = "—" if line.memory_growth_mb is None else f"{line.memory_growth_mb:.1f} MB"
        met = "—" if line.met is None else ("yes" if line.met else "**NO**")
        table.append(f"| {line.backend} | {line.export} | {line.seconds:.2f} s | {ratio} | {cpu} | {target} "
                     f"| {memory} | {line.megabytes:.1f} MB | {met} |")
    return "\n".join(table)


def parse_args(argv):
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--rows", type=int, default=100_000, help="payments to seed (default 100,000)")
    parser.add_argument("--repeat", type=int, default=3, help="runs of each export; the median is kept")
    parser.add_argument("--postgres", choices=("auto", "yes", "no"), default="auto",
                        help="also on a throwaway PostgreSQL server (auto: where it is installed)")
    parser.add_argument("--json-out", type=Path, help="also write the results as JSON here")
    parser.add_argument("--keep", action="store_true", help="keep the temporary folder and its files")
    # Internal: one measured export in this process.
    parser.add_argument("--measure", choices=("csv", "xlsx"), help=argparse.SUPPRESS)
    parser.add_argument("--database-url", help=argparse.SUPPRESS)
    parser.add_argument("--out", type=Path, help=argparse.SUPPRESS)
    return parser.parse_args(argv)


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    if args.measure:
        print(json.dumps(measure_in_this_process(args.database_url, args.measure, args.out)))
        return 0
    if shutil.which("sqlite3") is None:
        print(SQLITE_MISSING, file=sys.stderr)
        return 2
    folder = Path(tempfile.mkdtemp(prefix="retreat-finance-bench-"))
    os.environ["RETREAT_INSTANCE_PATH"] = str(folder / "instance")
    lines: list[Line] = []
    started = datetime.now(UTC)
    print(f"Finance export benchmark: {args.rows:,} payments, median of {args.repeat} runs; folder {folder}",
          flush=True)
    try:
        sqlite_path = folder / "finance.sqlite3"
        sqlite_url = f"sqlite:///{sqlite_path}"
        seeded = time.perf_counter()
        made = migrate_and_seed(sqlite_url, args.rows)
        print(f"  sqlite     seeded {made['payments']:,} payments in {time.perf_counter() - seeded:.1f} s", flush=True)
        lines += run_backend("sqlite", sqlite_url, lambda out: raw_sqlite(sqlite_path, out), folder, args.repeat)
        check_export(folder / "sqlite-export.csv", made["payments"])

        if args.postgres != "no":
            from tests.support import postgres
            bindir = postgres.find_bindir()
            if bindir is None or shutil.which("psql") is None:
                if args.postgres == "yes":
                    raise HarnessError("PostgreSQL is not installed (apt-get install -y postgresql)")
                print("  PostgreSQL is not installed: skipped (apt-get install -y postgresql)", flush=True)
            else:
                with postgres.throwaway_server(bindir) as base_url:
                    url = postgres.create_database(base_url, "retreat_finance_bench")
                    seeded = time.perf_counter()
                    made = migrate_and_seed(url, args.rows)
                    print(f"  postgresql seeded {made['payments']:,} payments in "
                          f"{time.perf_counter() - seeded:.1f} s", flush=True)
                    port = int(base_url.rsplit(":", 1)[1])
                    lines += run_backend("postgresql", url,
                                         lambda out: raw_postgres("127.0.0.1", port, "retreat_finance_bench", out),
                                         folder, args.repeat)
                    check_export(folder / "postgresql-export.csv", made["payments"])
    except HarnessError as error:
        print(f"\nFINANCE BENCHMARK HARNESS FAILED: {error}", file=sys.stderr)
        return 1
    finally:
        if args.keep:
            print(f"Kept {folder}", file=sys.stderr)
        else:
            shutil.rmtree(folder, ignore_errors=True)

    print()
    print(f"Finance exports: {args.rows:,} payments, {os.cpu_count()} CPUs, Python {platform.python_version()}, "
          f"median of {args.repeat} runs each")
    print()
    print(markdown_table(lines))
    print()
    print("Time: rows read from the database and written to a file, in a warmed-up process (median). × raw "
          "dump: over the mean of the database tool's dumps of the same query just before and after, median over "
          "the repetitions (the number to quote). CPU × raw dump: the same with CPU time, which other programs "
          "on the machine disturb less (SQLite only; psql leaves the work to the server). Peak memory growth: "
          "the export process's peak resident memory over its resident memory just before the export.")
    missed = [f"{line.backend} {line.export}" for line in lines if line.met is False]
    print("All targets met." if not missed else f"Targets missed: {', '.join(missed)} (reported, not asserted).")
    if args.json_out:
        args.json_out.parent.mkdir(parents=True, exist_ok=True)
        args.json_out.write_text(json.dumps({
            "started_at": started.isoformat(timespec="seconds"), "rows": args.rows, "repeat": args.repeat,
            "machine": {"cpus": os.cpu_count(), "platform": platform.platform(),
                        "python": platform.python_version()},
            "results": [{**asdict(line), "met": line.met} for line in lines],
        }, indent=2) + "\n")
        print(f"Wrote {args.json_out}")
    return 0


if __name__ == "__main__":
    with contextlib.suppress(KeyboardInterrupt):
        sys.exit(main())
    sys.exit(130)
