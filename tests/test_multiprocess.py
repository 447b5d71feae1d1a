"""Several stateless waitress processes sharing one PostgreSQL and one Redis act as one."""

from __future__ import annotations

import threading
import time
from collections import Counter
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from contextlib import AbstractContextManager
from pathlib import Path

import pytest

from tests.support.builders import lead_payload
from tests.support.challenges import encode_solution, solve
from tests.support.client import Answer
from tests.support.postgres import empty_tables
from tests.support.processes import flask_command
from tests.support.redis_server import PrivateRedis
from tests.support.servers import (
    LeadAppServer,
    leadapp_environment,
    leadapp_servers,
    unhandled_errors,
)
from tests.support.stored import read_leads
from tests.support.waiting import wait_until

pytestmark = [pytest.mark.postgres, pytest.mark.redis, pytest.mark.slow]

RACERS = 100
# The contract: a blocklist change reaches every running process within 30 seconds.
BLOCKLIST_PROPAGATION_SECONDS = 30

StartServers = Callable[..., AbstractContextManager[list[LeadAppServer]]]


@pytest.fixture
def shared_services(schema_url: str, private_redis: PrivateRedis) -> tuple[str, str]:
    """The PostgreSQL schema (emptied) and Redis (flushed) every process shares."""
    empty_tables(schema_url)
    return schema_url, private_redis.fresh()


@pytest.fixture
def start_servers(
    shared_services: tuple[str, str], test_keys: dict[str, str], tmp_path: Path
) -> Iterator[StartServers]:
    """Start N server processes on the shared services; fail the test if any logged a 500."""
    database_url, storage_url = shared_services
    started: list[LeadAppServer] = []

    def start(count: int = 2, **settings: str) -> AbstractContextManager[list[LeadAppServer]]:
        settings = {"LEADAPP_RATELIMIT_STORAGE_URI": storage_url, **settings}
        env = leadapp_environment(test_keys, database_url, **settings)
        servers = leadapp_servers(count, env, tmp_path)
        return _Recording(servers, started)

    yield start
    assert unhandled_errors(started) == []


class _Recording(AbstractContextManager[list[LeadAppServer]]):
    """Wraps leadapp_servers to remember which servers ran, for the 500 check at teardown."""

    def __init__(
        self, inner: AbstractContextManager[list[LeadAppServer]], seen: list[LeadAppServer]
    ) -> None:
        self.inner = inner
        self.seen = seen

    def __enter__(self) -> list[LeadAppServer]:
        servers = self.inner.__enter__()
        self.seen.extend(servers)
        return servers

    def __exit__(self, *exc: object) -> None:
        self.inner.__exit__(*exc)  # type: ignore[arg-type]


def test_conflicting_leads_across_two_processes_create_exactly_one(
    start_servers: StartServers, shared_services: tuple[str, str], test_keys: dict[str, str]
) -> None:
    barrier = threading.Barrier(RACERS, timeout=60)

    def race(n: int, servers: list[LeadAppServer]) -> tuple[int, Answer]:
        """Connect, wait until every racer is connected, then send."""
        email = "same.person@example.com" if n % 2 else "same.person@EXAMPLE.COM"
        body = lead_payload(7000 + n, email=email)
        server = servers[n % 2]
        answer = server.request(
            "POST", "/leads", body, source_ip=f"127.0.0.{n + 2}", before_send=barrier.wait
        )
        return n % 2, answer

    with (
        start_servers(LEADAPP_RATELIMIT_LEADS="1000 per minute") as servers,
        ThreadPoolExecutor(max_workers=RACERS) as pool,
    ):
        results = list(pool.map(lambda n: race(n, servers), range(RACERS)))

    statuses = Counter(answer.status for _, answer in results)
    assert statuses == Counter({201: 1, 409: RACERS - 1})
    per_server = Counter(server for server, _ in results)
    assert per_server == Counter({0: RACERS // 2, 1: RACERS // 2})
    for _, answer in results:
        if answer.status == 409:
            assert answer.is_problem
            assert set(answer.body["errors"]) == {"email"}, answer.body
    [created] = [answer.body for _, answer in results if answer.status == 201]
    stored = read_leads(shared_services[0], test_keys)
    assert len(stored) == 1
    assert stored[0] == {key: created[key] for key in stored[0]}


@pytest.mark.parametrize(
    ("storage", "allowed"),
    [
        # Redis: both processes count in one place, so the limit holds for the service.
        ("redis", 5),
        # Control: per-process memory lets each process allow its own five. This proves
        # the test can tell a shared limit from two separate ones.
        ("memory", 10),
    ],
)
def test_anonymous_rate_limit_is_shared_by_the_processes(
    start_servers: StartServers, storage: str, allowed: int
) -> None:
    settings = {"LEADAPP_RATELIMIT_LEADS": "5 per minute"}
    if storage == "memory":
        settings["LEADAPP_RATELIMIT_STORAGE_URI"] = "memory://"
    with start_servers(**settings) as servers:
        answers = [
            servers[n % 2].request("POST", "/leads", lead_payload(), source_ip="127.0.0.200")
            for n in range(14)
        ]
        other_client = servers[1].request("POST", "/leads", lead_payload(), source_ip="127.0.0.201")

    statuses = [answer.status for answer in answers]
    # The first lead from the address is created; later ones are duplicates of its IP.
    assert statuses[:allowed] == [201] + [409] * (allowed - 1), statuses
    assert statuses[allowed:] == [429] * (len(answers) - allowed), statuses
    for answer in answers[allowed:]:
        assert answer.is_problem
        assert 0 < answer.retry_after() <= 60
    assert other_client.status == 201


def test_blocklist_change_reaches_every_process(
    start_servers: StartServers, shared_services: tuple[str, str], test_keys: dict[str, str]
) -> None:
    blocked, neighbour = "127.0.0.150", "127.0.0.160"
    cli_env = leadapp_environment(test_keys, shared_services[0])

    def answers_from(source_ip: str, servers: list[LeadAppServer]) -> list[int]:
        """What each process answers an (invalid) lead from this address."""
        return [
            server.request("POST", "/leads", {}, source_ip=source_ip).status for server in servers
        ]

    with start_servers(LEADAPP_RATELIMIT_LEADS="1000 per minute") as servers:
        # Both processes have looked at (and cached) the empty blocklist.
        assert answers_from(blocked, servers) == [422, 422]

        output = flask_command(cli_env, "blocklist", "add", "127.0.0.144/28", "--reason", "test")
        assert "127.0.0.144/28" in output.stdout
        added = time.monotonic()
        wait_until(
            lambda: answers_from(blocked, servers) == [403, 403],
            timeout=BLOCKLIST_PROPAGATION_SECONDS,
            interval=0.25,
            what="both processes to refuse the blocked network",
        )
        propagation = time.monotonic() - added
        refused = servers[0].request("POST", "/leads", lead_payload(), source_ip=blocked)
        assert refused.status == 403
        assert refused.is_problem
        assert answers_from(neighbour, servers) == [422, 422]

        flask_command(cli_env, "blocklist", "remove", "127.0.0.144/28")
        wait_until(
            lambda: answers_from(blocked, servers) == [422, 422],
            timeout=BLOCKLIST_PROPAGATION_SECONDS,
            interval=0.25,
            what="both processes to accept the unblocked network again",
        )
    assert propagation <= BLOCKLIST_PROPAGATION_SECONDS
    # Nothing from the blocked address was stored.
    assert read_leads(shared_services[0], test_keys) == []


def test_a_challenge_solution_is_accepted_once_across_processes(
    start_servers: StartServers,
) -> None:
    racers = 10
    barrier = threading.Barrier(racers, timeout=60)
    with (
        start_servers(LEADAPP_RATELIMIT_LEADS="1000 per minute", LEADAPP_CHALLENGE="on") as servers,
        ThreadPoolExecutor(max_workers=racers) as pool,
    ):
        challenge = servers[0].request("GET", "/challenge").body
        solution = encode_solution(challenge, solve(challenge))

        def race(n: int) -> Answer:
            """Send one lead with the shared solution, to either process."""
            body = lead_payload(7200 + n, challenge=solution)
            return servers[n % 2].request(
                "POST", "/leads", body, source_ip=f"127.0.1.{n + 2}", before_send=barrier.wait
            )

        results = list(pool.map(race, range(racers)))
    assert Counter(answer.status for answer in results) == Counter({201: 1, 422: racers - 1})
    for answer in results:
        if answer.status == 422:
            assert list(answer.body["errors"]) == ["challenge"], answer.body


def test_one_idempotency_key_across_processes_creates_one_lead(
    start_servers: StartServers, shared_services: tuple[str, str], test_keys: dict[str, str]
) -> None:
    racers = 20
    barrier = threading.Barrier(racers, timeout=60)
    body = lead_payload(7300)
    headers = {"Idempotency-Key": "retry-storm-across-processes"}
    with (
        start_servers(LEADAPP_RATELIMIT_LEADS="1000 per minute") as servers,
        ThreadPoolExecutor(max_workers=racers) as pool,
    ):
        results = list(
            pool.map(
                lambda n: servers[n % 2].request(
                    "POST", "/leads", body, headers=headers, before_send=barrier.wait
                ),
                range(racers),
            )
        )
    assert Counter(answer.status for answer in results) == Counter({201: racers})
    assert len({answer.body["id"] for answer in results}) == 1
    assert len(read_leads(shared_services[0], test_keys)) == 1
