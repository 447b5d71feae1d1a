"""Webhooks across real processes on one PostgreSQL: several workers, crashes, a stop."""

from __future__ import annotations

import time
from collections import Counter
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import pytest
from sqlalchemy import create_engine, text

from tests.support.builders import lead_payload
from tests.support.client import bearer
from tests.support.postgres import empty_tables
from tests.support.processes import flask_command
from tests.support.servers import (
    LeadAppServer,
    WorkerProcess,
    leadapp_environment,
    leadapp_servers,
    sigterm_mid_delivery,
    unhandled_errors,
)
from tests.support.waiting import wait_until
from tests.support.webhook_receiver import Receiver

pytestmark = [pytest.mark.postgres, pytest.mark.slow]

StartWorker = Callable[[dict[str, str], str], WorkerProcess]


@pytest.fixture
def env(schema_url: str, test_keys: dict[str, str]) -> dict[str, str]:
    """The environment of every process of a test, on the emptied schema."""
    empty_tables(schema_url)
    return leadapp_environment(
        test_keys,
        schema_url,
        LEADAPP_RATELIMIT_LEADS="1000 per minute",
        LEADAPP_WEBHOOK_RETRY_SECONDS="0.5",
        LEADAPP_WEBHOOK_TIMEOUT="5",
    )


def delivery_states(url: str) -> dict[str, tuple[str, int]]:
    """lead id -> (status, attempts) of each lead.created delivery."""
    engine = create_engine(url)
    try:
        with engine.connect() as connection:
            rows = connection.execute(text("SELECT lead_id, status, attempts FROM outbox")).all()
    finally:
        engine.dispose()
    return {str(row.lead_id): (row.status, row.attempts) for row in rows}


def setup_endpoint(env: dict[str, str], receiver: Receiver) -> str:
    """Subscribe the receiver to lead.created; return an API key."""
    added = flask_command(env, "webhooks", "add", receiver.url(), "--event", "lead.created")
    receiver.secret = added.stdout.strip().splitlines()[-1]
    created = flask_command(env, "apikeys", "create", "partner")
    return created.stdout.strip().splitlines()[-1]


def post_leads(servers: list[LeadAppServer], key: str, count: int, first: int) -> list[str]:
    """POST `count` leads spread over the servers, in parallel; their ids."""

    def post(n: int) -> str:
        server = servers[n % len(servers)]
        answer = server.request("POST", "/leads", lead_payload(n), headers=bearer(key))
        assert answer.status == 201, answer.body
        return answer.body["id"]

    with ThreadPoolExecutor(8) as pool:
        return list(pool.map(post, range(first, first + count)))


def lead_ids_delivered(receiver: Receiver) -> Counter[str]:
    """How many requests answered 200 each lead got."""
    return Counter(r.json()["data"]["id"] for r in receiver.answered(200))


def test_two_workers_and_two_servers_deliver_40_leads_exactly_once(
    env: dict[str, str], tmp_path: Path, receiver: Receiver, start_worker_process: StartWorker
) -> None:
    receiver.delay = 0.05
    key = setup_endpoint(env, receiver)
    with leadapp_servers(2, env, tmp_path) as servers:
        workers = [start_worker_process(env, f"worker-{n}") for n in range(2)]
        ids = post_leads(servers, key, 40, 1000)
        wait_until(
            lambda: len(lead_ids_delivered(receiver)) == 40, timeout=30, what="40 deliveries"
        )
        time.sleep(3)  # a duplicate would show up by now
        assert [w.stop() for w in workers] == [0, 0]
        assert unhandled_errors(servers) == []
    assert lead_ids_delivered(receiver) == Counter({lead_id: 1 for lead_id in ids})
    assert len(receiver.requests) == 40
    assert len({r.headers["webhook-id"] for r in receiver.requests}) == 40
    assert receiver.unverified == []
    assert set(delivery_states(env["LEADAPP_DATABASE_URL"]).values()) == {("delivered", 1)}


def test_both_workers_killed_mid_delivery_then_a_new_worker_delivers_every_lead(
    env: dict[str, str], tmp_path: Path, receiver: Receiver, start_worker_process: StartWorker
) -> None:
    receiver.delay = 3.0  # under the 5-second timeout: slow, not failing
    env = {**env, "LEADAPP_WEBHOOK_WORKER": "off"}
    key = setup_endpoint(env, receiver)
    with leadapp_servers(2, env, tmp_path) as servers:
        workers = [start_worker_process(env, f"worker-{n}") for n in range(2)]
        ids = post_leads(servers, key, 20, 2000)
        wait_until(lambda: len(receiver.requests) >= 6, timeout=20, what="attempts under way")
        for worker in workers:
            worker.kill()
        cut_short = {r.headers["webhook-id"] for r in receiver.requests}
        receiver.delay = 0.0
        killed_at = time.monotonic()
        successor = start_worker_process(env, "worker-new")
        url = env["LEADAPP_DATABASE_URL"]
        wait_until(
            lambda: {s for s, _ in delivery_states(url).values()} == {"delivered"},
            timeout=70,
            what="every lead delivered",
        )
        # The contract: an attempt cut short is made again within 60 seconds.
        assert time.monotonic() - killed_at < 60
        assert successor.stop() == 0
    delivered = lead_ids_delivered(receiver)
    assert set(delivered) == set(ids)
    # At least once, with the same webhook-id on the attempt made again.
    by_lead: dict[str, set[str]] = {}
    for request in receiver.requests:
        by_lead.setdefault(request.json()["data"]["id"], set()).add(request.headers["webhook-id"])
    assert all(len(webhook_ids) == 1 for webhook_ids in by_lead.values())
    retried = {r.headers["webhook-id"] for r in receiver.requests if r.answered} & cut_short
    assert retried, "no attempt that was cut short was made again"
    assert receiver.unverified == []


def test_the_server_sigtermed_finishes_its_current_attempt_and_exits(
    env: dict[str, str], tmp_path: Path, receiver: Receiver
) -> None:
    receiver.delay = 2.0
    key = setup_endpoint(env, receiver)
    _, answer = sigterm_mid_delivery(env, tmp_path / "server.log", key, 3000, receiver)
    assert delivery_states(env["LEADAPP_DATABASE_URL"]) == {answer.body["id"]: ("delivered", 1)}
    assert receiver.unverified == []
