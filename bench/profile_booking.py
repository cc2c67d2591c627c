"""Where a booking's server time goes: POST /api/v1/bookings served in-process (Flask's test client, the
settings of bench/booking.py: development, demo payments, rate and hold limits off), profiled with pyinstrument.

    .venv/bin/python bench/profile_booking.py [--db sqlite | --database-url URL] [--requests 300] [--html OUT]

It migrates a fresh SQLite file (or the THROWAWAY PostgreSQL database given), seeds a cohort with as many seats
as requests and one eligible pre-screen each, warms up, then books --requests times one after the other and
prints the CPU time per booking (process time: what the server's CPU would spend, the WSGI server aside) beside
GET /healthz's, and pyinstrument's tree. pyinstrument is in the `dev` extra (`pip install -e '.[dev]'`).
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "bench"))


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--database-url", help="a THROWAWAY PostgreSQL database (migrated and seeded)")
    parser.add_argument("--requests", type=int, default=300)
    parser.add_argument("--html", type=Path, help="also write pyinstrument's HTML report here")
    parser.add_argument("--no-profile", action="store_true", help="only time it")
    parser.add_argument("--cprofile", action="store_true", help="cProfile (functions by own time) instead")
    parser.add_argument("--seats", type=int, help="the cohort's seats (default: one per request); fewer, as in the "
                                                  "rush (a tenth), and the rest are answered 409 cohort_full")
    args = parser.parse_args(argv)

    instance = Path(tempfile.mkdtemp(prefix="retreat-profile-"))
    url = args.database_url or f"sqlite:///{instance / 'retreat.sqlite3'}"
    os.environ.update({"RETREAT_CONFIG": "development", "RETREAT_INSTANCE_PATH": str(instance), "DATABASE_URL": url,
                       "RATELIMIT_ENABLED": "false", "HOLD_LIMITS_ENABLED": "false", "PAYMENT_PROVIDER": "demo"})
    for name in ("STRIPE_SECRET_KEY", "STRIPE_PUBLISHABLE_KEY", "STRIPE_WEBHOOK_SECRET", "MAIL_SERVER"):
        os.environ.pop(name, None)
    import logging

    import booking as bench_booking
    import flask_migrate

    from retreat import create_app

    app = create_app()
    logging.getLogger("retreat").setLevel(logging.WARNING)
    app.logger.setLevel(logging.WARNING)
    with app.app_context():
        flask_migrate.upgrade()
        dialect = app.extensions["sqlalchemy"].engine.dialect.name
    seeded = instance / "seeded.json"
    bench_booking.seed(seeded, cohorts=2, seats=args.seats or args.requests,
                       tokens_per_cohort=args.requests + 20)
    document = json.loads(seeded.read_text())
    cohort = document["cohorts"][0]
    client = app.test_client()
    answers: list[int] = []

    def book(number: int, into: dict = cohort) -> None:
        answer = client.post("/api/v1/bookings", json=bench_booking.booking_body(
            into["cohort_id"], into["tokens"][number], number))
        assert answer.status_code in (201, 409), answer.get_data(as_text=True)
        answers.append(answer.status_code)

    for number in range(20):  # warm up (another cohort): templates compiled, caches filled, a 409 too
        book(number, document["cohorts"][1])
        client.get("/healthz")
    answers.clear()

    started = time.process_time()
    for _ in range(args.requests):
        client.get("/healthz")
    bare = (time.process_time() - started) / args.requests * 1000

    import sqlalchemy as sa
    statements: list[str] = []
    with app.app_context():
        engine = app.extensions["sqlalchemy"].engine
    sa.event.listen(engine, "before_cursor_execute",
                    lambda conn, cursor, statement, *rest: statements.append(statement))
    book(args.requests + 20 - 1) if False else None
    profiler = None
    if args.cprofile:
        import cProfile
        import pstats
        cprofiler = cProfile.Profile()
        cprofiler.enable()
        for number in range(args.requests):
            book(number)
        cprofiler.disable()
        bare = cProfile.Profile()
        bare.enable()
        for _ in range(args.requests):
            client.get("/healthz")
        bare.disable()
        calls = pstats.Stats(cprofiler).total_calls / args.requests
        bare_calls = pstats.Stats(bare).total_calls / args.requests
        print(f"Python function calls per request: booking {calls:,.0f}, GET /healthz {bare_calls:,.0f} "
              f"({calls / bare_calls:.1f}x)")
        pstats.Stats(cprofiler).sort_stats("tottime").print_stats(45)
        pstats.Stats(cprofiler).sort_stats("cumtime").print_stats(60)
        return 0
    if not args.no_profile:
        from pyinstrument import Profiler
        profiler = Profiler(interval=0.0005)
        profiler.start()
    started = time.process_time()
    for number in range(args.requests):
        book(number)
    booking = (time.process_time() - started) / args.requests * 1000
    if profiler is not None:
        profiler.stop()
        print(profiler.output_text(unicode=True, color=False, show_all=False))
        if args.html:
            args.html.write_text(profiler.output_html())
    print(f"{len(statements) / args.requests:.1f} SQL statements per booking; the first booking's:")
    per = len(statements) // args.requests
    for statement in statements[:per]:
        print("   ", " ".join(statement.split())[:150])
    print(f"{dialect}: CPU per booking {booking:.2f} ms "
          f"(GET /healthz {bare:.2f} ms) over {args.requests} bookings "
          f"({answers.count(201)} answered 201, {answers.count(409)} 409), in-process"
          f"{' (profiled: slower)' if profiler else ''}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
