"""Spam counters: honeypot hits and refused challenges, one row per UTC day and kind."""

from __future__ import annotations

from datetime import date

from sqlalchemy import CheckConstraint, Date, Integer, String
from sqlalchemy.orm import Mapped, mapped_column

from leadapp.extensions import db

SPAM_KINDS = ("honeypot", "challenge")


class SpamCount(db.Model):
    """How many requests of one kind of spam were refused on one day.

    The (day, kind) primary key makes the increment an upsert the database serializes,
    so concurrent processes never lose a count.
    """

    __tablename__ = "spam_counts"

    day: Mapped[date] = mapped_column(Date, primary_key=True)
    kind: Mapped[str] = mapped_column(String(16), primary_key=True)
    count: Mapped[int] = mapped_column(Integer, default=0, server_default="0")

    __table_args__ = (CheckConstraint("kind IN ('honeypot', 'challenge')", name="kind"),)
