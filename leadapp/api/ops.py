"""Operations endpoints: liveness, readiness and the OpenAPI document."""

from __future__ import annotations

from typing import Any

from flask import Blueprint, Flask, current_app

from leadapp.api.openapi import build_openapi
from leadapp.api.responses import responds
from leadapp.errors import ServiceUnavailable
from leadapp.services import health

OPENAPI_EXTENSION = "leadapp.api.openapi"

bp = Blueprint("ops", __name__)
API_VERSION = "1.0.0"


@bp.get("/healthz")
@responds(200)
def healthz():
    """Liveness: 200 while the process serves."""
    return {"status": "ok"}


@bp.get("/readyz")
@responds(200, 503)
def readyz():
    """Readiness: 200 when the database (and Redis, when configured) answers and this
    process's own outbox worker, when it has one, is running."""
    failures = health.failed_checks()
    if failures:
        raise ServiceUnavailable("Not ready: " + ", ".join(failures) + " unavailable.")
    return {"status": "ok", "checks": {"database": "ok", "rate_limit_storage": "ok"}}


@bp.get("/openapi.json")
@responds(200)
def openapi():
    """The OpenAPI 3 document of every endpoint (built once per app, at the first request)."""
    memo: dict[str, Any] = current_app.extensions[OPENAPI_EXTENSION]
    if "document" not in memo:
        memo["document"] = build_openapi(
            current_app._get_current_object(),  # type: ignore[attr-defined]
            API_VERSION,
        )
    return memo["document"]


def init_openapi_memo(app: Flask) -> None:
    """Create the app's memo of its OpenAPI document (filled by the first GET /openapi.json)."""
    app.extensions[OPENAPI_EXTENSION] = {}
