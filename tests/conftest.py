"""Fixtures: an app per test on each database backend, its client and runner, live servers.

Fixtures only: every helper they use lives in tests/support, and tests import helpers
from there, never from this module.
"""

from __future__ import annotations

import os
from collections.abc import Callable, Iterator
from contextlib import ExitStack
from pathlib import Path
from typing import Any

import pytest
import redis
from cryptography.fernet import Fernet
from flask import Flask
from sqlalchemy import create_engine, text

from leadapp import create_app
from leadapp.extensions import db
from leadapp.outbox.worker import Worker
from tests.support.apps import app_builder, build_app, create_api_key, dispose_app
from tests.support.browser import (
    CHROMIUM,
    CHROMIUM_ARGS,
    REPORT_CSP_VIOLATIONS,
    TIMEOUT_MS,
    PageLog,
    Site,
)
from tests.support.observed import SUITE as OBSERVED
from tests.support.observed import check_suite
from tests.support.postgres import empty_tables, migrated_schema
from tests.support.redis_server import PrivateRedis, redis_server_problem
from tests.support.servers import ThreadedServer, WorkerProcess
from tests.support.services import (
    POSTGRES_URL,
    REDIS_URL,
    postgres_problem,
    redis_problem,
    require_service,
)
from tests.support.webhook_receiver import Receiver


def pytest_configure(config: pytest.Config) -> None:
    """Record every response of every app the suite builds (tests/support/observed.py)."""
    OBSERVED.start()


def pytest_sessionfinish(session: pytest.Session) -> None:
    """Fail the run when a test observed a (route, method, status) the OpenAPI document lacks."""
    OBSERVED.stop()
    missing = check_suite(OBSERVED)
    if not missing:
        return
    reporter = session.config.pluginmanager.get_plugin("terminalreporter")
    if reporter is not None:
        reporter.ensure_newline()
        reporter.section("OpenAPI drift: seen by the suite, not in the document", red=True)
        for line in missing:
            reporter.line(line)
    session.exitstatus = pytest.ExitCode.TESTS_FAILED


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
    # Every setting, present and future, but the suite's own LEADAPP_TEST_* services.
    for name in [n for n in os.environ if n.startswith("LEADAPP_")]:
        if not name.startswith("LEADAPP_TEST_"):
            monkeypatch.delenv(name)
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


@pytest.fixture(scope="module")
def schema_url(request: pytest.FixtureRequest, test_keys: dict[str, str]) -> Iterator[str]:
    """The CI's PostgreSQL, in a schema of the module's own, migrated by `flask db upgrade`."""
    # Its own: other modules empty the public schema's tables at will, and another run of
    # the suite may be using the same database at the same time.
    require_service("PostgreSQL", postgres_problem())
    prefix = "leadapp_" + request.module.__name__.rpartition(".")[2].removeprefix("test_")
    with migrated_schema(POSTGRES_URL, test_keys, prefix) as url:
        yield url


@pytest.fixture(params=["sqlite", "postgresql"])
def database_url(request: pytest.FixtureRequest, tmp_path: Any) -> str:
    """Every database-facing test runs on the embedded default and on PostgreSQL."""
    if request.param == "sqlite":
        return f"sqlite:///{tmp_path / 'leadapp.sqlite3'}"
    url = request.getfixturevalue("postgres_schema")
    empty_tables(url)
    return url


@pytest.fixture
def make_app(database_url: str) -> Iterator[Callable[..., Flask]]:
    """Build apps on the test's database; keyword arguments override configuration."""
    with app_builder(database_url) as builder:
        yield builder


@pytest.fixture
def app(make_app: Callable[..., Flask]) -> Flask:
    """The app with default configuration (pytest-flask builds `client` from it)."""
    return make_app()


@pytest.fixture
def runner(app: Flask):
    """A CLI runner for the app."""
    return app.test_cli_runner()


@pytest.fixture
def live_server(app: Flask) -> Iterator[ThreadedServer]:
    """The test's app served by waitress."""
    with ThreadedServer(app) as server:
        yield server


@pytest.fixture(params=["memory", "redis"])
def ratelimit_storage(request: pytest.FixtureRequest) -> str:
    """Rate-limit tests run on the in-memory default and on Redis (flushed first)."""
    if request.param == "memory":
        return "memory://"
    require_service("Redis", redis_problem())
    redis.Redis.from_url(REDIS_URL).flushdb()
    return REDIS_URL


@pytest.fixture
def api_key(app: Flask) -> str:
    """A valid API key for the `app` fixture."""
    return create_api_key(app)


@pytest.fixture(scope="session")
def private_redis(tmp_path_factory: pytest.TempPathFactory) -> Iterator[PrivateRedis]:
    """A redis-server of the suite's own, which tests may stop (see PrivateRedis.fresh)."""
    require_service("Redis (private redis-server)", redis_server_problem())
    server = PrivateRedis(tmp_path_factory.mktemp("redis") / "redis.log")
    try:
        server.start()
        yield server
    finally:
        server.stop()


# --- real browser (tests/support/browser.py) ---------------------------------------------


@pytest.fixture(scope="module")
def browser() -> Iterator[Any]:
    """One Chromium for the whole module; each test gets its own context."""
    if not os.access(CHROMIUM, os.X_OK):
        require_service("Chromium", f"{CHROMIUM} is not installed")
    try:
        from playwright.sync_api import Error, sync_playwright
    except ImportError as error:  # pragma: no cover - playwright is a test requirement
        require_service("Chromium", f"playwright is not importable: {error}")
    with ExitStack() as stack:
        try:
            playwright = stack.enter_context(sync_playwright())
            browser = playwright.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
        except Error as error:
            require_service("Chromium", f"Playwright could not launch {CHROMIUM}: {error}")
        stack.callback(browser.close)
        yield browser


@pytest.fixture
def make_site(tmp_path: Path) -> Iterator[Callable[..., Site]]:
    """Serve SQLite-backed apps built with configuration overrides; stop them afterwards."""
    with ExitStack() as stack:
        count = 0

        def factory(**overrides: Any) -> Site:
            nonlocal count
            count += 1
            app = build_app(f"sqlite:///{tmp_path}/browser-{count}.db", **overrides)
            stack.callback(dispose_app, app)
            server = stack.enter_context(ThreadedServer(app, threads=4))
            return Site(app, server)

        yield factory


@pytest.fixture
def site(make_site: Callable[..., Site]) -> Site:
    """A site with the default configuration."""
    return make_site()


@pytest.fixture
def open_page(browser: Any) -> Iterator[Callable[..., Any]]:
    """Open pages in fresh contexts; fail if any logged a console error or CSP violation."""
    contexts = []
    logs: list[PageLog] = []

    def opener(url: str, **context_options: Any) -> Any:
        context = browser.new_context(**context_options)
        context.set_default_timeout(TIMEOUT_MS)
        context.add_init_script(REPORT_CSP_VIOLATIONS)
        contexts.append(context)
        page = context.new_page()
        log = PageLog()
        logs.append(log)
        page.on("console", log.on_console)
        page.on("pageerror", log.on_page_error)
        page.on("dialog", lambda dialog: log.errors.append(f"dialog: {dialog.message}"))
        page.goto(url)
        return page

    yield opener
    for context in contexts:
        context.close()
    problems = [error for log in logs for error in log.errors]
    assert not problems, "\n".join(problems)


@pytest.fixture
def receiver() -> Iterator[Receiver]:
    """A receiver that answers 200 unless a test changes its behaviour."""
    server = Receiver()
    yield server
    server.close()


@pytest.fixture
def worker_for() -> Iterator[Callable[[Flask], Worker]]:
    """Start in-process workers; stop them all after the test."""
    started: list[Worker] = []

    def start(app: Flask) -> Worker:
        worker = Worker(app).start()
        started.append(worker)
        return worker

    yield start
    for worker in started:
        worker.stop(5)


@pytest.fixture
def start_worker_process(
    tmp_path: Path,
) -> Iterator[Callable[[dict[str, str], str], WorkerProcess]]:
    """Start `flask webhooks worker` processes, logging to tmp_path/NAME.log; kill them after."""
    started: list[WorkerProcess] = []

    def start(env: dict[str, str], name: str) -> WorkerProcess:
        worker = WorkerProcess(env, tmp_path / f"{name}.log")
        started.append(worker)
        return worker

    yield start
    for worker in started:
        worker.kill()
