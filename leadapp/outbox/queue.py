"""The outbox's writes outside a worker: queue in the caller's transaction, cancel, retry, count.

A row is written on the caller's connection, inside the transaction that stores (or erases)
the lead, so a lead and its messages commit or roll back together.
"""

from __future__ import annotations

import uuid
from collections.abc import Collection, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import (
    ColumnElement,
    Connection,
    FromClause,
    Row,
    Select,
    func,
    insert,
    select,
    update,
)

from leadapp.extensions import db
from leadapp.models.outbox import CANCELLED, FAILED, PENDING, OutboxMessage
from leadapp.outbox.channel import Routing, app_channels
from leadapp.timeutil import as_utc, utcnow

outbox = OutboxMessage.__table__

# Built once: composing an INSERT on every POST /leads costs more than executing it.
_INSERT = insert(outbox)


class RetryRefused(ValueError):
    """`retry` of one message that can't be retried (the message says why)."""


def _row(
    channel: str, target_id: uuid.UUID | None, event: str, lead_id: uuid.UUID, now: datetime
) -> dict[str, Any]:
    """One pending outbox row, due now."""
    return {
        "id": uuid.uuid4(),
        "channel": channel,
        "target_id": target_id,
        "event": event,
        "lead_id": lead_id,
        "status": PENDING,
        "attempts": 0,
        "next_attempt_at": now,
        "created_at": now,
    }


def _insert(connection: Connection, rows: list[dict[str, Any]]) -> None:
    """Insert outbox rows on the caller's connection."""
    if rows:
        # One dict is a plain execute; a list takes the executemany path, which costs more.
        connection.execute(_INSERT, rows[0] if len(rows) == 1 else rows)


def publish(connection: Connection, event: str, lead_id: uuid.UUID, routing: Routing) -> int:
    """Queue `event` of the lead for every target of every channel; return how many rows.

    `routing` holds the lead's routing facts (its form), by which a channel may choose its
    targets. The rows name the event and the lead and hold nothing of the lead's data; each
    channel builds its message when a worker claims it.
    """
    now = utcnow()
    rows = [
        _row(name, target_id, event, lead_id, now)
        for name, channel in app_channels().items()
        for target_id in channel.targets(connection, event, routing)
    ]
    _insert(connection, rows)
    return len(rows)


def enqueue(
    connection: Connection,
    channel: str,
    event: str,
    lead_id: uuid.UUID,
    target_ids: Collection[uuid.UUID],
) -> None:
    """Queue `event` of the lead on one channel, to targets the caller chose (and wrote).

    For a channel whose targets are rows its own service writes in the same transaction
    (a mail's row), rather than subscribers the channel looks up.
    """
    now = utcnow()
    _insert(connection, [_row(channel, target_id, event, lead_id, now) for target_id in target_ids])


def _cancel(connection: Connection, *conditions: ColumnElement[bool]) -> int:
    """Cancel the undelivered (pending or failed) messages matching `conditions`; how many."""
    return connection.execute(
        update(outbox)
        .where(*conditions, outbox.c.status.in_((PENDING, FAILED)))
        .values(status=CANCELLED, claimed_by=None, claimed_until=None)
    ).rowcount


def cancel_for_leads(connection: Connection, lead_ids: Collection[uuid.UUID]) -> int:
    """In an erasure's transaction: cancel the leads' undelivered messages, on every channel.

    None is sent or retried; the queue holds no copy of a lead, so once the caller deletes
    the lead's row nothing of it is left to send.
    """
    return _cancel(connection, outbox.c.lead_id.in_(list(lead_ids)))


def cancel_for_target(connection: Connection, channel: str, target_id: uuid.UUID) -> int:
    """Cancel the undelivered messages of a channel's target (removed by the operator)."""
    return _cancel(connection, outbox.c.channel == channel, outbox.c.target_id == target_id)


def retry(
    channel: str,
    message_id: uuid.UUID | None = None,
    live_targets: Select[Any] | None = None,
) -> int:
    """Put failed messages of `channel` (one, or all) back in the queue, attempts reset.

    With `live_targets` (a SELECT of target ids), only messages to those targets: a removed
    target's messages are cancelled, never put back. One message that is not failed is a
    RetryRefused naming its state.
    """
    conditions = [outbox.c.channel == channel, outbox.c.status == FAILED]
    if message_id is not None:
        conditions.append(outbox.c.id == message_id)
    if live_targets is not None:
        conditions.append(outbox.c.target_id.in_(live_targets))
    with db.engine.begin() as connection:
        count = connection.execute(
            update(outbox)
            .where(*conditions)
            .values(
                status=PENDING,
                attempts=0,
                next_attempt_at=utcnow(),
                claimed_by=None,
                claimed_until=None,
            )
        ).rowcount
        if message_id is not None and count == 0:
            status = connection.execute(
                select(outbox.c.status).where(
                    outbox.c.id == message_id, outbox.c.channel == channel
                )
            ).scalar()
            if status is None:
                raise RetryRefused(f"No delivery with id {message_id}.")
            raise RetryRefused(f"Delivery {message_id} is {status}, not failed; nothing to retry.")
    return count


def count_by_status(channel: str) -> dict[str, int]:
    """How many of the channel's messages are in each status."""
    with db.engine.connect() as connection:
        rows = connection.execute(
            select(outbox.c.status, func.count())
            .where(outbox.c.channel == channel)
            .group_by(outbox.c.status)
        ).all()
    return {status: count for status, count in rows}


@dataclass(frozen=True)
class ListedState:
    """A message's state as an operator lists it, whatever its channel; never its content."""

    status: str
    attempts: int
    last_status: int | None
    last_error: str | None
    # Only while pending: a delivered, failed or cancelled message has no next attempt.
    next_attempt_at: datetime | None
    last_attempt_at: datetime | None
    delivered_at: datetime | None
    created_at: datetime


_STATE_COLUMNS = [outbox.c[name] for name in ListedState.__dataclass_fields__]
_TIMES = ("next_attempt_at", "last_attempt_at", "delivered_at", "created_at")


def list_newest(
    channel: str,
    columns: Sequence[ColumnElement[Any]],
    status: str | None,
    limit: int,
    joined: FromClause | None = None,
) -> list[Row[Any]]:
    """The channel's newest messages (optionally of one status): `columns`, then the state's.

    `joined` is the outbox joined to the channel's own tables, when `columns` name them.
    """
    query = (
        select(*columns, *_STATE_COLUMNS)
        .select_from(joined if joined is not None else outbox)
        .where(outbox.c.channel == channel)
        .order_by(outbox.c.created_at.desc(), outbox.c.id.desc())
        .limit(limit)
    )
    if status is not None:
        query = query.where(outbox.c.status == status)
    with db.engine.connect() as connection:
        return list(connection.execute(query).all())


def listed_state(row: Row[Any]) -> dict[str, Any]:
    """The state members of a `list_newest` row: times in UTC, the next attempt while pending."""
    state = {name: getattr(row, name) for name in ListedState.__dataclass_fields__}
    for name in _TIMES:
        state[name] = as_utc(state[name])
    if state["status"] != PENDING:
        state["next_attempt_at"] = None
    return state
