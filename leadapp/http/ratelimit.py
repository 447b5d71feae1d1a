"""Pipeline step 5: Flask-Limiter counts the request; this module owns the headers that say when.

Flask-Limiter's own header injection is off (see config.py): it would stamp Retry-After on
every limited response, successes included. Here `X-RateLimit-*` go on every counted
response, and `Retry-After` is decided once, from everything known: on a 429 the breached
window's reset (the request limit's, or the auth-failure lockout's from
http/auth_failures.py); on a 503 the outage's few seconds, or the window's reset when the
client has no requests left (retrying sooner would only be refused).
"""

from __future__ import annotations

import logging
import threading
import time

from flask import Flask, Response, current_app
from limits.storage import Storage

from leadapp.errors import RETRY_AFTER_UNAVAILABLE
from leadapp.extensions import RATE_LIMIT_KEY_EXTENSION, limiter
from leadapp.http import auth_failures, memory_storage
from leadapp.http.client import rate_limit_key

log = logging.getLogger(__name__)

RESET_TIMES_EXTENSION = "leadapp.ratelimit_resets"


def bind_limiter(app: Flask) -> None:
    """Bind Flask-Limiter with the pipeline's key function; the views declare the limits.

    Flask-Limiter also installs a before-request check for application-wide and default
    limits. LeadApp has none (every limit is declared on its view with `limiter.limit`),
    so that hook would only evaluate nothing on every request: it is taken out again.
    """
    if app.config["RATELIMIT_STORAGE_URI"] == "memory://":
        # The same counters, without limits' thread per 10 ms: http/memory_storage.py.
        app.config["RATELIMIT_STORAGE_URI"] = memory_storage.URI
    app.extensions[RATE_LIMIT_KEY_EXTENSION] = rate_limit_key
    limiter.init_app(app)
    hooks = app.before_request_funcs.setdefault(None, [])
    hooks[:] = [hook for hook in hooks if hook != limiter._check_request_limit]


class ResetTimes:
    """When each fixed window ends, asked of the storage once per window, not per request.

    A fixed window's expiry is set when its first hit opens it and never moves, so the
    storage's answer holds until that time passes. On Redis this saves one of the two
    round trips the headers would otherwise cost (the count is still read fresh).
    """

    CAPACITY = 10_000

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._times: dict[tuple[int, str], float] = {}

    def reset_at(self, storage: Storage, key: str) -> float:
        """The Unix time at which `key`'s window ends."""
        slot = (id(storage), key)
        known = self._times.get(slot)
        if known is not None and known > time.time():
            return known
        reset = storage.get_expiry(key)
        with self._lock:
            if len(self._times) >= self.CAPACITY:
                self._times.clear()
            self._times[slot] = reset
        return reset


def init_reset_times(app: Flask) -> None:
    """Create this app's memo of window ends (the factory calls this)."""
    app.extensions[RESET_TIMES_EXTENSION] = ResetTimes()


def _reset_times() -> ResetTimes:
    """The app's memo of window ends."""
    return current_app.extensions[RESET_TIMES_EXTENSION]


def _window_wait(response: Response) -> int | None:
    """Stamp X-RateLimit-*; return the seconds to the window's reset when none are left."""
    current = limiter.current_limit
    if current is None:
        return None
    try:
        storage = limiter.limiter.storage  # the fallback's, during an outage
        remaining = max(0, current.limit.amount - storage.get(current.key))
        reset_at = int(_reset_times().reset_at(storage, current.key) + 1)
    except Exception as error:
        log.warning("rate-limit headers skipped: %s", type(error).__name__)
        return None
    response.headers["X-RateLimit-Limit"] = str(current.limit.amount)
    response.headers["X-RateLimit-Remaining"] = str(remaining)
    response.headers["X-RateLimit-Reset"] = str(reset_at)
    if remaining > 0 and response.status_code != 429:
        return None
    return max(1, int(reset_at - time.time()))


def stamp_rate_limit_headers(response: Response) -> Response:
    """X-RateLimit-Limit/Remaining/Reset for a counted request; Retry-After on a 429 or 503."""
    lockout_reset_at = auth_failures.lockout_reset_at()
    if lockout_reset_at is not None and response.status_code == 429:
        response.headers["Retry-After"] = str(max(1, int(lockout_reset_at - time.time())))
        return response
    window_wait = _window_wait(response)
    if response.status_code == 429 and window_wait is not None:
        response.headers["Retry-After"] = str(window_wait)
    elif response.status_code == 503:
        outage_wait = int(RETRY_AFTER_UNAVAILABLE)
        response.headers["Retry-After"] = str(max(outage_wait, window_wait or 0))
    return response
