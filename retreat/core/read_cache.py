"""A per-process cache of read models: the public catalog and the price lists, as live Python objects.

The values are immutable (frozen dataclasses, tuples, read-only mappings), so every request shares them
without copying or pickling. A change made in this process forgets them at once (`forget`). Other processes, on
this host or another, see it within CATALOG_VERSION_CHECK_SECONDS when REDIS_URL is set: `forget` also bumps a
version number in Redis (core/shared_state.py) and every process compares it with the one it last saw at most
that often, forgetting everything that may expire when it moved. Without Redis (or while it is down) they see it
within CATALOG_CACHE_SECONDS. Anything that must be exact (seats at booking time) reads the database under a lock
instead. CATALOG_CACHE_SECONDS = 0 turns the cache off.
"""

import threading
import time
from collections.abc import Callable, Hashable
from typing import TypeVar

from cachetools import TTLCache
from flask import Flask, current_app

from retreat.core.shared_state import SharedVersion

T = TypeVar("T")


class ReadCache:
    def __init__(self, seconds: float, maxsize: int = 512, *, shared: SharedVersion | None = None,
                 check_seconds: float = 0.5):
        self.enabled = seconds > 0
        self._lock = threading.Lock()
        # time.time, not a monotonic clock, so tests can move it with time-machine.
        self._expiring: TTLCache = TTLCache(maxsize=maxsize, ttl=max(seconds, 1), timer=time.time)
        self._permanent: dict = {}
        self._shared = shared if self.enabled else None
        self._check_seconds = check_seconds
        self._next_check = float("-inf")
        self._seen_version: int | None = None
        # Moves whenever values are forgotten: a value made from reads that started before is not kept.
        self._generation = 0

    def _follow_other_hosts(self) -> None:
        """At most once per check_seconds: forget what may expire if another process changed the version."""
        if self._shared is None:
            return
        moment = time.monotonic()
        with self._lock:
            if moment < self._next_check:
                return
            self._next_check = moment + self._check_seconds
        version = self._shared.current()
        if version is None:
            return  # Redis down: the expiry bounds staleness
        with self._lock:
            if version != self._seen_version:
                self._seen_version = version
                self._expiring.clear()
                self._generation += 1

    def get(self, key: Hashable, make: Callable[[], T], *, permanent: bool = False) -> T:
        """The cached value of `key`, made (outside the lock) and kept when missing. `permanent` values
        never expire: use it only for data that never changes, such as a price list version."""
        if not self.enabled:
            return make()
        if not permanent:
            self._follow_other_hosts()
        store = self._permanent if permanent else self._expiring
        with self._lock:
            if key in store:
                return store[key]
            generation = self._generation
        value = make()
        with self._lock:
            if permanent or generation == self._generation:
                store[key] = value
        return value

    def derived(self, key: Hashable, source: object, make: Callable[[], T]) -> T:
        """A value made from `source` (a cached object), kept while `source` is the same object: when the
        source is forgotten and loaded anew, the value is made anew too."""
        if not self.enabled:
            return make()
        with self._lock:
            hit = self._expiring.get(key)
        if hit is not None and hit[0] is source:
            return hit[1]
        value = make()
        with self._lock:
            self._expiring[key] = (source, value)
        return value

    def forget(self, *keys: Hashable) -> None:
        """Forget these keys here, and tell every other process (through the shared version) to forget its
        read models. Call it after the change committed."""
        with self._lock:
            for key in keys:
                self._expiring.pop(key, None)
                self._permanent.pop(key, None)
            self._generation += 1
        if self._shared is not None:
            self._shared.bump()


def init_app(app: Flask) -> None:
    client = app.extensions.get("redis")
    shared = SharedVersion(client) if client is not None else None
    app.extensions["read_cache"] = ReadCache(app.config["CATALOG_CACHE_SECONDS"], shared=shared,
                                             check_seconds=app.config["CATALOG_VERSION_CHECK_SECONDS"])


def read_cache() -> ReadCache:
    return current_app.extensions["read_cache"]
