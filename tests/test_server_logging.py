"""The server process's logging: waitress's queue-depth warning summarized, not one per request."""

from __future__ import annotations

import logging
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

from leadapp.server_logging import QUEUE_LOGGER, QueueDepthSummary
from tests.support.builders import lead_payload
from tests.support.deployment import served


def _record(depth: int) -> logging.LogRecord:
    return logging.LogRecord(
        QUEUE_LOGGER, logging.WARNING, __file__, 1, "Task queue depth is %d", (depth,), None
    )


def test_one_queue_line_per_period_carrying_the_deepest_queue() -> None:
    summary = QueueDepthSummary(period=3600)
    first = _record(1)
    assert summary.filter(first)
    assert first.getMessage().startswith("Task queue depth is 1 ")
    assert not any(summary.filter(_record(depth)) for depth in (4, 9, 2))
    summary._next = 0.0  # the period is over
    later = _record(3)
    assert summary.filter(later)
    assert later.getMessage().startswith("Task queue depth is 9 ")


def test_a_burst_on_a_busy_server_logs_the_queue_once(tmp_path: Path, test_keys) -> None:
    with served(tmp_path, test_keys, threads=1) as (server,):

        def post(n: int) -> int:
            source_ip = f"127.3.0.{n + 1}"
            return server.request("POST", "/leads", lead_payload(n), source_ip=source_ip).status

        with ThreadPoolExecutor(max_workers=24) as pool:
            statuses = list(pool.map(post, range(48)))
        log = server.log_path.read_text()
    assert statuses == [201] * 48
    queue_lines = [line for line in log.splitlines() if "Task queue depth" in line]
    assert len(queue_lines) == 1, queue_lines
    assert log.count("leadapp.access") >= 48


def test_the_server_logs_where_it_listens(tmp_path: Path, test_keys) -> None:
    with served(tmp_path, test_keys, threads=1) as (server,):
        log = server.log_path.read_text()
    assert f"listening on http://127.0.0.1:{server.port}" in log
