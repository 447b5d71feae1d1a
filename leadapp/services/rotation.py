"""Key rotation: re-encrypt stored leads under the newest encryption key, in batches."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

from sqlalchemy import String, bindparam, func, select, type_coerce, update

from leadapp.crypto import current_keyring
from leadapp.extensions import db
from leadapp.models import Lead
from leadapp.models.lead import ENCRYPTED_FIELDS


@dataclass
class RotationResult:
    """How many leads were looked at and how many needed a new encryption."""

    checked: int = 0
    rotated: int = 0


def count_leads() -> int:
    """How many leads are stored."""
    with db.engine.connect() as connection:
        return connection.execute(select(func.count()).select_from(Lead.__table__)).scalar_one()


def rotate_all(
    batch_size: int, progress: Callable[[int], None] = lambda _n: None
) -> RotationResult:
    """Re-encrypt, batch by batch in id order, every token not under the newest key.

    Each batch commits on its own, so an interrupted run keeps its progress and a
    rerun skips what is already current. Blind indexes are untouched: they depend on
    the blind-index key only. Tokens are read and written raw (type_coerce to String),
    so the TypeDecorator neither decrypts nor double-encrypts them.
    """
    keyring = current_keyring()
    table = Lead.__table__
    raw_columns = [type_coerce(table.c[name], String).label(name) for name in ENCRYPTED_FIELDS]
    write = (
        update(table)
        .where(table.c.id == bindparam("lead_id"))
        .values({name: bindparam(f"new_{name}", type_=String) for name in ENCRYPTED_FIELDS})
    )
    result = RotationResult()
    last_id = None
    while True:
        query = select(table.c.id, *raw_columns).order_by(table.c.id).limit(batch_size)
        if last_id is not None:
            query = query.where(table.c.id > last_id)
        with db.engine.begin() as connection:
            rows = connection.execute(query).all()
            if not rows:
                break
            changes = []
            for row in rows:
                tokens = {name: getattr(row, name) for name in ENCRYPTED_FIELDS}
                if all(token is None or keyring.is_current(token) for token in tokens.values()):
                    continue
                changes.append(
                    {
                        "lead_id": row.id,
                        **{
                            f"new_{name}": keyring.rotate(token) if token is not None else None
                            for name, token in tokens.items()
                        },
                    }
                )
            if changes:
                connection.execute(write, changes)
        last_id = rows[-1].id
        result.checked += len(rows)
        result.rotated += len(changes)
        progress(len(rows))
    return result
