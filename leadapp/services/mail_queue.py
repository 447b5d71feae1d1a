"""Queue one mail: its row in `mails` and its outbox row, in the caller's transaction.

The recipient (and a confirmation link's token) are stored encrypted by their column types;
the message itself is built by the mail channel when a worker claims it.
"""

from __future__ import annotations

import uuid
from datetime import datetime

from sqlalchemy import Connection, insert

from leadapp.crypto import current_keyring
from leadapp.models.mail import Mail
from leadapp.normalize import email_match_key
from leadapp.outbox import queue as outbox
from leadapp.timeutil import utcnow

CHANNEL = "mail"
_MAILS = Mail.__table__
_INSERT = insert(_MAILS)


def mail_event(kind: str) -> str:
    """The outbox event of a mail of `kind` (`mail.notification`, …)."""
    return f"mail.{kind}"


def recipient_index(address: str) -> bytes:
    """The blind index caps are counted by: the same as a lead's `email_bidx` for the address."""
    return current_keyring().blind_index("email", email_match_key(address))


def queue_mail(
    connection: Connection,
    kind: str,
    form: str,
    lead_id: uuid.UUID,
    recipient: str,
    *,
    token: str | None = None,
    held_hour: datetime | None = None,
    lead_ids: str | None = None,
    mail_id: uuid.UUID | None = None,
) -> uuid.UUID:
    """Write one mail of `kind` to `recipient` about the lead; return its id (`mail_id` if given).

    A held notification (`held_hour` set) waits for its hour's digest and gets no outbox row.
    """
    mail_id = mail_id or uuid.uuid4()
    connection.execute(
        _INSERT,
        {
            "id": mail_id,
            "kind": kind,
            "form": form,
            "lead_id": lead_id,
            "lead_ids": lead_ids,
            "recipient": recipient,
            "recipient_bidx": recipient_index(recipient),
            "token": token,
            "held_hour": held_hour,
            "created_at": utcnow(),
        },
    )
    if held_hour is None:
        outbox.enqueue(connection, CHANNEL, mail_event(kind), lead_id, [mail_id])
    return mail_id
