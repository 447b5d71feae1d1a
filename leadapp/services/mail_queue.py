"""Queue one mail in the caller's transaction: its outbox row, and its `mails` row if it needs one.

The recipient (and a confirmation link's token) are stored encrypted by their column types;
the message itself is built by the mail channel when a worker claims it. A notification sent
at once has no `mails` row: its recipient is one of its form's `notify` addresses (the
operator's, not the lead's), named in the outbox row by a keyed id (`notification_target`)
and looked up in the form when a worker claims it.
"""

from __future__ import annotations

import uuid
from collections.abc import Iterable
from datetime import datetime

from sqlalchemy import Connection, insert

from leadapp.crypto import current_keyring
from leadapp.models.mail import NOTIFICATION, Mail
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


def notification_target(recipient_bidx: bytes) -> uuid.UUID:
    """The outbox target of a notification to the address with this blind index.

    The index's first 16 bytes: keyed (the address is not guessable from it) and stable, so
    the channel and `mail deliveries` find the address again among the form's `notify`.
    """
    return uuid.UUID(bytes=recipient_bidx[:16])


def notify_recipient(notify: Iterable[str], target_id: uuid.UUID | None) -> str | None:
    """The address among a form's `notify` that `target_id` names; None if it is gone."""
    for address in notify:
        if notification_target(recipient_index(address)) == target_id:
            return address
    return None


def queue_notification(
    connection: Connection, lead_id: uuid.UUID, recipient_bidx: bytes
) -> uuid.UUID:
    """Queue a notification sent at once: its outbox row alone; return its target id."""
    target_id = notification_target(recipient_bidx)
    outbox.enqueue(connection, CHANNEL, mail_event(NOTIFICATION), lead_id, [target_id])
    return target_id


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
    recipient_bidx: bytes | None = None,
) -> uuid.UUID:
    """Write one mail of `kind` to `recipient` about the lead; return its id (`mail_id` if given).

    A held notification (`held_hour` set) waits for its hour's digest and gets no outbox row.
    `recipient_bidx`, when the caller has it already, spares computing it again.
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
            "recipient_bidx": recipient_bidx or recipient_index(recipient),
            "token": token,
            "held_hour": held_hour,
            "created_at": utcnow(),
        },
    )
    if held_hour is None:
        outbox.enqueue(connection, CHANNEL, mail_event(kind), lead_id, [mail_id])
    return mail_id
