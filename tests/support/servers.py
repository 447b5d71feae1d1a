"""The one way to start a real waitress server with LeadApp's own settings.

`LeadAppServer` runs the production command (`python -m leadapp.server`, or another
module serving with the same settings) in a process of its own; `ThreadedServer` serves
an app object a test built (configuration overrides, direct database access) with the
same `waitress_settings` in a background thread.
"""

from __future__ import annotations

import contextlib
import http.client
import os
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Iterator, Mapping, Sequence
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from flask import Flask
from waitress.server import create_server

from leadapp.server import waitress_settings
from tests.support.builders import lead_payload
from tests.support.client import Answer, bearer, http_request
from tests.support.observed import SUITE as OBSERVED
from tests.support.processes import REPO_ROOT, signal_group, stop_process
from tests.support.waiting import free_port, wait_until
from tests.support.webhook_receiver import Receiver

START_TIMEOUT = 30.0
STOP_TIMEOUT = 10.0
THREADS = 8


def leadapp_environment(
    keys: Mapping[str, str], database_url: str, **settings: str
) -> dict[str, str]:
    """The environment of a LeadApp process: no inherited LEADAPP_* settings, shared keys."""
    env = {name: value for name, value in os.environ.items() if not name.startswith("LEADAPP_")}
    env.update(
        {
            "LEADAPP_ENV": "production",
            "LEADAPP_DATABASE_URL": database_url,
            "PYTHONUNBUFFERED": "1",
            **keys,
            **settings,
        }
    )
    return env


class LeadAppServer:
    """One `python -m MODULE --host --port --threads` process on a free loopback port.

    MODULE is `leadapp.server` unless given; `ready_status` is the /healthz status that
    means "up" (None: any HTTP answer, for apps without /healthz).
    """

    def __init__(
        self,
        env: Mapping[str, str],
        log_path: Path,
        *,
        module: str = "leadapp.server",
        threads: int = THREADS,
        command_prefix: Sequence[str] = (),
        ready_status: int | None = 200,
        python: str = sys.executable,
    ) -> None:
        self.env = dict(env)
        self.python = python
        self.log_path = log_path
        self.module = module
        self.threads = threads
        self.command_prefix = list(command_prefix)
        self.ready_status = ready_status
        self.port = 0
        self.process: subprocess.Popen[bytes] | None = None

    @property
    def pid(self) -> int:
        """The server's process id."""
        assert self.process is not None, "the server was not started"
        return self.process.pid

    @property
    def url(self) -> str:
        """The server's base URL."""
        return f"http://127.0.0.1:{self.port}"

    def alive(self) -> bool:
        """Whether the process is still running."""
        return self.process is not None and self.process.poll() is None

    def log(self) -> str:
        """Everything the server wrote to stdout and stderr so far."""
        try:
            return self.log_path.read_text(encoding="utf-8", errors="replace")
        except FileNotFoundError:
            return ""

    def start(self) -> LeadAppServer:
        """Start the process and wait until /healthz answers (a taken port is retried)."""
        for _attempt in range(3):
            self.port = free_port()
            with self.log_path.open("ab") as log:
                self.process = subprocess.Popen(
                    [
                        *self.command_prefix,
                        self.python,
                        "-m",
                        self.module,
                        "--host",
                        "127.0.0.1",
                        "--port",
                        str(self.port),
                        "--threads",
                        str(self.threads),
                    ],
                    env=self.env,
                    cwd=REPO_ROOT,
                    stdout=log,
                    stderr=subprocess.STDOUT,
                    start_new_session=True,
                )
            if self._wait_ready():
                return self
            self.stop()
            if "address already in use" not in self.log().lower():
                break
        raise AssertionError(f"{self.module} did not become ready; its log:\n{self.log()[-4000:]}")

    def _wait_ready(self) -> bool:
        """Poll /healthz until it answers as expected, the process dies or START_TIMEOUT passes."""
        deadline = time.monotonic() + START_TIMEOUT
        while time.monotonic() < deadline:
            if not self.alive():
                return False
            try:
                status = self.request("GET", "/healthz", timeout=2).status
            except (OSError, http.client.HTTPException):
                # Not listening yet. HTTPException too: a connect to a loopback port nobody
                # listens on can, rarely, connect the socket to itself (TCP simultaneous
                # open) and read back its own request as the answer.
                pass
            else:
                if self.ready_status is None or status == self.ready_status:
                    return True
            time.sleep(0.05)
        return False

    def request(self, method: str, path: str, body: Any = None, **options: Any) -> Answer:
        """Send one request to this server (see http_request)."""
        return http_request(self.port, method, path, body, **options)

    def kill(self) -> None:
        """Kill the process outright (SIGKILL): a crash, with no chance to finish anything."""
        assert self.process is not None
        signal_group(self.process, signal.SIGKILL)
        self.process.wait(timeout=STOP_TIMEOUT)
        OBSERVED.read_access_log(self.log())

    def stop(self) -> None:
        """Terminate the process (SIGTERM to its session), killing it if it lingers."""
        stop_process(self.process, STOP_TIMEOUT)
        OBSERVED.read_access_log(self.log())  # what the suite saw, for conftest's OpenAPI check

    def __enter__(self) -> LeadAppServer:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()


@contextmanager
def leadapp_servers(
    count: int, env: Mapping[str, str], log_dir: Path, **options: Any
) -> Iterator[list[LeadAppServer]]:
    """Start `count` servers with one environment; stop them all on exit, whatever happened."""
    servers: list[LeadAppServer] = []
    try:
        for n in range(count):
            server = LeadAppServer(env, log_dir / f"server-{len(servers)}-{n}.log", **options)
            servers.append(server)
            server.start()
        yield servers
    finally:
        for server in servers:
            server.stop()


def unhandled_errors(servers: list[LeadAppServer]) -> list[str]:
    """Log lines of 500s (unhandled errors) from any of the servers."""
    return [
        line
        for server in servers
        for line in server.log().splitlines()
        if "unhandled error" in line or '"status": 500' in line
    ]


def sigterm_mid_delivery(
    env: Mapping[str, str], log_path: Path, key: str, n: int, receiver: Receiver
) -> tuple[LeadAppServer, Answer]:
    """POST lead `n` to a new server and SIGTERM it while the receiver holds its webhook.

    The graceful stop's contract: the server finishes the attempt under way, which the
    receiver answers 200, and exits 0. Returns the stopped server (for its log) and the
    answer to the POST.
    """
    server = LeadAppServer(env, log_path).start()
    try:
        answer = server.request("POST", "/leads", lead_payload(n), headers=bearer(key))
        assert answer.status == 201
        wait_until(lambda: receiver.requests, timeout=10, what="the attempt to start")
        assert server.process is not None
        server.process.terminate()
        assert server.process.wait(timeout=15) == 0, server.log()
    finally:
        server.stop()
    assert [r.answered for r in receiver.requests] == [200]
    return server, answer


class ThreadedServer:
    """An app object served by waitress, with LeadApp's settings, in a background thread."""

    def __init__(self, app: Flask, threads: int = THREADS) -> None:
        self.app = app  # pytest-flask reads this when a test uses `live_server`
        self.server = create_server(app, host="127.0.0.1", port=0, **waitress_settings(threads))
        self.port = self.server.effective_port
        self.thread = threading.Thread(target=self.server.run, daemon=True)

    @property
    def url(self) -> str:
        """The server's base URL."""
        return f"http://127.0.0.1:{self.port}"

    def __enter__(self) -> ThreadedServer:
        self.thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.server.close()
        self.thread.join(timeout=5)

    def request(self, method: str, path: str, body: Any = None, **options: Any) -> Answer:
        """Send one request to this server (see http_request)."""
        return http_request(self.port, method, path, body, **options)


class WorkerProcess:
    """One `flask --app leadapp webhooks worker` process in a session of its own."""

    def __init__(self, env: dict[str, str], log_path: Path) -> None:
        self.log_path = log_path
        with log_path.open("ab") as log:
            self.process = subprocess.Popen(
                [sys.executable, "-m", "flask", "--app", "leadapp", "webhooks", "worker"],
                env=env,
                cwd=REPO_ROOT,
                stdout=log,
                stderr=subprocess.STDOUT,
                start_new_session=True,
            )
        wait_until(
            lambda: "delivering" in self.log() or self.process.poll() is not None,
            timeout=30,
            what="the worker to start",
        )
        assert self.process.poll() is None, self.log()

    def log(self) -> str:
        """What it wrote so far."""
        return self.log_path.read_text(encoding="utf-8", errors="replace")

    def kill(self) -> None:
        """SIGKILL: a crash, mid-whatever."""
        with contextlib.suppress(ProcessLookupError):
            os.killpg(self.process.pid, signal.SIGKILL)
        self.process.wait(timeout=10)

    def stop(self) -> int:
        """SIGTERM, and its exit status."""
        if self.process.poll() is None:
            os.killpg(self.process.pid, signal.SIGTERM)
        try:
            return self.process.wait(timeout=20)
        except subprocess.TimeoutExpired:
            self.kill()
            raise
