"""The Lead model: personal data encrypted, duplicates refused by unique blind indexes."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime

from sqlalchemy import DateTime, Index, LargeBinary, Uuid
from sqlalchemy.orm import Mapped, mapped_column

from leadapp.extensions import db
from leadapp.models.types import EncryptedString
from leadapp.normalize import IP_MAX_CHARS

# Longest plaintexts, in UTF-8 bytes, after validation: 100 characters of at most
# four bytes; an email of 254 characters (an internationalized one may be longer in
# bytes); E.164 is at most 16 characters; an IP address is ASCII.
NAME_MAX_BYTES = 400
EMAIL_MAX_BYTES = 1016
PHONE_MAX_BYTES = 16
IP_MAX_BYTES = IP_MAX_CHARS
BLIND_INDEX_BYTES = 32

# The one definition of a lead's fields: which are encrypted, which are returned, and
# which unique blind-index column protects each deduplicated field.
ENCRYPTED_FIELDS = ("name", "email", "phone", "ip_address")
LEAD_FIELDS = ("id", *ENCRYPTED_FIELDS, "created_at")
BLIND_INDEX_COLUMNS = {"email": "email_bidx", "phone": "phone_bidx", "ip_address": "ip_bidx"}


def utcnow() -> datetime:
    """The current time, timezone-aware in UTC."""
    return datetime.now(UTC)


class Lead(db.Model):
    """One person's contact details, as submitted once."""

    __tablename__ = "leads"

    id: Mapped[uuid.UUID] = mapped_column(Uuid, primary_key=True, default=uuid.uuid4)
    name: Mapped[str] = mapped_column(EncryptedString(NAME_MAX_BYTES))
    email: Mapped[str] = mapped_column(EncryptedString(EMAIL_MAX_BYTES))
    phone: Mapped[str] = mapped_column(EncryptedString(PHONE_MAX_BYTES))
    ip_address: Mapped[str | None] = mapped_column(EncryptedString(IP_MAX_BYTES), nullable=True)
    email_bidx: Mapped[bytes] = mapped_column(LargeBinary(BLIND_INDEX_BYTES), unique=True)
    phone_bidx: Mapped[bytes] = mapped_column(LargeBinary(BLIND_INDEX_BYTES), unique=True)
    ip_bidx: Mapped[bytes | None] = mapped_column(
        LargeBinary(BLIND_INDEX_BYTES), unique=True, nullable=True
    )
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=utcnow)

    __table_args__ = (
        # Keyset pagination walks (created_at, id) newest first.
        Index("ix_leads_created_at_id", "created_at", "id"),
    )
