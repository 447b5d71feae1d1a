"""Data for the operator tests (export, stats, retention): leads at chosen times, spam counts."""

from __future__ import annotations

import uuid
from datetime import date, datetime
from typing import Any

from flask import Flask
from sqlalchemy import insert, select, update

from leadapp.extensions import db
from leadapp.models import AuditEvent, Lead, SpamCount
from tests.support.client import store_lead


def set_lead(app: Flask, lead_id: str, **values: Any) -> None:
    """Change stored columns of a lead that POST /leads does not set here (time, source)."""
    table = Lead.__table__
    with app.app_context(), db.engine.begin() as connection:
        connection.execute(update(table).where(table.c.id == uuid.UUID(lead_id)).values(**values))


def add_lead_at(app: Flask, key: str, n: int, created_at: datetime, **values: Any) -> str:
    """Create lead n, then move it to `created_at` (and set other columns); return its id."""
    lead_id = store_lead(app, key, n)["id"]
    set_lead(app, lead_id, created_at=created_at, **values)
    return lead_id


def add_spam(app: Flask, day: date, kind: str, count: int) -> None:
    """Store a spam count for a day, as the intake counts honeypot hits and challenges."""
    with app.app_context(), db.engine.begin() as connection:
        connection.execute(insert(SpamCount.__table__), {"day": day, "kind": kind, "count": count})


def audit_events(app: Flask, action: str) -> list[AuditEvent]:
    """Every audit event of one action, oldest first."""
    with app.app_context():
        return list(
            db.session.scalars(
                select(AuditEvent).where(AuditEvent.action == action).order_by(AuditEvent.id)
            )
        )
