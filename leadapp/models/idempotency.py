"""Idempotency keys: which lead a (scope, key) created, as MACs only, for 24 hours."""

from __future__ import annotations

import uuid
from datetime import datetime

from sqlalchemy import DateTime, ForeignKey, Integer, LargeBinary, Uuid
from sqlalchemy.orm import Mapped, mapped_column

from leadapp.extensions import db
from leadapp.models.lead import BLIND_INDEX_BYTES, utcnow


class IdempotencyKey(db.Model):
    """One remembered creation: the keyed MAC of the scoped key and of the normalized body.

    Neither the key nor the body is stored: a key may itself carry personal data. The
    unique key_hash lets the database decide between concurrent requests; the row goes
    with its lead (ON DELETE CASCADE), so erasure forgets the key.
    """

    __tablename__ = "idempotency_keys"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    key_hash: Mapped[bytes] = mapped_column(LargeBinary(BLIND_INDEX_BYTES), unique=True)
    body_hash: Mapped[bytes] = mapped_column(LargeBinary(BLIND_INDEX_BYTES))
    lead_id: Mapped[uuid.UUID] = mapped_column(
        Uuid, ForeignKey("leads.id", ondelete="CASCADE"), index=True
    )
    created_at: Mapped[datetime] = mapped_column(
        DateTime(timezone=True), default=utcnow, index=True
    )
