"""Consent texts: each distinct text a lead agreed to, stored once and never changed."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import DateTime, Integer, LargeBinary, Text
from sqlalchemy.orm import Mapped, mapped_column

from leadapp.extensions import db
from leadapp.timeutil import utcnow

TEXT_HASH_BYTES = 32


class ConsentText(db.Model):
    """One wording of the consent checkbox, referenced by every lead that agreed to it.

    The operator's text, not personal data, so it is stored in plaintext; the SHA-256
    of it is unique, so concurrent first uses of a new text store it once.
    """

    __tablename__ = "consent_texts"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    text_hash: Mapped[bytes] = mapped_column(LargeBinary(TEXT_HASH_BYTES), unique=True)
    text: Mapped[str] = mapped_column(Text)
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=utcnow)
