"""Mail across real processes on one PostgreSQL: two workers, and a worker killed mid-send."""

from __future__ import annotations

import time
from collections import Counter
from collections.abc import Callable
from pathlib import Path

import pytest

from tests.support.mail import OWNER, held_notifications, mail_rows, put_notify_form
from tests.support.postgres import empty_tables
from tests.support.processes import flask_command
from tests.support.servers import WorkerProcess, leadapp_environment, leadapp_servers
from tests.support.smtp_server import SmtpServer
from tests.support.waiting import wait_until
from tests.test_webhooks_postgres import post_leads

pytestmark = [pytest.mark.postgres, pytest.mark.slow]

StartWorker = Callable[[dict[str, str], str], WorkerProcess]


@pytest.fixture
def smtp(tmp_path: Path):
    """A plain SMTP server that accepts everything until told otherwise."""
    with SmtpServer(tmp_path) as server:
        yield server


@pytest.fixture
def env(schema_url: str, test_keys: dict[str, str], smtp: SmtpServer) -> dict[str, str]:
    """Every process's environment, on the emptied schema, with a form notifying OWNER."""
    empty_tables(schema_url)
    env = leadapp_environment(
        test_keys,
        schema_url,
        LEADAPP_RATELIMIT_LEADS="1000 per minute",
        LEADAPP_WEBHOOK_RETRY_SECONDS="0.5",
        LEADAPP_WEBHOOK_TIMEOUT="5",
        **smtp.settings(),
    )
    put_notify_form(env, "default", OWNER)
    return env


def _api_key(env: dict[str, str]) -> str:
    """A new API key (posting with it skips the per-IP limits)."""
    return flask_command(env, "apikeys", "create", "partner").stdout.strip().splitlines()[-1]


def _message_ids(smtp: SmtpServer) -> Counter[str]:
    """How many times each Message-ID was accepted."""
    return Counter(m.message["Message-ID"] for m in smtp.received())


def test_two_workers_and_two_servers_send_each_mail_once_within_the_cap(
    env: dict[str, str], tmp_path: Path, smtp: SmtpServer, start_worker_process: StartWorker
) -> None:
    smtp.delay = 0.02
    key = _api_key(env)
    with leadapp_servers(2, env, tmp_path) as servers:
        workers = [start_worker_process(env, f"worker-{n}") for n in range(2)]
        post_leads(servers, key, 40, 5000)
        wait_until(lambda: len(smtp.received()) >= 30, timeout=30, what="30 mails")
        time.sleep(3)  # a duplicate would show up by now
        assert [w.stop() for w in workers] == [0, 0]
    # 40 leads at once through two servers: the default cap of 30 an hour holds exactly,
    # the other 10 wait for the hour's digest.
    ids = _message_ids(smtp)
    assert len(ids) == 30 and set(ids.values()) == {1}
    assert len(held_notifications(env["LEADAPP_DATABASE_URL"])) == 10
    assert {(r["status"], r["attempts"]) for r in mail_rows(env["LEADAPP_DATABASE_URL"])} == {
        ("delivered", 1)
    }


def test_a_killed_workers_claimed_mails_are_sent_by_another(
    env: dict[str, str], tmp_path: Path, smtp: SmtpServer, start_worker_process: StartWorker
) -> None:
    smtp.delay = 3.0  # under the 5-second timeout: slow, not failing
    env = {**env, "LEADAPP_WEBHOOK_WORKER": "off"}
    key = _api_key(env)
    with leadapp_servers(1, env, tmp_path) as servers:
        victim = start_worker_process(env, "victim")
        post_leads(servers, key, 20, 6000)
        wait_until(lambda: smtp.started >= 2, timeout=20, what="mails being sent")
        victim.kill()
        smtp.delay = 0.0
        killed_at = time.monotonic()
        successor = start_worker_process(env, "successor")
        url = env["LEADAPP_DATABASE_URL"]
        wait_until(
            lambda: {r["status"] for r in mail_rows(url)} == {"delivered"},
            timeout=70,
            what="every mail delivered",
        )
        assert time.monotonic() - killed_at < 60
        assert successor.stop() == 0
    expected = {f"<{row['id'].replace('-', '')}@leadapp.test>" for row in mail_rows(url)}
    # At least once: a mail cut short by the crash may have arrived too, with the same id.
    assert set(_message_ids(smtp)) == expected and len(expected) == 20
