"""Liveness (`/healthz`: the process answers) and readiness (`/readyz`: it can serve) for load balancers.

nginx's upstream checks and deploy/README.md use them: a host whose database or Redis is out of reach, or whose
database is not at the migrations' head (a deploy half done), answers 503 naming the check that failed, and
nothing else (no addresses, no error text: those go to the log).
"""

import logging
import threading

import sqlalchemy as sa
from flask import Blueprint, current_app

from retreat.core.shared_state import redis_client
from retreat.extensions import db, limiter

health_bp = Blueprint("health", __name__)
logger = logging.getLogger("retreat.health")

_heads: dict[str, frozenset[str]] = {}
_heads_lock = threading.Lock()


@health_bp.get("/healthz")
def healthz():
    """Liveness for load balancers; touches nothing, so benchmarks also use it as the bare endpoint."""
    return {"status": "ok"}


def migration_heads() -> frozenset[str]:
    """The head revision(s) of the migrations this code ships, read once per process."""
    from alembic.config import Config as AlembicConfig
    from alembic.script import ScriptDirectory

    directory = current_app.extensions["migrate"].directory
    with _heads_lock:
        if directory not in _heads:
            config = AlembicConfig()
            config.set_main_option("script_location", directory)
            _heads[directory] = frozenset(ScriptDirectory.from_config(config).get_heads())
        return _heads[directory]


def _check_database() -> dict[str, str]:
    try:
        with db.engine.connect() as connection:
            connection.execute(sa.text("SELECT 1"))
            try:
                current = frozenset(connection.scalars(sa.text("SELECT version_num FROM alembic_version")))
            except sa.exc.DBAPIError:
                current = frozenset()
    except Exception:  # noqa: BLE001  (any failure to reach it: the host is not ready)
        logger.warning("readyz: the database cannot be reached", exc_info=True)
        return {"database": "unreachable", "migrations": "unknown"}
    heads = migration_heads()
    if current == heads:
        return {"database": "ok", "migrations": "ok"}
    state = "not migrated" if not current else ("behind the code" if not current & heads else "not at head")
    return {"database": "ok", "migrations": f"{state}: run `flask db upgrade` once"}


def _check_redis() -> dict[str, str]:
    checks = {}
    client = redis_client()
    if client is not None:
        try:
            client.ping()
            checks["redis"] = "ok"
        except Exception:  # noqa: BLE001
            logger.warning("readyz: Redis (REDIS_URL) cannot be reached", exc_info=True)
            checks["redis"] = "unreachable"
    storage_uri = current_app.config.get("RATELIMIT_STORAGE_URI") or "memory://"
    if limiter.enabled and not storage_uri.startswith("memory://") and storage_uri != current_app.config.get(
            "REDIS_URL"):
        try:
            reachable = limiter.storage.check()
        except Exception:  # noqa: BLE001
            reachable = False
        checks["rate_limit_storage"] = "ok" if reachable else "unreachable"
    return checks


@health_bp.get("/readyz")
def readyz():
    """Ready to serve: the database answers and is at the migrations' head; Redis answers when configured."""
    checks = _check_database() | _check_redis()
    ready = all(value == "ok" for value in checks.values())
    response = {"status": "ready" if ready else "not ready", "checks": checks}
    return response, 200 if ready else 503, {"Cache-Control": "no-store"}
