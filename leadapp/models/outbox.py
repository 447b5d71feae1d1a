"""The outbox table: a row per message of one channel to one target; a pointer, never data."""

from __future__ import annotations

import uuid
from datetime import datetime

from sqlalchemy import DateTime, Index, Integer, String, Uuid
from sqlalchemy.orm import Mapped, mapped_column

from leadapp.extensions import db
from leadapp.timeutil import utcnow

CHANNEL_MAX_CHARS = 16
EVENT_MAX_CHARS = 32
ERROR_MAX_CHARS = 200

PENDING = "pending"
DELIVERED = "delivered"
FAILED = "failed"
CANCELLED = "cancelled"
STATUSES = (PENDING, DELIVERED, FAILED, CANCELLED)


class OutboxMessage(db.Model):
    """One event for one target of one channel: its state and its claim (lease).

    It names the event and the lead and holds nothing of the lead's data: the channel builds
    the message from the lead's own (encrypted) row each time a worker claims it.
    """

    __tablename__ = "outbox"

    # The message's identity on every attempt (webhooks send it as `webhook-id`).
    id: Mapped[uuid.UUID] = mapped_column(Uuid, primary_key=True, default=uuid.uuid4)
    channel: Mapped[str] = mapped_column(String(CHANNEL_MAX_CHARS))
    # The channel's own addressee (a webhook endpoint's id); no foreign key, as the outbox
    # knows no channel's tables. NULL where a channel has one addressee.
    target_id: Mapped[uuid.UUID | None] = mapped_column(Uuid, nullable=True)
    event: Mapped[str] = mapped_column(String(EVENT_MAX_CHARS))
    # No foreign key: the lead is deleted on erasure, its `lead.erased` message stays.
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
        Index("ix_outbox_status_next_attempt_at", "status", "next_attempt_at"),
        # Erasure finds a lead's messages; a channel finds a target's.
        Index("ix_outbox_lead_id", "lead_id"),
        Index("ix_outbox_channel_target_id", "channel", "target_id"),
        Index("ix_outbox_created_at", "created_at"),
    )
