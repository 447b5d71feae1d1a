"""Email blind-index migration: recompute stored email_bidx under the current match key."""

from __future__ import annotations

import uuid
from collections.abc import Callable
from contextlib import AbstractContextManager, nullcontext
from dataclasses import dataclass, field

import sqlalchemy as sa
from sqlalchemy.engine import Connection
from sqlalchemy.exc import IntegrityError

from leadapp.crypto import Keyring, current_keyring
from leadapp.extensions import db
from leadapp.normalize import email_match_key

# Only the columns this job touches, not the model: the migration that calls it runs
# against the schema of its revision, which may lack columns the model has later.
LEADS = sa.table(
    "leads",
    sa.column("id", sa.Uuid()),
    sa.column("email", sa.String()),
    sa.column("email_bidx", sa.LargeBinary()),
)


@dataclass
class ReindexResult:
    """How many leads were looked at, how many got a new index, and which collided."""

    checked: int = 0
    reindexed: int = 0
    # (lead kept on its old index, lead that already holds the new one)
    collisions: list[tuple[uuid.UUID, uuid.UUID]] = field(default_factory=list)


def _reindex_batch(
    connection: Connection,
    rows: list[sa.Row],
    keyring: Keyring,
    match_key: Callable[[str], str],
) -> tuple[int, list[tuple[uuid.UUID, uuid.UUID]]]:
    """Give each lead of one batch the index of its match key, unless another lead has it.

    Returns how many were rewritten and the collisions.
    """
    wanted = {
        row.id: keyring.blind_index("email", match_key(keyring.decrypt(row.email))) for row in rows
    }
    current = {row.id: row.email_bidx for row in rows}
    stale = {lead_id: bidx for lead_id, bidx in wanted.items() if bidx != current[lead_id]}
    if not stale:
        return 0, []
    holders = {
        bidx: lead_id
        for lead_id, bidx in connection.execute(
            sa.select(LEADS.c.id, LEADS.c.email_bidx).where(
                LEADS.c.email_bidx.in_(list(stale.values()))
            )
        )
    }
    changes = []
    collisions = []
    for lead_id, bidx in stale.items():
        holder = holders.get(bidx)
        if holder is not None and holder != lead_id:
            collisions.append((lead_id, holder))
            continue
        holders[bidx] = lead_id  # two leads of this batch that now match: the first wins
        changes.append({"lead_id": lead_id, "new_bidx": bidx})
    if changes:
        connection.execute(
            sa.update(LEADS)
            .where(LEADS.c.id == sa.bindparam("lead_id"))
            .values(email_bidx=sa.bindparam("new_bidx")),
            changes,
        )
    return len(changes), collisions


def reindex_emails(
    *,
    batch_size: int = 500,
    connection: Connection | None = None,
    keyring: Keyring | None = None,
    match_key: Callable[[str], str] = email_match_key,
    progress: Callable[[int], None] = lambda _n: None,
) -> ReindexResult:
    """Recompute every lead's email blind index from its decrypted email, batch by batch.

    Without `connection`, each batch commits on its own (like `keys rotate`), so an
    interrupted run keeps its progress and a rerun skips what is current. With one (a
    migration's), every batch runs in that connection's transaction. A lead whose new index
    already belongs to another lead keeps its old one and is reported, never merged or
    dropped: which of the two to keep is the operator's decision.
    """
    keyring = keyring or current_keyring()
    transaction: Callable[[], AbstractContextManager[Connection]] = (
        db.engine.begin if connection is None else lambda: nullcontext(connection)
    )
    result = ReindexResult()
    last_id = None
    while True:
        query = sa.select(LEADS.c.id, LEADS.c.email, LEADS.c.email_bidx).order_by(LEADS.c.id)
        if last_id is not None:
            query = query.where(LEADS.c.id > last_id)
        for attempt in range(2):
            try:
                with transaction() as batch_connection:
                    rows = batch_connection.execute(query.limit(batch_size)).all()
                    if not rows:
                        return result
                    reindexed, collisions = _reindex_batch(
                        batch_connection, rows, keyring, match_key
                    )
                break
            except IntegrityError:
                # Another process stored a lead with one of our new indexes between the
                # check and the write: the batch was rolled back; checked again, that
                # lead shows up as a collision. Inside a migration there is no retry.
                if connection is not None or attempt == 1:
                    raise
        result.checked += len(rows)
        result.reindexed += reindexed
        result.collisions.extend(collisions)
        last_id = rows[-1].id
        progress(len(rows))
