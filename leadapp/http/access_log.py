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
                "path": request.path,
                "status": response.status_code,
                "duration_ms": round((time.perf_counter() - started) * 1000, 2)
                if started
                else None,
                "client": current_keyring().pseudonym(client_ip()),
            }
        )
    )
    return response
