"""State every app host shares through Redis (REDIS_URL): a client, and the version of the cached read models.

Several identical hosts behind a load balancer keep their own per-process caches (core/read_cache.py); when one
host changes the catalog or the prices it bumps a counter in Redis after its commit, and every process looks at the
counter at most once per CATALOG_VERSION_CHECK_SECONDS, forgetting its cached read models when it moved. Redis being
down never fails a request: the check is skipped (the cache's own expiry still bounds how stale it gets) and a
warning is logged at most once a minute.
"""

import logging
import threading
import time

from flask import Flask, current_app

logger = logging.getLogger("retreat.shared_state")

VERSION_KEY = "retreat:read_cache:version"
TIMEOUT_SECONDS = 0.5  # a Redis that does not answer within this is treated as down for this request
WARN_EVERY_SECONDS = 60


def make_client(url: str):
    """A Redis client with short timeouts (a request never waits long for it)."""
    import redis

    return redis.Redis.from_url(url, socket_timeout=TIMEOUT_SECONDS, socket_connect_timeout=TIMEOUT_SECONDS,
                                health_check_interval=30)


def init_app(app: Flask) -> None:
    url = app.config.get("REDIS_URL")
    app.extensions["redis"] = make_client(url) if url else None


def redis_client():
    """The app's Redis client, or None when REDIS_URL is not set (one host: nothing to share)."""
    return current_app.extensions.get("redis")


class SharedVersion:
    """A counter in Redis: `bump` after a change, `current` to see whether another host changed something."""

    def __init__(self, client, key: str = VERSION_KEY):
        self._client = client
        self._key = key
        self._lock = threading.Lock()
        self._warned_at = float("-inf")

    def current(self) -> int | None:
        """The counter (0 before any change), or None when Redis cannot be reached."""
        try:
            value = self._client.get(self._key)
        except Exception as error:  # noqa: BLE001  (any failure of Redis: fall back to the cache's expiry)
            self._warn("read", error)
            return None
        return int(value or 0)

    def bump(self) -> int | None:
        """Count one change; the new value, or None when Redis cannot be reached."""
        try:
            return int(self._client.incr(self._key))
        except Exception as error:  # noqa: BLE001
            self._warn("bump", error)
            return None

    def _warn(self, what: str, error: Exception) -> None:
        with self._lock:
            moment = time.monotonic()
            if moment - self._warned_at < WARN_EVERY_SECONDS:
                return
            self._warned_at = moment
        logger.warning("Redis unreachable (%s the cache version: %s); other hosts see changes only when their "
                       "cached catalog expires", what, type(error).__name__)
