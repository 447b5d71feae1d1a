"""The webhook channel's table: subscribed endpoints, their URL and secret encrypted."""

from __future__ import annotations

import uuid
from datetime import datetime

from sqlalchemy import DateTime, String, Text, Uuid
from sqlalchemy.orm import Mapped, mapped_column

from leadapp.extensions import db
from leadapp.models.types import EncryptedString
from leadapp.timeutil import utcnow

URL_MAX_CHARS = 2048
# "whsec_" + base64 of 32 random bytes is 50 ASCII characters.
SECRET_MAX_BYTES = 64
EVENTS_MAX_CHARS = 64


class WebhookEndpoint(db.Model):
    """A receiver subscribed to some events (of some forms); its URL and secret are encrypted."""

    __tablename__ = "webhook_endpoints"

    id: Mapped[uuid.UUID] = mapped_column(Uuid, primary_key=True, default=uuid.uuid4)
    # Encrypted too: receiver URLs often carry a token of their own (Slack, Zapier).
    url: Mapped[str] = mapped_column(EncryptedString(URL_MAX_CHARS))
    secret: Mapped[str] = mapped_column(EncryptedString(SECRET_MAX_BYTES))
    events: Mapped[str] = mapped_column(String(EVENTS_MAX_CHARS))
    # The slugs of the forms whose leads it gets, comma-separated; NULL: every form.
    forms: Mapped[str | None] = mapped_column(Text, nullable=True)
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=utcnow)
    # Kept (not deleted) so the delivery history still names its endpoint.
    removed_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True), nullable=True)
