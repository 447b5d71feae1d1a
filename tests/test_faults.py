"""Faults with real services: PostgreSQL and Redis die and return, SQLite is read-only or locked.

Each test kills or blocks a backing service under running server processes and checks
what clients see (503 with Retry-After, never 500), that the same processes recover
without a restart, and that every lead stored before or during the fault is whole.
"""

from __future__ import annotations

import http.client
import shutil
import sqlite3
import stat
import tempfile
import threading
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from leadapp import create_app
from leadapp.config import POSTGRES_CONNECT_TIMEOUT_SECONDS, engine_options
from leadapp.errors import RETRY_AFTER_UNAVAILABLE
from tests.support.builders import lead_payload
from tests.support.client import Answer
from tests.support.load import LoadGenerator
from tests.support.postgres import PrivatePostgres, private_postgres_problem
from tests.support.processes import bound_by_file_permissions, flask_command
from tests.support.redis_server import PrivateRedis
from tests.support.servers import (
    LeadAppServer,
    leadapp_environment,
    leadapp_servers,
    unhandled_errors,
)
from tests.support.services import require_service
from tests.support.stored import CREATED_FIELDS, by_id, read_leads
from tests.support.waiting import black_hole, wait_until

pytestmark = pytest.mark.slow

RECOVERY_SECONDS = 30
# Flask-Limiter re-checks a dead storage with exponential backoff (1, 2, 4, ... 32 s
# between checks), so recovery depends on how long the outage lasted.
LIMITER_RECOVERY_SECONDS = 40
TEMPLATE = "leadapp_template"


# --- fixtures ---------------------------------------------------------------------------


@pytest.fixture(scope="module")
def private_postgres(test_keys: dict[str, str]) -> Iterator[PrivatePostgres]:
    """A PostgreSQL cluster of this module's own, with a migrated template database."""
    require_service("PostgreSQL (private cluster)", private_postgres_problem())
    cluster = PrivatePostgres()
    try:
        cluster.initdb()
        cluster.start()
        url = cluster.create_database()
        flask_command(leadapp_environment(test_keys, url), "db", "upgrade")
        cluster.template = url.rsplit("/", 1)[1]
        yield cluster
    finally:
        cluster.destroy()


@pytest.fixture
def postgres_url(private_postgres: PrivatePostgres) -> str:
    """A fresh, migrated database in the private cluster (restarted if a test stopped it)."""
    if not private_postgres.running():
        private_postgres.start()
    return private_postgres.create_database(template=private_postgres.template)


@pytest.fixture
def redis_url(private_redis: PrivateRedis) -> str:
    """The private Redis, running and empty."""
    return private_redis.fresh()


@pytest.fixture
def server_logs(tmp_path: Path) -> Iterator[list[LeadAppServer]]:
    """Servers a test registers here are checked for logged 500s at teardown."""
    servers: list[LeadAppServer] = []
    yield servers
    assert unhandled_errors(servers) == []


@pytest.fixture
def postgres_servers(
    postgres_url: str,
    test_keys: dict[str, str],
    tmp_path: Path,
    server_logs: list[LeadAppServer],
) -> Iterator[list[LeadAppServer]]:
    """Two server processes on a fresh database of the private cluster, limits out of the way."""
    env = leadapp_environment(test_keys, postgres_url, LEADAPP_RATELIMIT_LEADS="1000 per minute")
    with leadapp_servers(2, env, tmp_path) as servers:
        server_logs.extend(servers)
        yield servers


def assert_unavailable(answer: Answer) -> None:
    """A 503 problem with the app's Retry-After."""
    assert answer.status == 503, answer
    assert answer.is_problem, answer
    assert answer.body["type"] == "urn:leadapp:problem:service-unavailable"
    assert answer.retry_after() == int(RETRY_AFTER_UNAVAILABLE), answer.headers


def created(answer: Answer) -> dict[str, Any]:
    """The lead a 201 answer describes, as read_leads/by_id report it."""
    assert answer.status == 201, answer
    return {key: answer.body[key] for key in CREATED_FIELDS}


# --- Retry-After on a 503 -------------------------------------------------------------


def test_retry_after_on_503_is_the_outage_not_the_rate_limit_window(tmp_path: Path) -> None:
    app = create_app(
        {
            # A database that can't be opened: every write is a 503.
            "SQLALCHEMY_DATABASE_URI": f"sqlite:///{tmp_path / 'missing' / 'leadapp.sqlite3'}",
            "LEADAPP_RATELIMIT_LEADS": "2 per minute",
        }
    )
    client = app.test_client()
    answers = [client.post("/leads", json=lead_payload(50)) for _ in range(3)]
    assert [answer.status_code for answer in answers] == [503, 503, 429]
    # Requests left: retry when the outage may be over, not when the window resets.
    assert answers[0].headers["Retry-After"] == RETRY_AFTER_UNAVAILABLE
    # None left: retrying before the window resets would only be refused.
    assert int(answers[1].headers["Retry-After"]) > int(RETRY_AFTER_UNAVAILABLE)
    assert int(answers[2].headers["Retry-After"]) > int(RETRY_AFTER_UNAVAILABLE)


# --- PostgreSQL --------------------------------------------------------------------------


def test_postgres_outage_is_503_and_the_same_processes_recover(
    private_postgres: PrivatePostgres,
    postgres_url: str,
    test_keys: dict[str, str],
    postgres_servers: list[LeadAppServer],
) -> None:
    servers = postgres_servers
    pids = [server.pid for server in servers]
    accepted = [
        created(
            servers[n % 2].request(
                "POST", "/leads", lead_payload(100 + n), source_ip=f"127.3.0.{n + 1}"
            )
        )
        for n in range(10)
    ]

    private_postgres.stop("immediate")  # a crash: no shutdown checkpoint
    for n, server in enumerate(servers):
        assert_unavailable(
            server.request("POST", "/leads", lead_payload(200 + n), source_ip=f"127.3.1.{n + 1}")
        )
        ready = server.request("GET", "/readyz")
        assert_unavailable(ready)
        assert "database" in ready.body["detail"]
        assert server.request("GET", "/healthz").status == 200

    private_postgres.start()
    for n, server in enumerate(servers):
        answer = wait_until(
            lambda server=server, n=n: _created_or_none(
                server.request(
                    "POST", "/leads", lead_payload(300 + n), source_ip=f"127.3.2.{n + 1}"
                )
            ),
            timeout=RECOVERY_SECONDS,
            interval=0.2,
            what="the server to accept leads again",
        )
        accepted.append(answer)
        assert server.request("GET", "/readyz").status == 200
    assert [server.pid for server in servers] == pids
    assert all(server.alive() for server in servers)

    assert by_id(read_leads(postgres_url, test_keys)) == {lead["id"]: lead for lead in accepted}


def test_unresponsive_postgres_host_is_503_within_the_connect_timeout(
    test_keys: dict[str, str], tmp_path: Path, server_logs: list[LeadAppServer]
) -> None:
    with black_hole() as port:
        env = leadapp_environment(test_keys, f"postgresql+psycopg://leadapp@127.0.0.1:{port}/x")
        with leadapp_servers(1, env, tmp_path) as (server,):
            server_logs.append(server)
            for method, path, body in [
                ("POST", "/leads", lead_payload(700)),
                ("GET", "/readyz", None),
            ]:
                started = time.monotonic()
                answer = server.request(method, path, body, timeout=60)
                assert_unavailable(answer)
                # libpq would wait forever; the engine gives up after its connect timeout.
                assert time.monotonic() - started < 3 * POSTGRES_CONNECT_TIMEOUT_SECONDS
            started = time.monotonic()
            assert server.request("GET", "/healthz", timeout=60).status == 200
            assert time.monotonic() - started < 3 * POSTGRES_CONNECT_TIMEOUT_SECONDS


def test_a_connect_timeout_in_the_url_wins() -> None:
    default = engine_options("postgresql+psycopg://leadapp@db.internal/leadapp")
    assert default["connect_args"] == {"connect_timeout": POSTGRES_CONNECT_TIMEOUT_SECONDS}
    chosen = engine_options("postgresql+psycopg://leadapp@db.internal/leadapp?connect_timeout=2")
    assert "connect_args" not in chosen  # libpq reads it from the URL


def _created_or_none(answer: Answer) -> dict[str, Any] | None:
    """The created lead, None while the database is still unavailable; anything else fails."""
    if answer.status == 503:
        return None
    return created(answer)


def test_postgres_crash_under_load_keeps_every_accepted_lead_whole(
    private_postgres: PrivatePostgres,
    postgres_url: str,
    test_keys: dict[str, str],
    postgres_servers: list[LeadAppServer],
) -> None:
    with LoadGenerator(postgres_servers, lambda n: lead_payload(10_000 + n), workers=6) as load:
        wait_until(lambda: load.count(201) >= 20, timeout=30, what="leads before the crash")
        private_postgres.stop("immediate")
        wait_until(lambda: load.count(503) >= 10, timeout=30, what="503s during the outage")
        before_restart = load.count(201)
        private_postgres.start()
        wait_until(
            lambda: load.count(201) >= before_restart + 20,
            timeout=RECOVERY_SECONDS,
            what="leads after the restart",
        )

    statuses = load.statuses()
    assert set(statuses) <= {201, 503}, sorted(set(map(str, statuses)))
    accepted = {}
    refused = {}
    for body, source_ip, answer in load.answers:
        assert isinstance(answer, Answer)
        if answer.status == 201:
            accepted[answer.body["id"]] = created(answer)
        else:
            assert_unavailable(answer)
            refused[body["email"]] = (body, source_ip)
    stored = by_id(read_leads(postgres_url, test_keys))
    # Every 201 is stored exactly as answered...
    assert {lead_id: stored.get(lead_id) for lead_id in accepted} == accepted
    # ...and anything else stored is a lead whose commit landed as the connection died
    # (its 503 was sent although the row is there): a whole lead, never a fragment.
    for lead_id in stored.keys() - accepted.keys():
        lead = stored[lead_id]
        assert lead["email"] in refused, lead
        body, source_ip = refused[lead["email"]]
        assert (lead["name"], lead["ip_address"]) == (body["name"], source_ip)


def test_a_killed_process_loses_nothing_and_the_other_keeps_serving(
    postgres_url: str, test_keys: dict[str, str], postgres_servers: list[LeadAppServer]
) -> None:
    servers = postgres_servers
    with LoadGenerator(servers, lambda n: lead_payload(20_000 + n), workers=6) as load:
        wait_until(lambda: load.count(201) >= 20, timeout=30, what="leads before the kill")
        servers[0].kill()
        after_kill = load.count(201)
        wait_until(
            lambda: load.count(201) >= after_kill + 20,
            timeout=RECOVERY_SECONDS,
            what="the surviving process to keep creating leads",
        )
    assert servers[1].alive()

    accepted = {}
    for _, _, answer in load.answers:
        if isinstance(answer, Answer):
            assert answer.status == 201, answer  # never a 5xx from the survivor
            accepted[answer.body["id"]] = created(answer)
        else:
            # The killed process: refused or cut-off connections, never a wrong answer.
            assert isinstance(answer, OSError | http.client.HTTPException), answer
    stored = by_id(read_leads(postgres_url, test_keys))
    assert {lead_id: stored.get(lead_id) for lead_id in accepted} == accepted
    # A lead committed just before the kill may be stored without its 201 having been
    # sent; it is whole (read_leads checked), and nothing else is stored.
    assert len(stored) - len(accepted) <= 6


# --- Redis -------------------------------------------------------------------------------


def test_redis_outage_falls_back_to_memory_and_recovers(
    private_redis: PrivateRedis,
    redis_url: str,
    postgres_url: str,
    test_keys: dict[str, str],
    tmp_path: Path,
    server_logs: list[LeadAppServer],
) -> None:
    env = leadapp_environment(
        test_keys,
        postgres_url,
        LEADAPP_RATELIMIT_STORAGE_URI=redis_url,
        LEADAPP_RATELIMIT_LEADS="5 per minute",
    )
    probes = iter(f"127.4.9.{n}" for n in range(1, 250))
    with leadapp_servers(2, env, tmp_path) as servers:
        server_logs.extend(servers)
        assert _allowed_alternating(servers, "127.4.0.1") == 5  # one count, in Redis

        private_redis.stop()
        for server in servers:
            ready = server.request("GET", "/readyz")
            assert_unavailable(ready)
            assert "rate-limit storage" in ready.body["detail"]
            assert server.request("GET", "/healthz").status == 200
        # Requests are still answered on their merits.
        first = servers[0].request("POST", "/leads", lead_payload(400), source_ip="127.4.1.1")
        accepted = [created(first)]
        duplicate = servers[1].request(
            "POST", "/leads", lead_payload(401, email=first.body["email"]), source_ip="127.4.1.2"
        )
        assert duplicate.status == 409
        assert set(duplicate.body["errors"]) == {"email"}
        invalid = servers[0].request("POST", "/leads", {"name": "x"}, source_ip="127.4.1.3")
        assert invalid.status == 422
        # Each process now counts in its own memory: five per process, not five in all.
        answers = [
            servers[0].request("POST", "/leads", {}, source_ip="127.4.2.1") for _ in range(6)
        ]
        assert [answer.status for answer in answers] == [422] * 5 + [429]
        assert answers[-1].retry_after() > 0
        assert servers[1].request("POST", "/leads", {}, source_ip="127.4.2.1").status == 422

        private_redis.start()  # empty: nothing was persisted
        for server in servers:
            wait_until(
                lambda server=server: server.request("GET", "/readyz").status == 200,
                timeout=10,
                what="/readyz to see Redis again",
            )
        for server in servers:
            # The limiter re-checks its storage with backoff; poll until it writes there.
            wait_until(
                lambda server=server: _counted_in_redis(server, private_redis, next(probes)),
                timeout=LIMITER_RECOVERY_SECONDS,
                interval=0.5,
                what="the limiter to use Redis again",
            )
        assert _allowed_alternating(servers, "127.4.0.2") == 5  # shared again

    assert by_id(read_leads(postgres_url, test_keys)) == {lead["id"]: lead for lead in accepted}


def test_unresponsive_redis_costs_milliseconds_not_a_hang(
    sqlite_file: Path, test_keys: dict[str, str], tmp_path: Path, server_logs: list[LeadAppServer]
) -> None:
    with black_hole() as port:
        env = leadapp_environment(
            test_keys,
            f"sqlite:///{sqlite_file}",
            LEADAPP_RATELIMIT_STORAGE_URI=f"redis://127.0.0.1:{port}/0",
            LEADAPP_RATELIMIT_LEADS="5 per minute",
        )
        with leadapp_servers(1, env, tmp_path) as (server,):
            server_logs.append(server)
            started = time.monotonic()
            answers = [server.request("POST", "/leads", lead_payload(800 + n)) for n in range(6)]
            elapsed = time.monotonic() - started
            ready = server.request("GET", "/readyz", timeout=10)
    # Counted in memory instead: the first lead, duplicates of its IP, then the limit.
    assert [answer.status for answer in answers] == [201, 409, 409, 409, 409, 429]
    assert elapsed < 5, elapsed
    assert_unavailable(ready)
    assert "rate-limit storage" in ready.body["detail"]


def _allowed_alternating(servers: list[LeadAppServer], source_ip: str) -> int:
    """How many of 12 invalid leads from one address, alternating servers, pass the limit."""
    statuses = [
        servers[n % 2].request("POST", "/leads", {}, source_ip=source_ip).status for n in range(12)
    ]
    assert set(statuses) <= {422, 429}, statuses
    return statuses.count(422)


def _counted_in_redis(server: LeadAppServer, redis_server: PrivateRedis, source_ip: str) -> bool:
    """Send one request from a fresh address; whether its count landed in Redis."""
    assert server.request("POST", "/leads", {}, source_ip=source_ip).status == 422
    with redis_server.client() as client:
        return bool(client.keys(f"*{source_ip}/*"))


# --- SQLite ------------------------------------------------------------------------------


@pytest.fixture
def sqlite_file(test_keys: dict[str, str]) -> Iterator[Path]:
    """A migrated SQLite database in a directory of its own (tests change its permissions)."""
    directory = Path(tempfile.mkdtemp(prefix="leadapp-sqlite-"))
    path = directory / "leadapp.sqlite3"
    try:
        flask_command(leadapp_environment(test_keys, f"sqlite:///{path}"), "db", "upgrade")
        yield path
    finally:
        directory.chmod(0o700)
        shutil.rmtree(directory, ignore_errors=True)


def _make_read_only(path: Path, how: str) -> tuple[str, list[str]]:
    """Make the database read-only for the server; return its URL and a command prefix.

    Root ignores permission bits, so `uri` asks SQLite itself to refuse writes
    (`mode=ro`), and `permissions` makes the file and its directory read-only and runs
    the server without root's override of permission bits.
    """
    if how == "uri":
        return f"sqlite:///file:{path}?mode=ro&uri=true", []
    for file in path.parent.iterdir():
        file.chmod(stat.S_IRUSR | stat.S_IRGRP | stat.S_IROTH)
    path.parent.chmod(0o555)
    return f"sqlite:///{path}", bound_by_file_permissions()


@pytest.mark.parametrize("how", ["uri", "permissions"])
def test_read_only_sqlite_is_503_not_500(
    sqlite_file: Path,
    test_keys: dict[str, str],
    tmp_path: Path,
    server_logs: list[LeadAppServer],
    how: str,
) -> None:
    env = leadapp_environment(test_keys, f"sqlite:///{sqlite_file}")
    with leadapp_servers(1, env, tmp_path) as (server,):
        server_logs.append(server)
        accepted = [created(server.request("POST", "/leads", lead_payload(500)))]

    url, prefix = _make_read_only(sqlite_file, how)
    env = leadapp_environment(test_keys, url)
    with leadapp_servers(1, env, tmp_path, command_prefix=prefix) as (server,):
        server_logs.append(server)
        for n in range(3):
            assert_unavailable(
                server.request(
                    "POST", "/leads", lead_payload(501 + n), source_ip=f"127.5.0.{n + 1}"
                )
            )
        assert server.request("GET", "/healthz").status == 200

    assert by_id(read_leads(f"sqlite:///{sqlite_file}", test_keys)) == {
        lead["id"]: lead for lead in accepted
    }


def test_sqlite_locked_past_the_busy_timeout_is_503_then_recovers(
    sqlite_file: Path, test_keys: dict[str, str], tmp_path: Path, server_logs: list[LeadAppServer]
) -> None:
    env = leadapp_environment(test_keys, f"sqlite:///{sqlite_file}")
    with leadapp_servers(1, env, tmp_path) as (server,):
        server_logs.append(server)
        accepted = [created(server.request("POST", "/leads", lead_payload(600)))]

        holder = sqlite3.connect(
            sqlite_file, isolation_level=None, timeout=1, check_same_thread=False
        )
        try:
            holder.execute("BEGIN EXCLUSIVE")
            # Held shorter than the busy timeout: the writer waits its turn and succeeds.
            release = threading.Timer(1.0, holder.execute, ("COMMIT",))
            release.start()
            started = time.monotonic()
            accepted.append(
                created(server.request("POST", "/leads", lead_payload(601), source_ip="127.6.0.1"))
            )
            assert time.monotonic() - started >= 0.8
            release.join(timeout=5)

            # Held past the busy timeout (5 s): 503, after waiting, not an instant failure.
            holder.execute("BEGIN EXCLUSIVE")
            started = time.monotonic()
            answer = server.request("POST", "/leads", lead_payload(602), source_ip="127.6.0.2")
            waited = time.monotonic() - started
            assert_unavailable(answer)
            assert 4.5 <= waited < 15
        finally:
            holder.close()  # releases the lock

        accepted.append(
            created(server.request("POST", "/leads", lead_payload(603), source_ip="127.6.0.3"))
        )

    assert by_id(read_leads(f"sqlite:///{sqlite_file}", test_keys)) == {
        lead["id"]: lead for lead in accepted
    }
