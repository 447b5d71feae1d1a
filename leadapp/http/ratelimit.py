"""Pipeline step 5: Flask-Limiter counts the request; this module owns its response headers.

Flask-Limiter's own header injection is off (see config.py): it would stamp Retry-After
on every limited response, even successes and 503s. Here `X-RateLimit-*` go on every
counted response and `Retry-After` only on a 429, from the breached window's reset: the
request limit's, or the auth-failure lockout's (http/auth_failures.py).
"""

from __future__ import annotations

import logging
import time

from flask import Flask, Response

from leadapp.extensions import limiter
from leadapp.http import auth_failures

log = logging.getLogger(__name__)


def bind_limiter(app: Flask) -> None:
    """Bind Flask-Limiter: its check runs here in the before-request order."""
    limiter.init_app(app)


def stamp_rate_limit_headers(response: Response) -> Response:
    """X-RateLimit-Limit/Remaining/Reset for a counted request; Retry-After on a 429."""
    lockout_reset_at = auth_failures.lockout_reset_at()
    if lockout_reset_at is not None and response.status_code == 429:
        response.headers["Retry-After"] = _seconds_until(lockout_reset_at)
        return response
    current = limiter.current_limit
    if current is None:
        return response
    try:
        reset_at = current.reset_at
        remaining = current.remaining
    except Exception as error:
        log.warning("rate-limit headers skipped: %s", type(error).__name__)
        return response
    response.headers["X-RateLimit-Limit"] = str(current.limit.amount)
    response.headers["X-RateLimit-Remaining"] = str(remaining)
    response.headers["X-RateLimit-Reset"] = str(reset_at)
    if response.status_code == 429:
        response.headers["Retry-After"] = _seconds_until(reset_at)
    return response


def _seconds_until(reset_at: float) -> str:
    """Retry-After's value: whole seconds until a window resets, at least 1."""
    return str(max(1, int(reset_at - time.time())))
