"""The shared services the suite is given (PostgreSQL, Redis) and what to do when one is missing."""

from __future__ import annotations

import os

import pytest
import redis

from tests.support.postgres import connect_problem

POSTGRES_URL = os.environ.get("LEADAPP_TEST_POSTGRES_URL", "")
REDIS_URL = os.environ.get("LEADAPP_TEST_REDIS_URL", "")
REQUIRE_SERVICES = os.environ.get("LEADAPP_TEST_REQUIRE_SERVICES") == "1"


def require_service(name: str, problem: str | None) -> None:
    """Skip (or, in CI, fail) when a real service a test needs is missing."""
    if problem is None:
        return
    message = f"{name} unavailable: {problem}"
    if REQUIRE_SERVICES:
        pytest.fail(message + " (LEADAPP_TEST_REQUIRE_SERVICES=1)")
    pytest.skip(message)


def postgres_problem() -> str | None:
    """Why PostgreSQL can't be used, or None when it answers."""
    if not POSTGRES_URL:
        return "set LEADAPP_TEST_POSTGRES_URL"
    error = connect_problem(POSTGRES_URL)
    return f"{error} connecting to LEADAPP_TEST_POSTGRES_URL" if error else None


def redis_problem() -> str | None:
    """Why Redis can't be used, or None when it answers."""
    if not REDIS_URL:
        return "set LEADAPP_TEST_REDIS_URL"
    try:
        redis.Redis.from_url(REDIS_URL, socket_timeout=1).ping()
    except redis.RedisError as error:
        return f"{type(error).__name__} connecting to LEADAPP_TEST_REDIS_URL"
    return None
