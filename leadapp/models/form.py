"""The Form model: a named entry point for leads, its settable document stored as JSON text.

A form is not personal data, so its document is stored as it is. A removed form keeps its
row (`removed_at` set): its leads keep naming it, and a later PUT of the slug creates it anew.
"""

from __future__ import annotations

import re
from datetime import datetime

from sqlalchemy import DateTime, String, Text
from sqlalchemy.orm import Mapped, mapped_column

from leadapp.extensions import db
from leadapp.timeutil import utcnow

SLUG_MAX_CHARS = 40
# The pattern of every slug (contract: Forms); the query arguments naming a form check it too.
SLUG = re.compile(r"[a-z0-9]([a-z0-9-]{0,38}[a-z0-9])?", re.ASCII)
DEFAULT_FORM = "default"


class Form(db.Model):
    """One form: its slug, its document (the settable members, JSON text) and its times."""

    __tablename__ = "forms"

    slug: Mapped[str] = mapped_column(String(SLUG_MAX_CHARS), primary_key=True)
    document: Mapped[str] = mapped_column(Text)
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=utcnow)
    updated_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=utcnow)
    removed_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True), nullable=True)
