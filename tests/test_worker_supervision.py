"""Supervised background work, through the real server and the real CLI.

The fault is the one issue 24 found: an endpoint whose secret is under a key the process no
longer has (dropped without `keys rotate`), so building its delivery raises InvalidToken in
the worker's poller, in whatever process runs it.
"""

from __future__ import annotations

import re
from pathlib import Path

import pytest
from cryptography.fernet import Fernet

from leadapp import create_app
from tests.support.builders import lead_payload
from tests.support.client import bearer
from tests.support.processes import flask_command
from tests.support.servers import LeadAppServer, WorkerProcess, leadapp_environment
from tests.support.waiting import wait_until
from tests.support.webhook_receiver import Receiver


@pytest.fixture
def broken(tmp_path: Path, test_keys: dict[str, str], receiver: Receiver) -> dict[str, str]:
    """The environment of a process whose only endpoint's secret it cannot decrypt."""
    old_key, new_key = Fernet.generate_key().decode(), Fernet.generate_key().decode()
    database = f"sqlite:///{tmp_path / 'supervision.sqlite3'}"
    index = {"LEADAPP_BLIND_INDEX_KEY": test_keys["LEADAPP_BLIND_INDEX_KEY"]}
    before = leadapp_environment({**index, "LEADAPP_ENCRYPTION_KEYS": old_key}, database)
    flask_command(before, "db", "upgrade")
    flask_command(before, "webhooks", "add", receiver.url())
    after = leadapp_environment({**index, "LEADAPP_ENCRYPTION_KEYS": new_key}, database)
    after["API_KEY"] = flask_command(after, "apikeys", "create", "partner").stdout.split()[-1]
    return after


def deaths(log: str) -> list[str]:
    """The poller's logged deaths, in order."""
    return re.findall(r"thread outbox-poller died \(([^)]*)", log)


def test_a_dying_worker_is_restarted_and_readyz_names_it(broken, tmp_path: Path) -> None:
    with LeadAppServer(broken, tmp_path / "server.log") as server:
        assert server.request("GET", "/readyz").status == 200
        created = server.request(
            "POST", "/leads", lead_payload(1), headers=bearer(broken["API_KEY"])
        )
        assert created.status == 201
        answer = wait_until(
            lambda: (a := server.request("GET", "/readyz")).status == 503 and a,
            timeout=10,
            what="/readyz to report the worker",
        )
        assert "outbox worker" in answer.body["detail"]
        # Restarted (within 10 s) and dying again: each death is logged with its reason.
        wait_until(lambda: len(deaths(server.log())) >= 3, timeout=20, what="restarts")
        assert all(reason.startswith("InvalidToken") for reason in deaths(server.log()))
        assert "restarting thread outbox-poller" in server.log()
        assert server.request("GET", "/healthz").status == 200  # alive, not ready
        assert server.alive()


def test_a_process_without_a_worker_is_not_judged_by_it(broken, tmp_path: Path) -> None:
    env = {**broken, "LEADAPP_WEBHOOK_WORKER": "off"}
    with LeadAppServer(env, tmp_path / "server.log") as server:
        created = server.request(
            "POST", "/leads", lead_payload(1), headers=bearer(broken["API_KEY"])
        )
        assert created.status == 201
        assert server.request("GET", "/readyz").status == 200


def test_the_worker_command_exits_non_zero_when_it_cannot_run(broken, tmp_path: Path) -> None:
    app = create_app(
        {
            "SQLALCHEMY_DATABASE_URI": broken["LEADAPP_DATABASE_URL"],
            "LEADAPP_ENCRYPTION_KEYS": [broken["LEADAPP_ENCRYPTION_KEYS"]],
            "LEADAPP_BLIND_INDEX_KEY": broken["LEADAPP_BLIND_INDEX_KEY"],
        }
    )
    queued = app.test_client().post(
        "/leads", json=lead_payload(1), headers=bearer(broken["API_KEY"])
    )
    assert queued.status_code == 201
    worker = WorkerProcess(broken, tmp_path / "worker.log")
    try:
        status = worker.process.wait(timeout=40)
    finally:
        worker.kill()
    assert status != 0
    last = worker.log().strip().splitlines()[-1]
    assert last.startswith("Error: webhook worker") and "cannot run" in last, last
    assert "InvalidToken" in last
    assert len(deaths(worker.log())) >= 4
