"""The audit trail of personal-data reads and erasures (ids only, never the data)."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import JSON, DateTime, Index, Integer, String
from sqlalchemy.orm import Mapped, mapped_column

from leadapp.extensions import db
from leadapp.models.apikey import API_KEY_NAME_MAX
from leadapp.timeutil import utcnow


class AuditEvent(db.Model):
    """One admin action on leads: which key, when, what, on which lead ids."""

    __tablename__ = "audit_events"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=utcnow, index=True)
    api_key_id: Mapped[int] = mapped_column(Integer)
    api_key_name: Mapped[str] = mapped_column(String(API_KEY_NAME_MAX))
    action: Mapped[str] = mapped_column(String(16))
    lead_ids: Mapped[list[str]] = mapped_column(JSON)
    # How many leads an export or a purge covered (their ids would not fit in a row).
    lead_count: Mapped[int | None] = mapped_column(Integer, nullable=True)

    # The statistics' cache asks for the newest erasure (leadapp/services/stats.py).
    __table_args__ = (Index("ix_audit_events_action_id", "action", "id"),)
    request_id: Mapped[str] = mapped_column(String(128))
