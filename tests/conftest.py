"""Fixtures: an app per test on each database backend, its client and runner, live servers."""

from __future__ import annotations

import http.client
import json
import os
import socket
import threading
from collections.abc import Callable, Iterator
from typing import Any

import pytest
from cryptography.fernet import Fernet
from flask import Flask
from sqlalchemy import create_engine, text
from waitress.server import create_server

from leadapp import create_app
from leadapp.extensions import db
from leadapp.server import waitress_settings

CONFIG_VARIABLES = (
    "LEADAPP_DATABASE_URL",
    "LEADAPP_RATELIMIT_STORAGE_URI",
    "LEADAPP_RATELIMIT_LEADS",
    "LEADAPP_RATELIMIT_INTEGRATIONS",
    "LEADAPP_ENCRYPTION_KEYS",
    "LEADAPP_BLIND_INDEX_KEY",
    "LEADAPP_TRUSTED_PROXIES",
    "LEADAPP_DEFAULT_REGION",
    "LEADAPP_CORS_ORIGINS",
    "LEADAPP_ENV",
    "LEADAPP_CHALLENGE",
    "LEADAPP_CONSENT_TEXT",
    "LEADAPP_DUPLICATES_ANONYMOUS",
)
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
    try:
        engine = create_engine(POSTGRES_URL)
        with engine.connect() as connection:
            connection.execute(text("SELECT 1"))
        engine.dispose()
    except Exception as error:
        return f"{type(error).__name__} connecting to LEADAPP_TEST_POSTGRES_URL"
    return None


@pytest.fixture(scope="session")
def test_keys() -> dict[str, str]:
    """One set of keys for the session (tests that rotate make their own)."""
    return {
        "LEADAPP_ENCRYPTION_KEYS": Fernet.generate_key().decode(),
        "LEADAPP_BLIND_INDEX_KEY": Fernet.generate_key().decode(),
    }


@pytest.fixture(autouse=True)
def clean_environment(monkeypatch: pytest.MonkeyPatch, test_keys: dict[str, str]) -> None:
    """Each test starts from no LEADAPP_* configuration except the test keys."""
    for name in CONFIG_VARIABLES:
        monkeypatch.delenv(name, raising=False)
    for name, value in test_keys.items():
        monkeypatch.setenv(name, value)


@pytest.fixture(scope="session")
def postgres_schema() -> str:
    """A PostgreSQL database migrated to head once per session."""
    require_service("PostgreSQL", postgres_problem())
    engine = create_engine(POSTGRES_URL)
    with engine.begin() as connection:
        connection.execute(text("DROP SCHEMA public CASCADE"))
        connection.execute(text("CREATE SCHEMA public"))
    engine.dispose()
    from flask_migrate import upgrade

    app = create_app({"SQLALCHEMY_DATABASE_URI": POSTGRES_URL})
    with app.app_context():
        upgrade()
        db.engine.dispose()
    return POSTGRES_URL


@pytest.fixture(params=["sqlite", "postgresql"])
def database_url(request: pytest.FixtureRequest, tmp_path: Any) -> str:
    """Every database-facing test runs on the embedded default and on PostgreSQL."""
    if request.param == "sqlite":
        return f"sqlite:///{tmp_path / 'leadapp.sqlite3'}"
    url = request.getfixturevalue("postgres_schema")
    engine = create_engine(url)
    with engine.begin() as connection:
        tables = [
            row[0]
            for row in connection.execute(
                text(
                    "SELECT tablename FROM pg_tables WHERE schemaname = 'public' "
                    "AND tablename <> 'alembic_version'"
                )
            )
        ]
        if tables:
            connection.execute(text(f"TRUNCATE {', '.join(tables)}"))
    engine.dispose()
    return url


@pytest.fixture
def make_app(database_url: str) -> Iterator[Callable[..., Flask]]:
    """Build apps on the test's database; keyword arguments override configuration."""
    built: list[Flask] = []

    def factory(**overrides: Any) -> Flask:
        config = {"TESTING": True, "SQLALCHEMY_DATABASE_URI": database_url, **overrides}
        app = create_app(config)
        with app.app_context():
            db.create_all()
        built.append(app)
        return app

    yield factory
    for app in built:
        with app.app_context():
            db.engine.dispose()


@pytest.fixture
def app(make_app: Callable[..., Flask]) -> Flask:
    """The app with default configuration (pytest-flask builds `client` from it)."""
    return make_app()


@pytest.fixture
def runner(app: Flask):
    """A CLI runner for the app."""
    return app.test_cli_runner()


class LiveServer:
    """A real waitress server in a background thread, on a free loopback port."""

    def __init__(self, app: Flask, threads: int = 8) -> None:
        self.app = app  # pytest-flask reads this when a test uses `live_server`
        self.server = create_server(app, host="127.0.0.1", port=0, **waitress_settings(threads))
        self.port = self.server.effective_port
        self.thread = threading.Thread(target=self.server.run, daemon=True)

    def __enter__(self) -> LiveServer:
        self.thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.server.close()
        self.thread.join(timeout=5)

    def request(
        self,
        method: str,
        path: str,
        body: Any = None,
        *,
        source_ip: str = "127.0.0.1",
        headers: dict[str, str] | None = None,
        timeout: float = 30,
    ) -> tuple[int, dict[str, str], Any]:
        """Send one request from a loopback address; return status, lower-cased headers, JSON."""
        connection = http.client.HTTPConnection(
            "127.0.0.1", self.port, timeout=timeout, source_address=(source_ip, 0)
        )
        try:
            payload = json.dumps(body).encode() if body is not None else None
            all_headers = {"Content-Type": "application/json", **(headers or {})}
            connection.request(method, path, body=payload, headers=all_headers)
            response = connection.getresponse()
            raw = response.read()
            data = json.loads(raw) if raw else None
            return response.status, {k.lower(): v for k, v in response.getheaders()}, data
        finally:
            connection.close()


@pytest.fixture
def live_server(app: Flask) -> Iterator[LiveServer]:
    """The test's app served by waitress."""
    with LiveServer(app) as server:
        yield server


def free_port() -> int:
    """A TCP port free on loopback right now."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def redis_problem() -> str | None:
    """Why Redis can't be used, or None when it answers."""
    if not REDIS_URL:
        return "set LEADAPP_TEST_REDIS_URL"
    import redis

    try:
        redis.Redis.from_url(REDIS_URL, socket_timeout=1).ping()
    except redis.RedisError as error:
        return f"{type(error).__name__} connecting to LEADAPP_TEST_REDIS_URL"
    return None


@pytest.fixture(params=["memory", "redis"])
def ratelimit_storage(request: pytest.FixtureRequest) -> str:
    """Rate-limit tests run on the in-memory default and on Redis (flushed first)."""
    if request.param == "memory":
        return "memory://"
    require_service("Redis", redis_problem())
    import redis

    redis.Redis.from_url(REDIS_URL).flushdb()
    return REDIS_URL


def create_api_key(app: Flask, name: str = "partner") -> str:
    """Create an API key through the CLI, as an operator would; return the printed key."""
    result = app.test_cli_runner().invoke(args=["apikeys", "create", name])
    assert result.exit_code == 0, result.output
    return result.output.strip().splitlines()[-1]


@pytest.fixture
def api_key(app: Flask) -> str:
    """A valid API key for the `app` fixture."""
    return create_api_key(app)


def bearer(key: str) -> dict[str, str]:
    """The Authorization header for a key."""
    return {"Authorization": f"Bearer {key}"}
