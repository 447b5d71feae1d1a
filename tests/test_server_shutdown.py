"""Graceful stop: SIGTERM under load drains in-flight requests, stops background work, exits 0."""

from __future__ import annotations

import json
import os
import signal
import socket
import threading
import time
from pathlib import Path

import pytest
from flask import Flask

from leadapp.server import GracefulServer
from tests.support.builders import lead_payload
from tests.support.deployment import served
from tests.support.load import LoadGenerator
from tests.support.stored import read_leads
from tests.support.waiting import wait_until

SHUTDOWN_SECONDS = 10


def half_sent_post(port: int, n: int) -> tuple[socket.socket, bytes]:
    """Open a connection and send a POST /leads whose body is only half there; return the rest."""
    body = json.dumps(lead_payload(n)).encode()
    head = (
        f"POST /leads HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Type: application/json\r\n"
        f"Content-Length: {len(body)}\r\nConnection: close\r\n\r\n"
    ).encode()
    sock = socket.create_connection(("127.0.0.1", port), timeout=20)
    sock.sendall(head + body[: len(body) // 2])
    return sock, body[len(body) // 2 :]


def read_response(sock: socket.socket) -> tuple[int, dict]:
    """Read a whole response (the server closes the connection); its status and JSON body."""
    data = b""
    while chunk := sock.recv(65536):
        data += chunk
    head, _, body = data.partition(b"\r\n\r\n")
    return int(head.split()[1]), json.loads(body)


@pytest.mark.slow
@pytest.mark.postgres
@pytest.mark.parametrize("database_url", ["postgresql"], indirect=True)
def test_sigterm_under_load_loses_no_request(
    tmp_path: Path, test_keys: dict[str, str], database_url: str
) -> None:
    """No 5xx, gone within the bound, exit 0, and stored leads == the 201s clients got."""
    with served(
        tmp_path,
        test_keys,
        database_url=database_url,
        LEADAPP_SHUTDOWN_SECONDS=str(SHUTDOWN_SECONDS),
    ) as (server,):
        with LoadGenerator([server], lead_payload, workers=12) as load:
            wait_until(lambda: load.count(201) >= 40, timeout=60, what="40 leads created")
            # A request the server is still reading when the signal comes must be served.
            slow, rest = half_sent_post(server.port, 9_000_001)
            time.sleep(0.2)
            signalled = time.monotonic()
            os.kill(server.pid, signal.SIGTERM)
            time.sleep(0.3)
            os.kill(server.pid, signal.SIGTERM)  # a second one changes nothing
            time.sleep(0.5)
            slow.sendall(rest)
            slow_status, slow_body = read_response(slow)
            slow.close()
            exit_code = server.process.wait(timeout=SHUTDOWN_SECONDS + 5)
            exit_seconds = time.monotonic() - signalled
        answers = list(load.answers)
    statuses = [a.status for _, _, a in answers if not isinstance(a, BaseException)]
    errors = [type(a).__name__ for _, _, a in answers if isinstance(a, BaseException)]
    created = {a.body["id"] for _, _, a in answers if not isinstance(a, BaseException)
               and a.status == 201}  # fmt: skip
    assert slow_status == 201
    created.add(slow_body["id"])
    stored = {lead["id"] for lead in read_leads(database_url, test_keys)}
    print(
        f"SIGTERM under load: {len(answers)} requests, {statuses.count(201)} answered 201 "
        f"(+1 half-sent at the signal), {len(errors)} refused connections after it "
        f"({sorted(set(errors))}), {len(stored)} leads stored, exit {exit_code} "
        f"after {exit_seconds:.2f} s"
    )
    log_tail = server.log()[-3000:]
    assert exit_code == 0, log_tail
    assert exit_seconds <= SHUTDOWN_SECONDS + 1, log_tail
    assert [s for s in statuses if s >= 500] == [], log_tail
    assert set(statuses) == {201}, sorted(set(statuses))
    assert stored == created, (sorted(stored - created), sorted(created - stored))
    assert "stopped after" in log_tail


class RecordingWorker:
    """A stand-in background worker: one step at a time until told to stop."""

    def __init__(self) -> None:
        self.stop_timeouts: list[float] = []
        self.stopped = threading.Event()

    def stop(self, timeout: float) -> None:
        """Record the bound given and stop."""
        self.stop_timeouts.append(timeout)
        self.stopped.set()


def test_background_workers_are_stopped_within_the_drain(make_app) -> None:
    app: Flask = make_app(LEADAPP_SHUTDOWN_SECONDS=3)
    worker = RecordingWorker()
    server = GracefulServer(app, "127.0.0.1", 0, 2, [worker])
    thread = threading.Thread(target=server.serve)
    thread.start()
    try:
        port = server.server.effective_port
        with socket.create_connection(("127.0.0.1", port), timeout=5) as sock:
            sock.sendall(b"GET /healthz HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n")
            assert b"200 OK" in sock.recv(4096)
        server.request_stop(signal.SIGTERM, None)
        thread.join(timeout=5)
        assert not thread.is_alive()
        assert worker.stopped.is_set() and len(worker.stop_timeouts) == 1
        assert 0 < worker.stop_timeouts[0] <= 3
        with pytest.raises(OSError):
            socket.create_connection(("127.0.0.1", port), timeout=1)
    finally:
        server.request_stop(signal.SIGTERM, None)
        thread.join(timeout=5)
