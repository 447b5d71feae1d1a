"""INSERT ... ON CONFLICT for both supported databases (SQLite and PostgreSQL share the syntax)."""

from __future__ import annotations

from typing import Any

from sqlalchemy import Table
from sqlalchemy.dialects import postgresql, sqlite

from leadapp.extensions import db


def dialect_insert(table: Table) -> Any:
    """The dialect's INSERT construct, which has on_conflict_do_update/do_nothing."""
    if db.engine.dialect.name == "postgresql":
        return postgresql.insert(table)
    return sqlite.insert(table)
