"""Key rotation: re-encrypt every encrypted value the service stores, in batches.

The columns are found from the models' metadata (every column whose type is
`EncryptedString`), never from a hand-written list, so a column added later is rotated too.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field

from sqlalchemy import (
    Column,
    String,
    Table,
    and_,
    bindparam,
    func,
    or_,
    select,
    type_coerce,
    update,
)

from leadapp.crypto import current_keyring
from leadapp.extensions import db
from leadapp.models import Lead
from leadapp.models.types import EncryptedString


@dataclass
class RotationResult:
    """How many rows were looked at and how many needed a new encryption, per table too."""

    checked: int = 0
    rotated: int = 0
    tables: dict[str, tuple[int, int]] = field(default_factory=dict)


def encrypted_columns() -> dict[Table, list[Column]]:
    """Every table with encrypted columns, and those columns, in the metadata's order."""
    found: dict[Table, list[Column]] = {}
    for table in db.metadata.sorted_tables:
        columns = [c for c in table.columns if isinstance(c.type, EncryptedString)]
        if columns:
            found[table] = columns
    return found


def count_leads() -> int:
    """How many leads are stored."""
    with db.engine.connect() as connection:
        return connection.execute(select(func.count()).select_from(Lead.__table__)).scalar_one()


def count_encrypted_rows() -> int:
    """How many rows rotation looks at: those of every table with an encrypted column."""
    with db.engine.connect() as connection:
        return sum(
            connection.execute(select(func.count()).select_from(table)).scalar_one()
            for table in encrypted_columns()
        )


def _after(key_columns: list[Column], last: tuple) -> object:
    """Keyset condition: rows after `last` in primary-key order (composite keys too)."""
    clauses = []
    for n, column in enumerate(key_columns):
        equal = [key_columns[m] == last[m] for m in range(n)]
        clauses.append(and_(*equal, column > last[n]))
    return or_(*clauses)


def rotate_table(
    table: Table,
    columns: list[Column],
    batch_size: int,
    progress: Callable[[int], None] = lambda _n: None,
) -> tuple[int, int]:
    """Re-encrypt one table's `columns`, batch by batch in key order; (checked, rotated)."""
    keyring = current_keyring()
    keys = list(table.primary_key.columns)
    names = [column.name for column in columns]
    raw_columns = [type_coerce(column, String).label(f"v_{column.name}") for column in columns]
    write = (
        update(table)
        .where(*(key == bindparam(f"k_{key.name}") for key in keys))
        .values({name: bindparam(f"new_{name}", type_=String) for name in names})
    )
    checked = rotated = 0
    last: tuple | None = None
    while True:
        query = select(*keys, *raw_columns).order_by(*keys).limit(batch_size)
        if last is not None:
            query = query.where(_after(keys, last))
        with db.engine.begin() as connection:
            rows = connection.execute(query).all()
            if not rows:
                break
            changes = []
            for row in rows:
                tokens = {name: row._mapping[f"v_{name}"] for name in names}
                if all(token is None or keyring.is_current(token) for token in tokens.values()):
                    continue
                changes.append(
                    {
                        **{f"k_{key.name}": row._mapping[key] for key in keys},
                        **{
                            f"new_{name}": keyring.rotate(token) if token is not None else None
                            for name, token in tokens.items()
                        },
                    }
                )
            if changes:
                connection.execute(write, changes)
        last = tuple(rows[-1]._mapping[key] for key in keys)
        checked += len(rows)
        rotated += len(changes)
        progress(len(rows))
    return checked, rotated


def rotate_all(
    batch_size: int, progress: Callable[[int], None] = lambda _n: None
) -> RotationResult:
    """Re-encrypt every token not under the newest key, in every encrypted column.

    Each batch commits on its own, so an interrupted run keeps its progress and a
    rerun skips what is already current. Blind indexes are untouched: they depend on
    the blind-index key only. Tokens are read and written raw (type_coerce to String),
    so the TypeDecorator neither decrypts nor double-encrypts them.
    """
    result = RotationResult()
    for table, columns in encrypted_columns().items():
        checked, rotated = rotate_table(table, columns, batch_size, progress)
        result.tables[table.name] = (checked, rotated)
        result.checked += checked
        result.rotated += rotated
    return result
