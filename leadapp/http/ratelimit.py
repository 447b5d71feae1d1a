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
import time

from flask import Flask, Response

from leadapp.errors import RETRY_AFTER_UNAVAILABLE
from leadapp.extensions import limiter
from leadapp.http import auth_failures

log = logging.getLogger(__name__)


def bind_limiter(app: Flask) -> None:
    """Bind Flask-Limiter; its limits are checked by the views that declare them.

    Flask-Limiter also installs a before-request check for application-wide and default
    limits. LeadApp has none (every limit is declared on its view with `limiter.limit`),
    so that hook would only evaluate nothing on every request: it is taken out again.
    """
    limiter.init_app(app)
    hooks = app.before_request_funcs.setdefault(None, [])
    hooks[:] = [hook for hook in hooks if hook != limiter._check_request_limit]


def _window_wait(response: Response) -> int | None:
    """Stamp X-RateLimit-*; return the seconds to the window's reset when none are left."""
    current = limiter.current_limit
    if current is None:
        return None
    try:
        reset_at, remaining = current.reset_at, current.remaining
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
