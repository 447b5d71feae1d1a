"""Pipeline, on the way out: one structured access-log line per request, with no personal data."""

from __future__ import annotations

import json
import logging
import time

from flask import Response, g, request

from leadapp.crypto import current_keyring
from leadapp.http.client import client_ip
from leadapp.http.request_id import current_request_id

access_log = logging.getLogger("leadapp.access")


# Routes whose path holds a secret (a double opt-in link's token): logged as their rule.
SECRET_PATH_ARGUMENTS = frozenset({"token"})


def _logged_path() -> str:
    """The request's path, with a secret path argument replaced by its name (`<token>`)."""
    if request.url_rule is not None and SECRET_PATH_ARGUMENTS & set(request.view_args or {}):
        return request.url_rule.rule
    return request.path


def log_access(response: Response) -> Response:
    """Log method, path, status, duration and a pseudonym of the client address."""
    if not access_log.isEnabledFor(logging.INFO):
        return response
    started = g.get("started")
    access_log.info(
        json.dumps(
            {
                "request_id": current_request_id(),
                "method": request.method,
                "path": _logged_path(),
                "status": response.status_code,
                "duration_ms": round((time.perf_counter() - started) * 1000, 2)
                if started
                else None,
                "client": current_keyring().pseudonym(client_ip()),
            }
        )
    )
    return response
