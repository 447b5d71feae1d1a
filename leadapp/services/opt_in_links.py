"""Double opt-in's confirmation links: the token, the hash the lead keeps, the mail carrying it.

A token is 32 random bytes (URL-safe base64). The lead keeps only its SHA-256, under a unique
index; the token itself lives only in its confirmation mail's row, encrypted, until the mail
channel builds the link from LEADAPP_PUBLIC_URL. A plain hash, not a keyed one, is enough: a
256-bit random token cannot be guessed from its hash.

This module sits below services/opt_in.py (the confirmation itself) so that intake
(services/leads.py, services/arrival.py) can start an opt-in without importing the service
that releases a confirmed lead through arrival.py.
"""

from __future__ import annotations

import hashlib
import secrets
import uuid
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import Connection, bindparam, update

from leadapp.models.lead import Lead
from leadapp.models.mail import CONFIRMATION
from leadapp.outbox import queue as outbox
from leadapp.services.mail_queue import queue_mail
from leadapp.timeutil import as_utc

PENDING = "pending"
CONFIRMED = "confirmed"
TOKEN_BYTES = 32
# A duplicate of a pending lead sends at most one further confirmation mail in this time.
RESEND_INTERVAL = timedelta(hours=24)

_LEADS = Lead.__table__
# Conditional on the newest mail's age, so concurrent duplicates send one mail between them.
_RENEW = (
    update(_LEADS)
    .where(
        _LEADS.c.id == bindparam("lead_id"),
        _LEADS.c.opt_in_status == PENDING,
        _LEADS.c.opt_in_sent_at <= bindparam("due_before"),
    )
    .values(opt_in_token_hash=bindparam("new_hash"), opt_in_sent_at=bindparam("now"))
    .returning(_LEADS.c.id, _LEADS.c.form, _LEADS.c.email)
)


@dataclass(frozen=True)
class Link:
    """A new confirmation link: the token for the mail, its hash for the lead's row."""

    token: str
    token_hash: bytes


def token_hash(token: str) -> bytes:
    """The SHA-256 of a token, as the lead's `opt_in_token_hash` holds it."""
    return hashlib.sha256(token.encode("utf-8")).digest()


def new_link() -> Link:
    """A fresh token of 32 random bytes and its hash."""
    token = secrets.token_urlsafe(TOKEN_BYTES)
    return Link(token, token_hash(token))


def pending_columns(link: Link, now: datetime) -> dict[str, Any]:
    """The opt-in columns of a new lead of a double opt-in form, for its INSERT row."""
    return {
        "opt_in_status": PENDING,
        "opt_in_confirmed_at": None,
        "opt_in_token_hash": link.token_hash,
        "opt_in_sent_at": now,
    }


def queue_link(connection: Connection, row: Mapping[str, Any], link: Link) -> None:
    """Queue the confirmation mail of `link` to the lead's own email (row: id, form, email)."""
    queue_mail(connection, CONFIRMATION, row["form"], row["id"], row["email"], token=link.token)


def resend_due(sent_at: datetime | None, now: datetime) -> bool:
    """Whether a pending lead whose newest mail was queued at `sent_at` may get another."""
    return sent_at is not None and as_utc(sent_at) <= now - RESEND_INTERVAL


def resend_link(connection: Connection, lead_id: uuid.UUID, now: datetime) -> bool:
    """Send a pending lead a new link replacing its earlier one, if its last is 24 h old.

    One conditional UPDATE: under concurrent duplicates only one finds the mail due, and
    the earlier token's hash is gone with it (its link is unknown from then on); an
    earlier confirmation mail not sent yet is cancelled.
    """
    link = new_link()
    row = connection.execute(
        _RENEW,
        {
            "lead_id": lead_id,
            "due_before": now - RESEND_INTERVAL,
            "new_hash": link.token_hash,
            "now": now,
        },
    ).first()
    if row is None:
        return False
    # A pending lead has nothing queued but its confirmation mails: the unsent ones hold the
    # replaced link, so they go.
    outbox.cancel_for_leads(connection, [lead_id])
    queue_link(connection, row._mapping, link)
    return True
