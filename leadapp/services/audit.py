"""The audit trail: who read or erased which leads, and when (never the data itself)."""

from __future__ import annotations

from collections.abc import Iterable
from uuid import UUID

from flask import g
from sqlalchemy import insert, select
from sqlalchemy.engine import Connection

from leadapp.extensions import db
from leadapp.models import AuditEvent
from leadapp.services.apikeys import ApiKeyIdentity
from leadapp.timeutil import utcnow


def record(
    connection: Connection,
    api_key: ApiKeyIdentity,
    action: str,
    lead_ids: Iterable[UUID],
    *,
    count: int | None = None,
) -> None:
    """Write one audit event inside the caller's transaction (`count`: leads covered)."""
    connection.execute(
        insert(AuditEvent.__table__),
        {
            "at": utcnow(),
            "api_key_id": api_key.id,
            "api_key_name": api_key.name,
            "action": action,
            "lead_ids": [str(lead_id) for lead_id in lead_ids],
            "request_id": g.get("request_id", "-"),
            "lead_count": count,
        },
    )


def recent_events(limit: int) -> list[AuditEvent]:
    """The newest events first."""
    return list(db.session.scalars(select(AuditEvent).order_by(AuditEvent.id.desc()).limit(limit)))
