"""Jobs that every host may run at the same moment (cron on each app host): the one mechanism they share.

Three tools, from the coarsest:

- `job_lock(name)`: one runner of a job at a time across all hosts. On PostgreSQL a session advisory lock
  (`pg_try_advisory_lock`) on a connection of its own, held for the whole run and let go when it ends (or when
  the process dies and its connection closes); a host that finds it taken skips the run. On SQLite there is one
  host, and every write transaction already runs alone (BEGIN IMMEDIATE, core.transactions): it always runs.
  Every `flask` job command takes it; it is the first line of defence, never the only one.
- `claim_rows(select, of)`: the rows a job works on, locked for its transaction with `FOR UPDATE SKIP LOCKED`,
  so two runs at once split the rows between them and never both change (or email about) the same row. SQLite
  ignores FOR UPDATE; its write transaction (BEGIN IMMEDIATE) serialises the runs, and the second reads what the
  first committed. Use it for a job that reads rows and changes them in one unit of work (reminders).
- `claim_once(job, key)`: a `job_claim` row, committed in its own unit of work BEFORE the work it guards (a
  charge at Stripe, say), unique per job and key: of two runs one inserts it, the other is told False. A run
  that crashes after claiming leaves the claim, so the same key is never done twice; choose the key so that a
  retry is a new key (a day, an attempt) and the payment provider's idempotency key is derived from it too.

The row-level claims make the services safe whoever calls them (a job, the web app, two hosts whose job lock
could not be taken, such as behind a transaction-pooling proxy); the job lock saves the work of a second run.
"""

import hashlib
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import datetime

import sqlalchemy as sa
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Mapped, mapped_column

from retreat.core.clock import now
from retreat.core.transactions import unit_of_work
from retreat.core.types import UTCDateTime
from retreat.extensions import db


class JobClaim(db.Model):
    """One piece of a job's work, taken by one runner before it is done (claim_once)."""

    __tablename__ = "job_claim"
    __table_args__ = (sa.UniqueConstraint("job", "key"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    job: Mapped[str] = mapped_column(sa.String(60))
    key: Mapped[str] = mapped_column(sa.String(160))
    claimed_at: Mapped[datetime] = mapped_column(UTCDateTime, default=now)


def lock_key(name: str) -> int:
    """The advisory lock number of a job: a stable signed 64-bit number from its name."""
    return int.from_bytes(hashlib.sha256(f"retreat-job:{name}".encode()).digest()[:8], "big", signed=True)


@contextmanager
def job_lock(name: str) -> Iterator[bool]:
    """True when this process runs the job `name` now, False when another host (or process) runs it.

    PostgreSQL: a session advisory lock on a connection taken from the pool for the run, outside the session's
    transactions (the job's units of work commit as usual). SQLite: always True (one host; writers serialise)."""
    engine = db.engine
    if engine.dialect.name != "postgresql":
        yield True
        return
    key = lock_key(name)
    # Autocommit: the lock belongs to the connection's session, not to a transaction left open for the run.
    with engine.connect().execution_options(isolation_level="AUTOCOMMIT") as connection:
        taken = bool(connection.scalar(sa.text("SELECT pg_try_advisory_lock(:key)"), {"key": key}))
        try:
            yield taken
        finally:
            if taken:
                connection.scalar(sa.text("SELECT pg_advisory_unlock(:key)"), {"key": key})


def claim_rows(statement: sa.Select, *of) -> sa.Select:
    """`statement` locking the rows of `of` (the entities, not the tables joined to filter them) for this
    transaction, skipping rows another transaction holds: FOR UPDATE OF ... SKIP LOCKED on PostgreSQL, nothing
    on SQLite (its write transaction runs alone)."""
    return statement.with_for_update(skip_locked=True, of=list(of) or None)


def claim_once(job: str, key: str) -> bool:
    """Take `key` of `job` for this runner, committed at once in its own unit of work (call it outside any
    other): True when this runner took it, False when any runner (now, or before) did."""
    try:
        with unit_of_work():
            db.session.add(JobClaim(job=job, key=key))
            db.session.flush()
    except IntegrityError:
        return False
    return True


def skipped(name: str) -> str:
    return f"{name}: another host is running it; nothing done here."


def release_claim(job: str, key: str) -> None:
    """Give a claim back (the work was not done and may be tried again under the same key: a provider that
    could not be reached), in its own unit of work."""
    with unit_of_work():
        db.session.execute(sa.delete(JobClaim).where(JobClaim.job == job, JobClaim.key == key))


def one_host_at_a_time(name: str):
    """A `flask` job command run under `job_lock(name)`: on a host where another runs it, it says so and does
    nothing (exit status 0: cron on every host is the normal case)."""
    import functools

    import click

    def decorate(command):
        @functools.wraps(command)
        def run(*args, **kwargs):
            with job_lock(name) as mine:
                if not mine:
                    click.echo(skipped(name))
                    return None
                return command(*args, **kwargs)
        return run
    return decorate
