"""The request pipeline: every cross-cutting step a request passes, installed in one place.

`register_pipeline` is the whole order. Each step is one module with one concern, and
each response header has one owner (see ARCHITECTURE.md, "The request pipeline").
"""

from __future__ import annotations

from flask import Flask, Response

from leadapp.http.access_log import log_access
from leadapp.http.authentication import authenticate_request
from leadapp.http.blocklist_gate import refuse_blocked_clients
from leadapp.http.client import trust_proxies
from leadapp.http.cors import add_cors_headers
from leadapp.http.ratelimit import bind_limiter, stamp_rate_limit_headers
from leadapp.http.request_id import assign_request_id, stamp_request_id
from leadapp.http.security_headers import stamp_security_headers

# The way out, in order; the view's (or error handler's) response passes each step.
RESPONSE_STEPS = (
    stamp_request_id,  # X-Request-ID
    stamp_rate_limit_headers,  # X-RateLimit-*, and Retry-After (429, 503)
    add_cors_headers,  # Access-Control-*, Vary: Origin
    stamp_security_headers,  # CSP and friends, Cache-Control
    log_access,  # the access-log line, last, so it logs the final status
)


def finish_response(response: Response) -> Response:
    """Pass a response through every response step, in order."""
    for step in RESPONSE_STEPS:
        response = step(response)
    return response


def register_pipeline(app: Flask) -> None:
    """Install the pipeline; a request meets these steps in this order."""
    trust_proxies(app)  # 1. client address: X-Forwarded-For from trusted networks, N hops
    app.before_request(assign_request_id)  # 2. request id and clock
    app.before_request(refuse_blocked_clients)  # 3. blocklist: 403
    app.before_request(authenticate_request)  # 4. views that take a key: g.api_key, 401, 429
    bind_limiter(app)  # 5. Flask-Limiter: a view with a declared limit checks it first: 429
    # then the view (blueprints) or an error handler (errors.py), and on the way out:
    app.after_request(finish_response)  # 6. RESPONSE_STEPS, in their order
