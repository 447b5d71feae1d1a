"""Pipeline step 2: every request gets an id (the caller's, if sane) and a start time."""

from __future__ import annotations

import re
import time
import uuid

from flask import Response, g, request

# A caller's own request id is echoed only when it is short and plain, so it can't
# inject into headers or log lines.
SANE_REQUEST_ID = re.compile(r"[A-Za-z0-9._:-]{1,128}")
HEADER = "X-Request-ID"


def assign_request_id() -> None:
    """Adopt the caller's request id or make one, and start the clock."""
    g.started = time.perf_counter()
    offered = request.headers.get(HEADER, "")
    g.request_id = offered if SANE_REQUEST_ID.fullmatch(offered) else uuid.uuid4().hex


def current_request_id() -> str:
    """The id of the request being served, or '-' outside one."""
    return g.get("request_id", "-")


def stamp_request_id(response: Response) -> Response:
    """Echo the request id on the response."""
    response.headers[HEADER] = current_request_id()
    return response
