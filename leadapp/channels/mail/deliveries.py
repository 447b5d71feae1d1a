"""Mail deliveries as the operator sees them: listed with their state, retried by command."""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from typing import Any

from sqlalchemy import func

from leadapp.channels.mail.channel import NOTIFICATION_EVENT, notification_recipient
from leadapp.models.lead import Lead
from leadapp.models.mail import Mail
from leadapp.outbox import queue
from leadapp.outbox.queue import outbox
from leadapp.services.mail_queue import CHANNEL

mails = Mail.__table__
leads = Lead.__table__


class MailRetryError(ValueError):
    """A retry that cannot be done (no such mail, or not failed)."""


@dataclass(frozen=True)
class MailDelivery(queue.ListedState):
    """One mail's state; its recipient only when asked for (the command line), never content."""

    id: uuid.UUID
    kind: str
    form: str | None
    recipient: str | None
    lead_id: uuid.UUID


def list_deliveries(
    status: str | None = None, limit: int = 50, *, with_recipient: bool = False
) -> list[MailDelivery]:
    """The newest mails (optionally of one status), newest first.

    A mail of an erased lead has lost its `mails` row: it is listed without form or recipient.
    A notification sent at once never had one: its form is its lead's, and its recipient the
    form's `notify` address its outbox row names (none once the operator removed it).
    """
    rows = queue.list_newest(
        CHANNEL,
        [
            outbox.c.id,
            outbox.c.event,
            outbox.c.target_id,
            func.coalesce(mails.c.form, leads.c.form).label("form"),
            mails.c.recipient,
            outbox.c.lead_id,
        ],
        status,
        limit,
        outbox.outerjoin(mails, mails.c.id == outbox.c.target_id).outerjoin(
            leads, leads.c.id == outbox.c.lead_id
        ),
    )
    return [
        MailDelivery(
            id=row.id,
            kind=row.event.removeprefix("mail."),
            form=row.form,
            recipient=_recipient(row) if with_recipient else None,
            lead_id=row.lead_id,
            **queue.listed_state(row),
        )
        for row in rows
    ]


def _recipient(row: Any) -> str | None:
    """A listed mail's address: its `mails` row's, or a notification's from its form."""
    if row.recipient is not None or row.event != NOTIFICATION_EVENT:
        return row.recipient
    return notification_recipient(row.form, row.target_id)


def retry(delivery_id: uuid.UUID | None = None) -> int:
    """Put failed mails (one, or all) back in the queue with attempts reset; the count."""
    try:
        return queue.retry(CHANNEL, delivery_id)
    except queue.RetryRefused as error:
        raise MailRetryError(str(error).replace("Delivery", "Mail")) from None
