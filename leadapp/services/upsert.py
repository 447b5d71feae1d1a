"""INSERT ... ON CONFLICT for both supported databases (SQLite and PostgreSQL share the syntax)."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from sqlalchemy import Table
from sqlalchemy.dialects import postgresql, sqlite

from leadapp.extensions import db

# The INSERT construct with on_conflict_do_update/do_nothing, by dialect name.
INSERTS: dict[str, Callable[[Table], Any]] = {
    "postgresql": postgresql.insert,
    "sqlite": sqlite.insert,
}


def dialect_insert(table: Table) -> Any:
    """The current database's INSERT construct, which has on_conflict_do_update/do_nothing."""
    return INSERTS[db.engine.dialect.name](table)
