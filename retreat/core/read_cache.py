"""A per-process cache of read models: the public catalog and the price lists, as live Python objects.

The values are immutable (frozen dataclasses, tuples, read-only mappings), so every request shares them
without copying or pickling. A change made in this process forgets them at once (`forget`); other worker
processes see it within CATALOG_CACHE_SECONDS. Anything that must be exact (seats at booking time) reads the
database under a lock instead. CATALOG_CACHE_SECONDS = 0 turns the cache off.
"""

import threading
import time
from collections.abc import Callable, Hashable
from typing import TypeVar

from cachetools import TTLCache
from flask import Flask, current_app

T = TypeVar("T")


class ReadCache:
    def __init__(self, seconds: float, maxsize: int = 512):
        self.enabled = seconds > 0
        self._lock = threading.Lock()
        # time.time, not a monotonic clock, so tests can move it with time-machine.
        self._expiring: TTLCache = TTLCache(maxsize=maxsize, ttl=max(seconds, 1), timer=time.time)
        self._permanent: dict = {}

    def get(self, key: Hashable, make: Callable[[], T], *, permanent: bool = False) -> T:
        """The cached value of `key`, made (outside the lock) and kept when missing. `permanent` values
        never expire: use it only for data that never changes, such as a price list version."""
        if not self.enabled:
            return make()
        store = self._permanent if permanent else self._expiring
        with self._lock:
            if key in store:
                return store[key]
        value = make()
        with self._lock:
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
        with self._lock:
            for key in keys:
                self._expiring.pop(key, None)
                self._permanent.pop(key, None)


def init_app(app: Flask) -> None:
    app.extensions["read_cache"] = ReadCache(app.config["CATALOG_CACHE_SECONDS"])


def read_cache() -> ReadCache:
    return current_app.extensions["read_cache"]
