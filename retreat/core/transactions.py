"""Transactions that must not race: a write transaction that holds its lock from its first statement.

PostgreSQL: the caller locks the row it guards (SELECT ... FOR UPDATE) inside an ordinary transaction.
SQLite has no row locks: the transaction starts with BEGIN IMMEDIATE, which takes the database's write lock at
once, so two writers are serialised and neither reads a count the other is about to change. For that the
pysqlite driver must leave BEGIN to us (SQLAlchemy's documented recipe), which this module sets up.
"""

import sqlite3

from sqlalchemy import event
from sqlalchemy.engine import Engine
from sqlalchemy.orm import Session

from retreat.extensions import db

SQLITE_BUSY_TIMEOUT_MS = 15_000


@event.listens_for(Engine, "connect")
def _configure_sqlite(dbapi_connection, connection_record):
    if not isinstance(dbapi_connection, sqlite3.Connection):
        return
    dbapi_connection.isolation_level = None  # SQLAlchemy's begin event below issues BEGIN
    cursor = dbapi_connection.cursor()
    cursor.execute("PRAGMA foreign_keys = ON")
    cursor.execute(f"PRAGMA busy_timeout = {SQLITE_BUSY_TIMEOUT_MS}")
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
