"""The mail tables: one row per mail (its kind, recipient and link token, encrypted), and counts.

The outbox row of a mail (channel `mail`) names this row as its `target_id`; the channel
builds the message from this row and the lead's own row when a worker claims it, so the
queue holds no mail content in plaintext. A notification sent at once has no row here (its
outbox row names its form's `notify` address by a keyed id): only held notifications,
digests, autoresponses and confirmations do.
"""

from __future__ import annotations

import uuid
from datetime import datetime

from sqlalchemy import DateTime, Index, Integer, LargeBinary, String, Text, Uuid, text
from sqlalchemy.orm import Mapped, mapped_column

from leadapp.extensions import db
from leadapp.models.form import SLUG_MAX_CHARS
from leadapp.models.lead import BLIND_INDEX_BYTES, EMAIL_MAX_BYTES
from leadapp.models.types import EncryptedString
from leadapp.timeutil import utcnow

NOTIFICATION = "notification"
DIGEST = "digest"
AUTORESPONSE = "autoresponse"
CONFIRMATION = "confirmation"
KINDS = (NOTIFICATION, DIGEST, AUTORESPONSE, CONFIRMATION)
KIND_MAX_CHARS = 16
# A confirmation token: 32 random bytes, URL-safe base64 (43 characters).
TOKEN_MAX_BYTES = 64


class Mail(db.Model):
    """One mail to one recipient, as queued: what to build, never the built message."""

    __tablename__ = "mails"

    id: Mapped[uuid.UUID] = mapped_column(Uuid, primary_key=True, default=uuid.uuid4)
    kind: Mapped[str] = mapped_column(String(KIND_MAX_CHARS))
    form: Mapped[str] = mapped_column(String(SLUG_MAX_CHARS))
    # The lead the mail is about (a digest: its own id, so no erasure cancels it); no foreign
    # key, as the lead may be erased while its row here waits for cancellation.
    lead_id: Mapped[uuid.UUID | None] = mapped_column(Uuid, nullable=True)
    # A digest's leads: their ids, comma-separated (ids are not personal data).
    lead_ids: Mapped[str | None] = mapped_column(Text, nullable=True)
    recipient: Mapped[str] = mapped_column(EncryptedString(EMAIL_MAX_BYTES))
    # HMAC of the normalized recipient: caps are counted by it, never by the address.
    recipient_bidx: Mapped[bytes] = mapped_column(LargeBinary(BLIND_INDEX_BYTES))
    # A confirmation mail's link token, encrypted; the lead keeps only its hash.
    token: Mapped[str | None] = mapped_column(EncryptedString(TOKEN_MAX_BYTES), nullable=True)
    # A notification held past the hourly cap: the start of its hour, until a digest takes it.
    held_hour: Mapped[datetime | None] = mapped_column(DateTime(timezone=True), nullable=True)
    digest_id: Mapped[uuid.UUID | None] = mapped_column(Uuid, nullable=True)
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=utcnow)

    __table_args__ = (
        Index("ix_mails_lead_id", "lead_id"),
        Index("ix_mails_recipient_bidx_kind_created_at", "recipient_bidx", "kind", "created_at"),
        # Only held notifications wait for a digest: the other rows stay out of this index.
        Index(
            "ix_mails_held_hour",
            "held_hour",
            postgresql_where=text("held_hour IS NOT NULL"),
            sqlite_where=text("held_hour IS NOT NULL"),
        ),
    )


class MailCount(db.Model):
    """How many mails of a kind one address got in one window (an hour, a day): the caps.

    Incremented with one INSERT … ON CONFLICT DO UPDATE … RETURNING, so concurrent leads
    never push an address past its cap.
    """

    __tablename__ = "mail_counts"

    recipient_bidx: Mapped[bytes] = mapped_column(LargeBinary(BLIND_INDEX_BYTES), primary_key=True)
    kind: Mapped[str] = mapped_column(String(KIND_MAX_CHARS), primary_key=True)
    window_start: Mapped[datetime] = mapped_column(DateTime(timezone=True), primary_key=True)
    count: Mapped[int] = mapped_column(Integer, default=0)
