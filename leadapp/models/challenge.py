"""Used proof-of-work solutions: each is accepted once, by every process, until it expires."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import DateTime, LargeBinary
from sqlalchemy.orm import Mapped, mapped_column

from leadapp.extensions import db

CHALLENGE_DIGEST_BYTES = 32


class UsedChallenge(db.Model):
    """One accepted challenge (its SHA-256 digest, which names one salt); kept until it expires.

    The primary key makes "first use wins" the database's decision, so two processes
    can't both accept one solution.
    """

    __tablename__ = "used_challenges"

    challenge: Mapped[bytes] = mapped_column(LargeBinary(CHALLENGE_DIGEST_BYTES), primary_key=True)
    expires_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), index=True)
