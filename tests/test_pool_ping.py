"""PostgreSQL connections that died in the pool: checked after idling, not before every use."""

from __future__ import annotations

import time
from collections.abc import Iterator

import pytest
from flask import Flask
from sqlalchemy import create_engine, text
from sqlalchemy.exc import DBAPIError
from sqlalchemy.pool import NullPool

from leadapp.config import POOL_PING_AFTER_IDLE_SECONDS
from leadapp.extensions import db
from tests.support.apps import app_builder


@pytest.fixture
def pg_app(postgres_schema: str) -> Iterator[Flask]:
    with app_builder(postgres_schema) as builder:
        yield builder()


def _backend_pid(app: Flask) -> int:
    with app.app_context(), db.engine.connect() as connection:
        return connection.execute(text("SELECT pg_backend_pid()")).scalar_one()


def _terminate(url: str, pid: int) -> None:
    """Kill one server backend, as a database restart or an idle timeout would."""
    admin = create_engine(url, poolclass=NullPool)
    with admin.connect() as connection:
        assert connection.execute(text("SELECT pg_terminate_backend(:pid)"), {"pid": pid}).scalar()
    admin.dispose()


def test_a_connection_killed_while_idle_is_replaced_before_use(
    pg_app: Flask, postgres_schema: str
) -> None:
    pid = _backend_pid(pg_app)
    _terminate(postgres_schema, pid)
    time.sleep(POOL_PING_AFTER_IDLE_SECONDS + 0.2)
    assert _backend_pid(pg_app) != pid  # no error: the check found it dead and reconnected


def test_a_recently_used_connection_is_not_checked_and_one_failure_renews_the_pool(
    pg_app: Flask, postgres_schema: str
) -> None:
    pid = _backend_pid(pg_app)
    _terminate(postgres_schema, pid)
    with pytest.raises(DBAPIError) as failure:  # used again at once: no round trip spent on it
        _backend_pid(pg_app)
    assert failure.value.connection_invalidated
    assert _backend_pid(pg_app) != pid  # the pool was renewed by that one failure
