"""Webhook tables: subscribed endpoints and the outbox of deliveries (the queue itself)."""

from __future__ import annotations

import uuid
from datetime import datetime

from sqlalchemy import DateTime, ForeignKey, Index, Integer, String, Uuid
from sqlalchemy.orm import Mapped, mapped_column

from leadapp.extensions import db
from leadapp.models.types import EncryptedString
from leadapp.timeutil import utcnow

URL_MAX_CHARS = 2048
# "whsec_" + base64 of 32 random bytes is 50 ASCII characters.
SECRET_MAX_BYTES = 64
EVENTS_MAX_CHARS = 64
ERROR_MAX_CHARS = 200

PENDING = "pending"
DELIVERED = "delivered"
FAILED = "failed"
CANCELLED = "cancelled"
STATUSES = (PENDING, DELIVERED, FAILED, CANCELLED)


class WebhookEndpoint(db.Model):
    """A receiver subscribed to some events; its URL and signing secret are encrypted."""

    __tablename__ = "webhook_endpoints"

    id: Mapped[uuid.UUID] = mapped_column(Uuid, primary_key=True, default=uuid.uuid4)
    # Encrypted too: receiver URLs often carry a token of their own (Slack, Zapier).
    url: Mapped[str] = mapped_column(EncryptedString(URL_MAX_CHARS))
    secret: Mapped[str] = mapped_column(EncryptedString(SECRET_MAX_BYTES))
    events: Mapped[str] = mapped_column(String(EVENTS_MAX_CHARS))
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=utcnow)
    # Kept (not deleted) so the delivery history still names its endpoint.
    removed_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True), nullable=True)


class WebhookDelivery(db.Model):
    """One event for one endpoint: its state and its claim (lease), never a copy of the lead.

    The body is built by the worker at each claim, from the lead's own (encrypted) row.
    """

    __tablename__ = "webhook_deliveries"

    # Sent as `webhook-id`: the same on every attempt, so receivers can deduplicate.
    id: Mapped[uuid.UUID] = mapped_column(Uuid, primary_key=True, default=uuid.uuid4)
    endpoint_id: Mapped[uuid.UUID] = mapped_column(Uuid, ForeignKey("webhook_endpoints.id"))
    event: Mapped[str] = mapped_column(String(32))
    # No foreign key: the lead is deleted on erasure, its `lead.erased` delivery stays.
    lead_id: Mapped[uuid.UUID] = mapped_column(Uuid)
    status: Mapped[str] = mapped_column(String(16), default=PENDING)
    attempts: Mapped[int] = mapped_column(Integer, default=0)
    next_attempt_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True), nullable=True)
    claimed_by: Mapped[str | None] = mapped_column(String(64), nullable=True)
    claimed_until: Mapped[datetime | None] = mapped_column(DateTime(timezone=True), nullable=True)
    last_status: Mapped[int | None] = mapped_column(Integer, nullable=True)
    last_error: Mapped[str | None] = mapped_column(String(ERROR_MAX_CHARS), nullable=True)
    last_attempt_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True), nullable=True)
    delivered_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True), nullable=True)
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=utcnow)

    __table_args__ = (
        # The claim query: pending rows by due time.
        Index("ix_webhook_deliveries_status_next_attempt_at", "status", "next_attempt_at"),
        # Erasure finds a lead's deliveries; removal finds an endpoint's.
        Index("ix_webhook_deliveries_lead_id", "lead_id"),
        Index("ix_webhook_deliveries_endpoint_id", "endpoint_id"),
        Index("ix_webhook_deliveries_created_at", "created_at"),
    )
