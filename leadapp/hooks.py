"""Per-request plumbing: request ids, the access log line and security headers."""

from __future__ import annotations

import json
import logging
import re
import time
import uuid

from flask import Flask, Response, g, request

from leadapp.clientip import client_ip
from leadapp.crypto import current_keyring
from leadapp.errors import RETRY_AFTER_UNAVAILABLE

access_log = logging.getLogger("leadapp.access")

# A caller's own request id is echoed only when it is short and plain, so it can't
# inject into headers or log lines.
SANE_REQUEST_ID = re.compile(r"[A-Za-z0-9._:-]{1,128}")

CONTENT_SECURITY_POLICY = (
    "default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self' data:; "
    "connect-src 'self'; form-action 'self'; base-uri 'none'; object-src 'none'; "
    "frame-ancestors 'none'"
)
SECURITY_HEADERS = {
    "Content-Security-Policy": CONTENT_SECURITY_POLICY,
    "X-Content-Type-Options": "nosniff",
    "X-Frame-Options": "DENY",
    "Referrer-Policy": "no-referrer",
    "Cross-Origin-Opener-Policy": "same-origin",
}


def _start_request() -> None:
    """Assign the request id and start the clock."""
    g.started = time.perf_counter()
    offered = request.headers.get("X-Request-ID", "")
    g.request_id = offered if SANE_REQUEST_ID.fullmatch(offered) else uuid.uuid4().hex


def _finish_response(response: Response) -> Response:
    """Stamp the request id and security headers on every response."""
    response.headers["X-Request-ID"] = g.get("request_id", "-")
    if response.status_code == 503 and response.headers.get("X-RateLimit-Remaining") != "0":
        # Flask-Limiter raises any Retry-After to its window's reset (up to an hour); a
        # client with requests left should retry when the outage may be over.
        response.headers["Retry-After"] = RETRY_AFTER_UNAVAILABLE
    elif response.status_code not in (429, 503):
        # Flask-Limiter stamps Retry-After on every limited response; it only means
        # something on a refusal.
        response.headers.pop("Retry-After", None)
    for name, value in SECURITY_HEADERS.items():
        response.headers.setdefault(name, value)
    if not request.path.startswith("/static/") and request.endpoint != "web.static":
        response.headers.setdefault("Cache-Control", "no-store")
    _log_access(response)
    return response


def _log_access(response: Response) -> None:
    """One structured line per request, with no personal data in it."""
    if not access_log.isEnabledFor(logging.INFO):
        return
    started = g.get("started")
    access_log.info(
        json.dumps(
            {
                "request_id": g.get("request_id", "-"),
                "method": request.method,
                "path": request.path,
                "status": response.status_code,
                "duration_ms": round((time.perf_counter() - started) * 1000, 2)
                if started
                else None,
                "client": current_keyring().pseudonym(client_ip()),
            }
        )
    )


def register_request_hooks(app: Flask) -> None:
    """Install the hooks; they run before Flask-Limiter's, which is bound later."""
    app.before_request(_start_request)
    app.after_request(_finish_response)
