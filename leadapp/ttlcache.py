"""A small thread-safe cache whose entries expire, for hot-path lookups of slow-changing data."""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable
from typing import Generic, TypeVar

log = logging.getLogger(__name__)

K = TypeVar("K")
V = TypeVar("V")


class TTLCache(Generic[K, V]):
    """Maps keys to values for `ttl` seconds, holding at most `maxsize` entries."""

    def __init__(self, ttl: float, maxsize: int = 1024) -> None:
        self.ttl = ttl
        self.maxsize = maxsize
        self._entries: dict[K, tuple[float, V]] = {}
        self._lock = threading.Lock()
        self._refreshing: set[K] = set()

    def put(self, key: K, value: V) -> None:
        """Hold `value` for `ttl` seconds; a full cache is emptied first."""
        with self._lock:
            if len(self._entries) >= self.maxsize and key not in self._entries:
                self._entries.clear()
            self._entries[key] = (time.monotonic() + self.ttl, value)

    def stale(self, key: K, default: V) -> V:
        """The last value held for `key` even if expired, kept for another period.

        For when reloading failed: serving the last known value beats failing, and
        re-arming it stops every request from retrying the failed load.
        """
        with self._lock:
            entry = self._entries.get(key)
            value = entry[1] if entry is not None else default
            self._entries[key] = (time.monotonic() + self.ttl, value)
        return value

    def discard(self, key: K) -> None:
        """Forget `key`."""
        with self._lock:
            self._entries.pop(key, None)

    def get_or_refresh(self, key: K, load: Callable[[], V | None]) -> V | None:
        """The cached value even if expired, reloading an expired one in the background.

        A value that expired less than one period ago is served while one thread reloads
        it, so a database that hangs costs that thread its timeout, not every request. A
        value older than that is not served at all: the caller loads it, as for a key never
        loaded, so a revoked key or a new block is never honoured later than two periods
        after the change, however long the key sat idle. A reload that returns None
        forgets the key; one that raises keeps the old value. With a ttl of 0 nothing is
        cached: every call loads.
        """
        entry = self._entries.get(key)
        now = time.monotonic()
        if entry is None or self.ttl <= 0 or now - entry[0] > self.ttl:
            value = load()
            if value is None:
                self.discard(key)
            else:
                self.put(key, value)
            return value
        expires, value = entry
        if expires <= now:
            self._refresh_in_background(key, load)
        return value

    def _refresh_in_background(self, key: K, load: Callable[[], V | None]) -> None:
        """Start one reload of `key` unless one is already running."""
        with self._lock:
            if key in self._refreshing:
                return
            self._refreshing.add(key)

        def refresh() -> None:
            try:
                value = load()
            except Exception as error:
                log.warning(
                    "cache refresh failed (%s); serving the last value", type(error).__name__
                )
            else:
                if value is None:
                    self.discard(key)
                else:
                    self.put(key, value)
            finally:
                with self._lock:
                    self._refreshing.discard(key)

        threading.Thread(target=refresh, name="leadapp-cache-refresh", daemon=True).start()
