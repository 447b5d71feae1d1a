"""Failed API-key authentications, counted per client IP on the rate-limit storage.

Past LEADAPP_RATELIMIT_AUTH_FAILURES, every request of that client that carries an
`Authorization` header (on an endpoint that takes a key) is 429 until the window ends,
so a key cannot be guessed faster than that, in one process or across many (Redis).
Anonymous requests are not affected. http/ratelimit.py stamps the Retry-After.
"""

from __future__ import annotations

import logging

from flask import Flask, current_app, g
from limits import RateLimitItem, parse_many

from leadapp.errors import Problem
from leadapp.extensions import limiter
from leadapp.http.client import client_ip_key

log = logging.getLogger(__name__)

NAMESPACE = "auth-failures"
LIMITS_EXTENSION = "leadapp.auth_failure_limits"


class TooManyAuthFailures(Problem):
    """This client failed to authenticate too often; it must wait for the window to end."""

    status = 429
    title = "Too Many Requests"
    slug = "too-many-authentication-failures"


def init_auth_failure_limits(app: Flask) -> None:
    """Parse this app's failure limits once (the factory calls this)."""
    app.extensions[LIMITS_EXTENSION] = parse_many(app.config["LEADAPP_RATELIMIT_AUTH_FAILURES"])


def _limits() -> list[RateLimitItem]:
    """The configured failure limits."""
    return current_app.extensions[LIMITS_EXTENSION]


def refuse_locked_out_clients() -> None:
    """429 when this client's failures have reached the limit; the reset goes into g."""
    key = client_ip_key()
    try:
        strategy = limiter.limiter
        for item in _limits():
            if not strategy.test(item, NAMESPACE, key):
                reset_at, _remaining = strategy.get_window_stats(item, NAMESPACE, key)
                g.auth_failures_reset_at = int(reset_at) + 1
                raise TooManyAuthFailures(
                    "Too many failed authentications from your address: the limit is "
                    f"{item}. Wait before sending a key again."
                )
    except TooManyAuthFailures:
        raise
    except Exception as error:
        # The storage's outage policy is Flask-Limiter's (fallback to memory); a failure
        # here must not turn authentication into a 500.
        log.warning("auth-failure limit skipped: %s", type(error).__name__)


def record_failure() -> None:
    """Count one failed authentication for this client."""
    key = client_ip_key()
    try:
        strategy = limiter.limiter
        for item in _limits():
            strategy.hit(item, NAMESPACE, key)
    except Exception as error:
        log.warning("auth-failure not counted: %s", type(error).__name__)


def lockout_reset_at() -> int | None:
    """When this request's auth-failure lockout ends (Unix time), or None if not locked out."""
    return g.get("auth_failures_reset_at")
