"""Readiness checks of the backing services."""

from __future__ import annotations

import logging

from sqlalchemy import text
from sqlalchemy.exc import SQLAlchemyError

from leadapp.extensions import db, limiter

log = logging.getLogger(__name__)


def database_ready() -> bool:
    """Whether the database answers a trivial query."""
    try:
        with db.engine.connect() as connection:
            connection.execute(text("SELECT 1"))
    except SQLAlchemyError as error:
        log.warning("readiness: database check failed (%s)", type(error).__name__)
        return False
    return True


def rate_limit_storage_ready() -> bool:
    """Whether the rate-limit storage (Redis in production) answers."""
    try:
        return bool(limiter.storage.check())
    except Exception as error:
        log.warning("readiness: rate-limit storage check failed (%s)", type(error).__name__)
        return False


def failed_checks() -> list[str]:
    """Names of the backing services that do not answer."""
    failures = []
    if not database_ready():
        failures.append("database")
    if not rate_limit_storage_ready():
        failures.append("rate-limit storage")
    return failures
