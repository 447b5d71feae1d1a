"""Unique rows: INSERT ... ON CONFLICT for both databases, and adding a row that must be new."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from sqlalchemy import Table
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.exc import IntegrityError

from leadapp.extensions import db

# The INSERT construct with on_conflict_do_update/do_nothing, by dialect name.
INSERTS: dict[str, Callable[[Table], Any]] = {
    "postgresql": postgresql.insert,
    "sqlite": sqlite.insert,
}


def dialect_insert(table: Table) -> Any:
    """The current database's INSERT construct, which has on_conflict_do_update/do_nothing."""
    return INSERTS[db.engine.dialect.name](table)


def add_unique(row: Any, refusal: Exception) -> None:
    """Add a row and commit; when a unique constraint refuses it, roll back and raise `refusal`."""
    db.session.add(row)
    try:
        db.session.commit()
    except IntegrityError:
        db.session.rollback()
        raise refusal from None
