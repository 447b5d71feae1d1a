"""Double opt-in in tests: the mail settings a double opt-in form needs, and the queued links."""

from __future__ import annotations

import uuid
from typing import Any

from flask import Flask
from sqlalchemy import select

from leadapp.extensions import db
from leadapp.models.mail import CONFIRMATION, Mail

# A form may have double_opt_in only with mail configured. The SMTP URL points at a closed
# loopback port: nothing here sends mail, the confirmation mails just stay queued.
MAIL_SETTINGS = {
    "LEADAPP_SMTP_URL": "smtp://127.0.0.1:9",
    "LEADAPP_MAIL_FROM": "leads@example.org",
    "LEADAPP_PUBLIC_URL": "https://leads.example.org",
}
DOI_FORM: dict[str, Any] = {"title": "Newsletter", "double_opt_in": True}


def confirmation_tokens(app: Flask, lead_id: str) -> list[str]:
    """The tokens of the lead's queued confirmation mails, oldest first, decrypted."""
    mails = Mail.__table__
    with app.app_context(), db.engine.connect() as connection:
        return list(
            connection.execute(
                select(mails.c.token)
                .where(mails.c.lead_id == uuid.UUID(lead_id), mails.c.kind == CONFIRMATION)
                .order_by(mails.c.created_at)
            ).scalars()
        )


def confirmation_mails(app: Flask) -> list[dict[str, Any]]:
    """Every queued confirmation mail row (recipient and token decrypted), oldest first."""
    mails = Mail.__table__
    with app.app_context(), db.engine.connect() as connection:
        rows = connection.execute(
            select(mails).where(mails.c.kind == CONFIRMATION).order_by(mails.c.created_at)
        ).all()
    return [row._asdict() for row in rows]
