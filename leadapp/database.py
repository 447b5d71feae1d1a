"""Engine setup: SQLite pragmas applied once per connection (options are in config.py)."""

from __future__ import annotations

import sqlite3
from typing import Any

from flask import Flask
from sqlalchemy import event
from sqlalchemy.engine import Engine


def _set_sqlite_pragmas(dbapi_connection: Any, _record: Any) -> None:
    """WAL lets readers work during a write; NORMAL sync is durable enough under WAL."""
    if not isinstance(dbapi_connection, sqlite3.Connection):
        return
    cursor = dbapi_connection.cursor()
    cursor.execute("PRAGMA journal_mode=WAL")
    cursor.execute("PRAGMA synchronous=NORMAL")
    cursor.execute("PRAGMA foreign_keys=ON")
    cursor.close()


def configure_engine(app: Flask, engine: Engine) -> None:
    """Attach per-connection setup to the app's engine."""
    if engine.dialect.name == "sqlite":
        event.listen(engine, "connect", _set_sqlite_pragmas)
