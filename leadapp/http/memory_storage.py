"""The embedded rate-limit storage: limits' MemoryStorage, swept every few seconds, not per 10 ms.

limits' MemoryStorage starts a `threading.Timer` of 10 ms after every hit when none is
running, and each one walks every key. Under load that is a new thread about every third
request, and with an hour-long window over many client addresses a walk over every one of
them a hundred times a second. Counters are checked for expiry when they are read anyway,
so the sweep only has to reclaim the memory of keys nobody asks about again: this subclass
does it at most once per SWEEP_SECONDS, inline in the request that crosses the deadline,
with no thread at all. `memory://` in LEADAPP_RATELIMIT_STORAGE_URI selects it (http/ratelimit.py).
"""

from __future__ import annotations

import threading
import time

from limits.storage import MemoryStorage

SCHEME = "leadapp+memory"
URI = f"{SCHEME}://"
SWEEP_SECONDS = 5.0


class SweptMemoryStorage(MemoryStorage):
    """MemoryStorage whose expired keys are swept at most every SWEEP_SECONDS, inline."""

    STORAGE_SCHEME = [SCHEME]

    def __init__(self, uri: str | None = None, wrap_exceptions: bool = False, **options: str):
        self._sweep_lock = threading.Lock()
        self._next_sweep = time.monotonic() + SWEEP_SECONDS
        super().__init__(uri, wrap_exceptions=wrap_exceptions, **options)

    # MemoryStorage calls this (name-mangled) before every hit; it is the one override.
    def _MemoryStorage__schedule_expiry(self) -> None:  # noqa: N802
        """Sweep expired keys when the sweep is due; never start a thread."""
        now = time.monotonic()
        if now < self._next_sweep:
            return
        with self._sweep_lock:
            if now < self._next_sweep:
                return
            self._next_sweep = now + SWEEP_SECONDS
        self._MemoryStorage__expire_events()  # type: ignore[attr-defined]
