"""API keys: only a SHA-256 hash of each key is stored, with its name and lifecycle."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import DateTime, Integer, LargeBinary, String
from sqlalchemy.orm import Mapped, mapped_column

from leadapp.extensions import db
from leadapp.timeutil import utcnow

API_KEY_NAME_MAX = 64


class ApiKey(db.Model):
    """A partner's or operator's credential for the integration and admin API."""

    __tablename__ = "api_keys"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    name: Mapped[str] = mapped_column(String(API_KEY_NAME_MAX), unique=True)
    key_hash: Mapped[bytes] = mapped_column(LargeBinary(32), unique=True)
    prefix: Mapped[str] = mapped_column(String(12))
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=utcnow)
    revoked_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True), nullable=True)
