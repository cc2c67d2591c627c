"""One unit of work per entry point, and transactions that must not race.

An entry point (a view, the Stripe webhook, an API handler, a command) opens `unit_of_work()`: on SQLite it takes
the database's write lock at once; services inside only add and flush; the unit commits once at the end (or rolls
back if anything raised) and then runs what services asked to happen after the commit (`after_commit`): send the
queued emails, clear caches, ask a payment provider for a refund that was recorded as pending. A unit opened
inside another is part of it: only the outermost commits.

A write transaction that holds its lock from its first statement:

PostgreSQL: the caller locks the row it guards (SELECT ... FOR UPDATE) inside an ordinary transaction.
SQLite has no row locks: the transaction starts with BEGIN IMMEDIATE, which takes the database's write lock at
once, so two writers are serialised and neither reads a count the other is about to change. For that the
pysqlite driver must leave BEGIN to us (SQLAlchemy's documented recipe), which this module sets up.
"""

import logging
import sqlite3
from collections.abc import Callable, Iterator
from contextlib import contextmanager

from sqlalchemy import event
from sqlalchemy.engine import Engine
from sqlalchemy.orm import Session

from retreat.extensions import db

# How long a statement waits for a lock another transaction holds before giving up (the request then answers
# 503 with Retry-After): SQLite's busy timeout, PostgreSQL's lock_timeout.
LOCK_WAIT_MS = 15_000


@event.listens_for(Engine, "connect")
def _configure_connection(dbapi_connection, connection_record):
    if not isinstance(dbapi_connection, sqlite3.Connection):
        cursor = dbapi_connection.cursor()
        cursor.execute(f"SET lock_timeout = {int(LOCK_WAIT_MS)}")
        cursor.close()
        dbapi_connection.commit()
        return
    dbapi_connection.isolation_level = None  # SQLAlchemy's begin event below issues BEGIN
    cursor = dbapi_connection.cursor()
    cursor.execute("PRAGMA foreign_keys = ON")
    cursor.execute(f"PRAGMA busy_timeout = {int(LOCK_WAIT_MS)}")
    cursor.execute("PRAGMA journal_mode = WAL")  # readers do not wait for the writer
    cursor.execute("PRAGMA synchronous = NORMAL")
    cursor.close()


@event.listens_for(Engine, "begin")
def _begin_sqlite(connection):
    if connection.dialect.name == "sqlite":
        mode = connection.get_execution_options().get("sqlite_begin", "DEFERRED")
        connection.exec_driver_sql(f"BEGIN {mode}")


@event.listens_for(Session, "after_flush")
def _remember_writes(session, flush_context):
    session.info["wrote"] = True


@event.listens_for(Session, "after_transaction_end")
def _forget_writes(session, transaction):
    if transaction.parent is None:
        session.info.pop("wrote", None)


class TransactionOrderError(RuntimeError):
    """A locked write transaction was asked for after unsaved writes: a programming error."""


def begin_locked_write() -> None:
    """Start the session's next transaction as a locked write transaction.

    Reads done before (to show a page, say) are let go; a transaction that already wrote is refused, since
    starting afresh would lose its writes.
    """
    session = db.session()
    if session.in_transaction():
        if session.info.get("wrote") or session.new or session.dirty or session.deleted:
            raise TransactionOrderError("begin_locked_write() must come before any write in the transaction")
        session.rollback()
    session.connection(execution_options={"sqlite_begin": "IMMEDIATE"})


# --- The unit of work ------------------------------------------------------------------------------------------

_DEPTH = "retreat.unit_of_work_depth"
_AFTER_COMMIT = "retreat.after_commit"
logger = logging.getLogger("retreat")


class NoUnitOfWork(RuntimeError):
    """after_commit() was called outside a unit of work: nothing would ever run it (a programming error)."""


def in_unit_of_work() -> bool:
    return bool(db.session().info.get(_DEPTH))


def after_commit(callback: Callable[[], object]) -> None:
    """Run `callback` once the current unit of work has committed; never if it rolls back. A callback that
    raises is logged and does not stop the others: what it does must be safe to retry later (a queued email
    stays queued, a pending refund stays pending for the retry job)."""
    session = db.session()
    if not session.info.get(_DEPTH):
        raise NoUnitOfWork("after_commit() needs an open unit_of_work()")
    session.info.setdefault(_AFTER_COMMIT, []).append(callback)


@contextmanager
def unit_of_work(*, write: bool = True) -> Iterator[None]:
    """One transaction for everything inside; commits once, then runs the after-commit callbacks.

    `write` starts it as a locked write transaction (BEGIN IMMEDIATE on SQLite), so a path that reads and then
    writes never fails to upgrade its read lock under contention. Inside another unit it only joins that one.
    """
    session = db.session()
    depth = session.info.get(_DEPTH, 0)
    if depth:
        session.info[_DEPTH] = depth + 1
        try:
            yield
        finally:
            session.info[_DEPTH] = depth
        return
    if write:
        begin_locked_write()
    session.info[_DEPTH] = 1
    try:
        yield
        session.commit()
    except BaseException:
        session.info.pop(_AFTER_COMMIT, None)
        session.rollback()
        raise
    finally:
        session.info.pop(_DEPTH, None)
    _run_after_commit(session)


def _run_after_commit(session: Session) -> None:
    callbacks = session.info.pop(_AFTER_COMMIT, [])
    for callback in callbacks:
        try:
            callback()
        except Exception:  # noqa: BLE001  (each callback's work is retried by its own job)
            db.session.rollback()
            logger.exception("An after-commit step failed; its job will retry it")
