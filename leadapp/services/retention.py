"""Retention: leads older than LEADAPP_RETENTION_DAYS are erased, as DELETE /leads/<id> does.

Run by every outbox worker (the server's own, and `flask webhooks worker`) at its start and
then hourly (the factory registers the job), and by `flask --app leadapp leads purge` (for
cron). Each batch of old leads is erased in one transaction with its audit event (`purge`,
with the count) and its `lead.erased` webhooks, through the same function as one erasure.
"""

from __future__ import annotations

import logging
from datetime import datetime, timedelta

from flask import Flask, current_app

from leadapp.models.lead import Lead
from leadapp.services.apikeys import ApiKeyIdentity
from leadapp.services.leads import erase_in_batches
from leadapp.timeutil import utcnow
from leadapp.wording import plural

log = logging.getLogger(__name__)

RETENTION_ACTOR = ApiKeyIdentity(id=0, name="retention")
PURGE_BATCH = 500


class RetentionNotConfigured(RuntimeError):
    """`leads purge` without LEADAPP_RETENTION_DAYS."""


def retention_days() -> float | None:
    """The configured retention in days, or None when unset."""
    value = current_app.config.get("LEADAPP_RETENTION_DAYS")
    return float(value) if value is not None else None


def cutoff(days: float, now: datetime | None = None) -> datetime:
    """Leads created before this instant are past retention."""
    return (now or utcnow()) - timedelta(days=days)


def purge_expired(now: datetime | None = None, *, batch_size: int = PURGE_BATCH) -> int:
    """Erase every lead older than the retention; return how many were erased."""
    days = retention_days()
    if days is None:
        raise RetentionNotConfigured(
            "LEADAPP_RETENTION_DAYS is not set: there is no retention period to purge by."
        )
    leads = Lead.__table__
    return erase_in_batches(
        leads.c.created_at < cutoff(days, now), RETENTION_ACTOR, "purge", batch_size=batch_size
    )


def purge_job(app: Flask) -> None:
    """The outbox worker's periodic job: purge when a retention is configured."""
    with app.app_context():
        if retention_days() is None:
            return
        erased = purge_expired()
        if erased:
            log.info(
                "retention: erased %s older than %s",
                plural(erased, "lead"),
                plural(retention_days(), "day"),
            )
