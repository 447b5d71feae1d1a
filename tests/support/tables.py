"""Lightweight tables: the columns a past revision stores, for rows no model describes now."""

from __future__ import annotations

from sqlalchemy import DateTime, Integer, LargeBinary, String, TableClause, Uuid, column, table
from sqlalchemy.types import TypeEngine


def column_type(name: str) -> type[TypeEngine] | TypeEngine:
    """The type of a column, told by its name as every revision names them."""
    if name == "id" or name.endswith("_id"):
        return Uuid
    if name.endswith(("_bidx", "_hash")):
        return LargeBinary
    if name.endswith(("_at", "_until")):
        return DateTime(timezone=True)
    if name == "attempts":
        return Integer
    return String


def lightweight_table(name: str, *columns: str) -> TableClause:
    """A `table()` of the named columns only, each typed by `column_type`."""
    return table(name, *(column(each, column_type(each)) for each in columns))
