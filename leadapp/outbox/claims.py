"""The worker's side of the outbox: claim due messages under a lease, record what became of them.

A claim takes, for each of a few (channel, target) pairs, up to a batch of due messages, for
one delivery thread to send in order. PostgreSQL: `FOR UPDATE SKIP LOCKED` in each batch's
subquery, so concurrent workers take disjoint rows without waiting on each other; SQLite has
one writer at a time, so the transaction is atomic there. Only the holder of a claim records
a failure; a success is a success whoever claimed it; an erasure meanwhile always wins.
"""

from __future__ import annotations

import uuid
from collections.abc import Collection, Sequence
from datetime import timedelta
from typing import Any

from sqlalchemy import and_, not_, or_, select, update

from leadapp.extensions import db
from leadapp.models.outbox import CANCELLED, DELIVERED, ERROR_MAX_CHARS, FAILED, PENDING
from leadapp.outbox.channel import Entry, Message, app_channels
from leadapp.outbox.queue import outbox
from leadapp.timeutil import utcnow

# A batch's key: the channel and the target its messages go to (None: any of the channel's
# targets, for a channel that batches per channel, not per target).
BatchKey = tuple[str, uuid.UUID | None]


def _key(channel: str, target_id: uuid.UUID | None) -> BatchKey:
    """The batch key of a row of `channel` to `target_id`, as the channel's policy batches."""
    found = app_channels().get(channel)
    return channel, target_id if found is None or found.policy.batch_per_target else None


def batch_key(message: Message) -> BatchKey:
    """The (channel, target) a message is batched under."""
    return _key(message.entry.channel, message.entry.target_id)


def _is(key: BatchKey) -> Any:
    """The condition of a row under this batch key."""
    channel, target_id = key
    if target_id is None:
        return outbox.c.channel == channel
    return and_(outbox.c.channel == channel, outbox.c.target_id == target_id)


def claim_batches(
    worker_id: str,
    batches: int,
    batch_size: int,
    lease_seconds: float,
    skip: Collection[BatchKey] = (),
) -> list[list[Message]]:
    """Claim due messages for `lease_seconds`: at most `batches` targets, `batch_size` each.

    The targets are those of the oldest due rows of the app's channels; messages to `skip`
    (targets this worker is busy enough with) are left for later, so one slow receiver
    cannot hold every delivery thread. The read that picks the targets comes first, outside
    the write transaction, so an idle worker never takes SQLite's write lock. The claimed
    rows are read after it and each channel builds their content then; an entry its channel
    leaves out (its target removed, its lead erased) is cancelled.
    """
    channels = app_channels()
    if not channels:
        return []
    now = utcnow()
    due = and_(
        outbox.c.channel.in_(list(channels)),
        outbox.c.status == PENDING,
        outbox.c.next_attempt_at <= now,
        or_(outbox.c.claimed_until.is_(None), outbox.c.claimed_until < now),
    )
    if skip:
        due = and_(due, *(not_(_is(key)) for key in skip))
    with db.engine.connect() as connection:
        oldest = connection.execute(
            select(outbox.c.channel, outbox.c.target_id)
            .where(due)
            .order_by(outbox.c.next_attempt_at)
            .limit(batch_size)
        ).all()
    chosen = list(dict.fromkeys(_key(row.channel, row.target_id) for row in oldest))[:batches]
    if not chosen:
        return []
    claimed_until = now + timedelta(seconds=lease_seconds)
    ids: list[uuid.UUID] = []
    # Only ids under the write lock: building the content there would hold SQLite's lock
    # (which intake's INSERTs wait for) through the decryption of up to a batch of leads.
    with db.engine.begin() as connection:
        for key in chosen:
            candidates = (
                select(outbox.c.id)
                .where(due, _is(key))
                .order_by(outbox.c.next_attempt_at)
                .limit(batch_size)
            )
            if db.engine.dialect.name == "postgresql":
                candidates = candidates.with_for_update(skip_locked=True)
            ids += connection.execute(
                update(outbox)
                .where(outbox.c.id.in_(candidates.scalar_subquery()))
                .values(claimed_by=worker_id, claimed_until=claimed_until)
                .returning(outbox.c.id)
            ).scalars()
    if not ids:
        return []
    with db.engine.connect() as connection:
        # Still ours unless settled meanwhile (an erasure cancels the row and drops the claim).
        entries = [
            Entry(
                row.id,
                row.channel,
                row.target_id,
                row.event,
                row.lead_id,
                row.attempts,
                row.created_at,
            )
            for row in connection.execute(
                select(
                    outbox.c.id,
                    outbox.c.channel,
                    outbox.c.target_id,
                    outbox.c.event,
                    outbox.c.lead_id,
                    outbox.c.attempts,
                    outbox.c.created_at,
                )
                .where(
                    outbox.c.id.in_(ids),
                    outbox.c.status == PENDING,
                    outbox.c.claimed_by == worker_id,
                )
                .order_by(outbox.c.next_attempt_at, outbox.c.created_at)
            )
        ]
        contents: dict[uuid.UUID, Any] = {}
        try:
            for name in {entry.channel for entry in entries}:
                mine = [entry for entry in entries if entry.channel == name]
                contents.update(channels[name].build(connection, mine))
        except Exception:
            # A content that cannot be built (a secret under a dropped key) gives its claims
            # back: the worker's supervisor sees the failure again at once instead of the
            # rows sitting under a lease while the worker looks idle and healthy.
            release(ids, worker_id)
            raise
    orphans = [entry.id for entry in entries if entry.id not in contents]
    if orphans:
        # Queued by a process that had not yet seen its target's removal, or a lead erased
        # between the claim and this read (the erasure has cancelled it already).
        with db.engine.begin() as connection:
            connection.execute(
                update(outbox)
                .where(outbox.c.id.in_(orphans), outbox.c.status == PENDING)
                .values(status=CANCELLED, claimed_by=None, claimed_until=None)
            )
    grouped: dict[BatchKey, list[Message]] = {}
    for entry in entries:
        if entry.id in contents:
            message = Message(entry, contents[entry.id])
            grouped.setdefault(batch_key(message), []).append(message)
    return list(grouped.values())


def record_delivered_batch(delivered: Sequence[tuple[Message, int | None]]) -> None:
    """Record a batch of successes (each with the peer's status) in one transaction.

    Whoever claimed a row, a success is a success; an erasure meanwhile wins (the row is no
    longer pending, so it is left as the erasure left it).
    """
    if not delivered:
        return
    now = utcnow()
    # One UPDATE per (attempts, status) pair: in a batch of first attempts, one in all.
    groups: dict[tuple[int, int | None], list[uuid.UUID]] = {}
    for message, status in delivered:
        groups.setdefault((message.entry.attempts + 1, status), []).append(message.entry.id)
    with db.engine.begin() as connection:
        for (attempts, status), ids in groups.items():
            connection.execute(
                update(outbox)
                .where(outbox.c.id.in_(ids), outbox.c.status == PENDING)
                .values(
                    status=DELIVERED,
                    attempts=attempts,
                    last_status=status,
                    last_error=None,
                    last_attempt_at=now,
                    delivered_at=now,
                    next_attempt_at=None,
                    claimed_by=None,
                    claimed_until=None,
                )
            )


def _held(ids: Collection[uuid.UUID], worker_id: str) -> Any:
    """The condition of rows among `ids` still pending under this worker's claim."""
    return and_(
        outbox.c.id.in_(list(ids)),
        outbox.c.status == PENDING,
        outbox.c.claimed_by == worker_id,
    )


def still_held(ids: Collection[uuid.UUID], worker_id: str) -> set[uuid.UUID]:
    """Which of `ids` are still pending under this worker's claim (read only, no write lock).

    A message erased, cancelled or retried since the claim is no longer held, and a batch
    drops it rather than send what should no longer be sent.
    """
    if not ids:
        return set()
    with db.engine.connect() as connection:
        return set(connection.execute(select(outbox.c.id).where(_held(ids, worker_id))).scalars())


def release(ids: Collection[uuid.UUID], worker_id: str) -> None:
    """Give back claims this worker will not attempt (a batch cut short): due again at once."""
    if not ids:
        return
    with db.engine.begin() as connection:
        connection.execute(
            update(outbox).where(_held(ids, worker_id)).values(claimed_by=None, claimed_until=None)
        )


def record_failure(
    entry: Entry,
    worker_id: str,
    *,
    status: int | None,
    error: str,
    delay: float,
    max_attempts: int,
) -> str:
    """An attempt failed: schedule the next after `delay`, or mark it failed; the new status.

    Only the holder of the claim writes a failure, so a worker whose lease ran out cannot
    overwrite what the worker that took over recorded.
    """
    now = utcnow()
    attempts = entry.attempts + 1
    new_status = FAILED if attempts >= max_attempts else PENDING
    with db.engine.begin() as connection:
        connection.execute(
            update(outbox)
            .where(_held((entry.id,), worker_id))
            .values(
                status=new_status,
                attempts=attempts,
                last_status=status,
                last_error=error[:ERROR_MAX_CHARS],
                last_attempt_at=now,
                next_attempt_at=now + timedelta(seconds=delay) if new_status == PENDING else None,
                claimed_by=None,
                claimed_until=None,
            )
        )
    return new_status
