"""Readiness checks of the backing services."""

from __future__ import annotations

import logging

from flask import current_app
from sqlalchemy import text
from sqlalchemy.exc import SQLAlchemyError

from leadapp.extensions import db, limiter
from leadapp.outbox.worker import own_worker_problem

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


def outbox_worker_ready() -> bool:
    """Whether this process's own outbox worker runs (True for a process that has none)."""
    problem = own_worker_problem(current_app._get_current_object())  # type: ignore[attr-defined]
    if problem is not None:
        log.warning("readiness: outbox worker not running (%s)", problem)
        return False
    return True


def failed_checks() -> list[str]:
    """Names of the backing services, and of this process's own worker, that do not answer."""
    failures = []
    if not database_ready():
        failures.append("database")
    if not rate_limit_storage_ready():
        failures.append("rate-limit storage")
    if not outbox_worker_ready():
        failures.append("outbox worker")
    return failures
