"""Which mails a stored lead sets off: notifications under the hourly cap, the autoresponse.

Called in the transaction that stores the lead (or, for a double opt-in form, confirms it),
so a lead and its mails commit or roll back together. Caps are counted in `mail_counts` by
the recipient's blind index, never by the address.
"""

from __future__ import annotations

import uuid
from collections.abc import Callable, Collection, Mapping
from datetime import datetime, timedelta
from typing import Any

from flask import current_app
from sqlalchemy import Connection, Table, bindparam, delete, exists, select

from leadapp.models.mail import AUTORESPONSE, NOTIFICATION, Mail, MailCount
from leadapp.services.forms import Form, get_form
from leadapp.services.mail_queue import queue_mail, queue_notification, recipient_index
from leadapp.services.upsert import INSERTS
from leadapp.timeutil import as_utc, utcnow

AUTORESPONSE_WINDOW = timedelta(hours=24)
# The autoresponder's per-address lock row: window_start at the epoch, never a real window.
LOCK_WINDOW = datetime.fromisoformat("1970-01-01T00:00:00+00:00")

_COUNTS = MailCount.__table__
_MAILS = Mail.__table__


def hour_start(moment: datetime) -> datetime:
    """The start of the clock hour (UTC) `moment` falls in."""
    return as_utc(moment).replace(minute=0, second=0, microsecond=0)


def _count_statement(insert: Callable[[Table], Any]) -> Any:
    """INSERT a count of 1 or add 1 to it, RETURNING the count, in one dialect."""
    return (
        insert(_COUNTS)
        .values(
            recipient_bidx=bindparam("bidx"),
            kind=bindparam("kind"),
            window_start=bindparam("window_start"),
            count=1,
        )
        .on_conflict_do_update(
            index_elements=["recipient_bidx", "kind", "window_start"],
            set_={"count": _COUNTS.c.count + 1},
        )
        .returning(_COUNTS.c.count)
    )


# Built once per dialect: composing the statement on every stored lead costs more than running it.
_COUNT = {name: _count_statement(insert) for name, insert in INSERTS.items()}


def count_mail(connection: Connection, bidx: bytes, kind: str, window_start: datetime) -> int:
    """Add one to the address's count of `kind` in the window; the count after it.

    One INSERT … ON CONFLICT DO UPDATE … RETURNING: concurrent transactions each get their
    own number, and on PostgreSQL the row stays locked by the first until it commits.
    """
    statement = _COUNT[connection.dialect.name]
    params = {"bidx": bidx, "kind": kind, "window_start": window_start}
    return int(connection.execute(statement, params).scalar_one())


def autoresponse_allowed(connection: Connection, bidx: bytes, now: datetime) -> bool:
    """Whether the address may get an autoresponse now (none in the last 24 hours); if so, count it.

    The lock row, upserted first, serializes every transaction for this address until it
    commits, so of concurrent leads one sees no recent autoresponse and records its own.
    """
    count_mail(connection, bidx, AUTORESPONSE, LOCK_WINDOW)
    recent = connection.execute(
        select(
            exists().where(
                _COUNTS.c.recipient_bidx == bidx,
                _COUNTS.c.kind == AUTORESPONSE,
                _COUNTS.c.window_start > now - AUTORESPONSE_WINDOW,
            )
        )
    ).scalar()
    if recent:
        return False
    count_mail(connection, bidx, AUTORESPONSE, now)
    return True


def queue_lead_mails(connection: Connection, row: Mapping[str, Any]) -> int:
    """Queue the mails a new (or just confirmed) lead sets off; how many (held ones included).

    `row` is the lead's row with its plaintext `email`, its `id`, `form` and `created_at`.
    One notification per `notify` address of the form: an outbox row alone, or past
    LEADAPP_MAIL_NOTIFY_PER_HOUR for that address this clock hour, a `mails` row held for
    the hour's digest. One autoresponse to
    the lead's email, at most one per address per 24 hours.
    """
    form: Form | None = get_form(row["form"])
    if form is None or not (form.notify or form.autoresponder):
        return 0
    cap = int(current_app.config["LEADAPP_MAIL_NOTIFY_PER_HOUR"])
    now = utcnow()
    hour = hour_start(now)
    written = 0
    for address in form.notify:
        bidx = recipient_index(address)
        if count_mail(connection, bidx, NOTIFICATION, hour) > cap:
            queue_mail(
                connection,
                NOTIFICATION,
                form.slug,
                row["id"],
                address,
                held_hour=hour,
                recipient_bidx=bidx,
            )
        else:
            queue_notification(connection, row["id"], bidx)
        written += 1
    if form.autoresponder and autoresponse_allowed(connection, recipient_index(row["email"]), now):
        queue_mail(connection, AUTORESPONSE, form.slug, row["id"], row["email"])
        written += 1
    return written


def forget_mails(connection: Connection, lead_ids: Collection[uuid.UUID]) -> int:
    """In an erasure's transaction: delete the erased leads' mail rows (their recipients).

    The outbox rows are cancelled by the erasure itself (outbox.cancel_for_leads); a digest
    that lists an erased lead among others leaves it out when it is built.
    """
    if not lead_ids:
        return 0
    return connection.execute(delete(_MAILS).where(_MAILS.c.lead_id.in_(list(lead_ids)))).rowcount
