"""Engine setup: SQLite pragmas per connection, a liveness check after idle (see config.py)."""

from __future__ import annotations

import sqlite3
import time
from typing import Any

from flask import Flask
from sqlalchemy import event, exc
from sqlalchemy.engine import Engine

from leadapp.config import POOL_PING_AFTER_IDLE_SECONDS

# Where a pooled connection's record keeps the time it was last given back to the pool.
CHECKED_IN_AT = "leadapp_checked_in_at"


def _set_sqlite_pragmas(dbapi_connection: Any, _record: Any) -> None:
    """WAL lets readers work during a write; NORMAL sync is durable enough under WAL."""
    if not isinstance(dbapi_connection, sqlite3.Connection):
        return
    cursor = dbapi_connection.cursor()
    cursor.execute("PRAGMA journal_mode=WAL")
    cursor.execute("PRAGMA synchronous=NORMAL")
    cursor.execute("PRAGMA foreign_keys=ON")
    cursor.close()


def ping_after_idle(engine: Engine, idle_seconds: float = POOL_PING_AFTER_IDLE_SECONDS) -> None:
    """Check a pooled connection is alive before use, when it has been idle for a while.

    `pool_pre_ping`'s guarantee (a connection that died with the server while it sat in
    the pool is replaced, not handed to a request) at its cost only after idling: a
    connection back in use within `idle_seconds` was alive then, and a server that dies
    meanwhile fails the requests using it either way. SQLAlchemy then invalidates the whole
    pool, so the next checkouts connect afresh. A failed check makes the pool connect
    again (up to three times) before the request sees an error.
    """

    def stamp(_dbapi_connection: Any, record: Any) -> None:
        record.info[CHECKED_IN_AT] = time.monotonic()

    def check(dbapi_connection: Any, record: Any, _proxy: Any) -> None:
        checked_in_at = record.info.get(CHECKED_IN_AT)
        if checked_in_at is None or time.monotonic() - checked_in_at < idle_seconds:
            return
        try:
            engine.dialect.do_ping(dbapi_connection)
        except Exception as error:
            raise exc.DisconnectionError("the pooled connection is dead") from error

    event.listen(engine, "checkin", stamp)
    event.listen(engine, "checkout", check)


def configure_engine(app: Flask, engine: Engine) -> None:
    """Attach per-connection setup to the app's engine."""
    if engine.dialect.name == "sqlite":
        event.listen(engine, "connect", _set_sqlite_pragmas)
    else:
        ping_after_idle(engine)
