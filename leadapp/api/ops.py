"""Operations endpoints: liveness and readiness."""

from __future__ import annotations

from flask import Blueprint

from leadapp.errors import ServiceUnavailable
from leadapp.services import health

bp = Blueprint("ops", __name__)


@bp.get("/healthz")
def healthz():
    """Liveness: 200 while the process serves."""
    return {"status": "ok"}


@bp.get("/readyz")
def readyz():
    """Readiness: 200 when the database (and Redis, when configured) answers."""
    failures = health.failed_checks()
    if failures:
        raise ServiceUnavailable("Not ready: " + ", ".join(failures) + " unavailable.")
    return {"status": "ok", "checks": {"database": "ok", "rate_limit_storage": "ok"}}
