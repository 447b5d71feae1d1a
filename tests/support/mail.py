"""Mail in tests: a form that mails, the environment of processes that send to a test server."""

from __future__ import annotations

import json
import uuid
from pathlib import Path
from typing import Any

from sqlalchemy import create_engine, text

from tests.support.processes import flask_command
from tests.support.servers import leadapp_environment
from tests.support.smtp_server import SmtpServer

OWNER = "owner@example.org"
PUBLIC_URL = "https://leads.example.org"
AUTORESPONDER = {"subject": "Thanks, we got it", "body": "We will call you back.\nThe team"}
# Notifies OWNER and answers each lead; one lead per IP off, so one client can send many.
SPRING = {
    "title": "Spring <offer> & more",
    "notify": [OWNER],
    "autoresponder": AUTORESPONDER,
    "fields": [{"name": "company", "label": "Company", "type": "text"}],
    "one_lead_per_ip": False,
}


def mail_environment(
    tmp_path: Path, keys: dict[str, str], smtp: SmtpServer | None, **settings: str
) -> dict[str, str]:
    """A migrated SQLite file with the `spring` form; the env sends to `smtp` (None: unset)."""
    database = f"sqlite:///{tmp_path / 'mail.sqlite3'}"
    base = {
        "LEADAPP_RATELIMIT_LEADS": "1000 per minute",
        "LEADAPP_WEBHOOK_RETRY_SECONDS": "0.2",
        "LEADAPP_WEBHOOK_TIMEOUT": "5",
        "LEADAPP_PUBLIC_URL": PUBLIC_URL,
        **settings,
    }
    mail = (smtp or SmtpServer(tmp_path)).settings()
    with_smtp = leadapp_environment(keys, database, **{**base, **mail})
    flask_command(with_smtp, "db", "upgrade")
    flask_command(with_smtp, "forms", "put", "spring", "--file", "-", input=json.dumps(SPRING))
    return with_smtp if smtp else leadapp_environment(keys, database, **base)


def mail_rows(database_url: str) -> list[dict[str, Any]]:
    """Every mail's outbox row: id, event, lead id, status, attempts, last status and error."""
    engine = create_engine(database_url)
    try:
        with engine.connect() as connection:
            rows = connection.execute(
                text(
                    "SELECT id, event, lead_id, status, attempts, last_status, last_error "
                    "FROM outbox WHERE channel = 'mail' ORDER BY created_at"
                )
            ).all()
    finally:
        engine.dispose()
    # SQLite hands a raw query's UUIDs back as 32 hex digits: as text with hyphens here.
    return [
        {**row._mapping, "id": _uuid_text(row.id), "lead_id": _uuid_text(row.lead_id)}
        for row in rows
    ]


def held_notifications(database_url: str) -> list[str]:
    """The lead ids of the notifications held past the hourly cap (no digest yet)."""
    engine = create_engine(database_url)
    try:
        with engine.connect() as connection:
            rows = connection.execute(
                text("SELECT lead_id FROM mails WHERE held_hour IS NOT NULL AND digest_id IS NULL")
            ).scalars()
            return [_uuid_text(lead_id) for lead_id in rows]
    finally:
        engine.dispose()


def _uuid_text(value: object) -> str:
    """A UUID as text with hyphens, whichever form the database gave it in."""
    return str(uuid.UUID(str(value)))


def put_notify_form(env: dict[str, str], slug: str, address: str) -> None:
    """A form that only notifies `address` (put by the command line)."""
    document = {"notify": [address], "one_lead_per_ip": False}
    flask_command(env, "forms", "put", slug, "--file", "-", input=json.dumps(document))
