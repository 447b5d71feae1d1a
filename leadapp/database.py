"""Engine setup: options per backend and SQLite pragmas applied once per connection."""

from __future__ import annotations

import sqlite3
from typing import Any

from flask import Flask
from sqlalchemy import event
from sqlalchemy.engine import Engine, make_url

SQLITE_BUSY_TIMEOUT_SECONDS = 5
# libpq waits forever for a server that accepts the connection but never answers (a
# host that vanished, a partition); every request would hang, /healthz included.
POSTGRES_CONNECT_TIMEOUT_SECONDS = 5


def engine_options(database_url: str) -> dict[str, Any]:
    """SQLAlchemy engine options for the configured database."""
    # hide_parameters: otherwise SQLAlchemy puts bound values (plaintext email and
    # phone, before encryption is visible) into exception text and logs.
    options: dict[str, Any] = {"hide_parameters": True}
    url = make_url(database_url)
    if url.get_backend_name() == "sqlite":
        options["connect_args"] = {"timeout": SQLITE_BUSY_TIMEOUT_SECONDS}
    else:
        if url.get_backend_name() == "postgresql" and "connect_timeout" not in url.query:
            options["connect_args"] = {"connect_timeout": POSTGRES_CONNECT_TIMEOUT_SECONDS}
        # A connection that died with the server is replaced on checkout, so the
        # process recovers by itself when the database returns.
        options["pool_pre_ping"] = True
        options["pool_size"] = 10
        options["max_overflow"] = 5
        options["pool_timeout"] = 5
    return options


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
