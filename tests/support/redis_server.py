"""A private redis-server: one of the tests' own, on a free port, that a test may stop."""

from __future__ import annotations

import shutil
import subprocess
from pathlib import Path

import redis

from tests.support.processes import stop_process
from tests.support.servers import START_TIMEOUT, STOP_TIMEOUT
from tests.support.waiting import free_port, wait_until


def redis_server_problem() -> str | None:
    """Why a private redis-server can't be started, or None."""
    if shutil.which("redis-server") is None:
        return "redis-server is not on PATH (apt-get install redis-server)"
    return None


class PrivateRedis:
    """A redis-server of our own on a free port, without persistence, that a test may stop."""

    def __init__(self, log_path: Path) -> None:
        self.port = free_port()
        self.log_path = log_path
        self.process: subprocess.Popen[bytes] | None = None

    def url(self, db: int = 0) -> str:
        """Its URL."""
        return f"redis://127.0.0.1:{self.port}/{db}"

    def client(self) -> redis.Redis:
        """A client with short timeouts."""
        return redis.Redis(
            host="127.0.0.1", port=self.port, socket_timeout=2, socket_connect_timeout=2
        )

    def running(self) -> bool:
        """Whether the server process is alive."""
        return self.process is not None and self.process.poll() is None

    def _answers(self) -> bool:
        """Whether it answers PING."""
        try:
            with self.client() as client:
                return bool(client.ping())
        except redis.RedisError:
            return False

    def start(self) -> None:
        """Start it (on the same port every time) and wait for PING."""
        with self.log_path.open("ab") as log:
            self.process = subprocess.Popen(
                [
                    "redis-server",
                    "--port",
                    str(self.port),
                    "--bind",
                    "127.0.0.1",
                    "--save",
                    "",
                    "--appendonly",
                    "no",
                    "--daemonize",
                    "no",
                ],
                stdout=log,
                stderr=subprocess.STDOUT,
                start_new_session=True,
            )
        wait_until(
            lambda: self._answers() or not self.running(), timeout=START_TIMEOUT, what="redis"
        )
        if not self.running():
            raise AssertionError(f"redis-server exited; its log:\n{self.log_path.read_text()}")

    def fresh(self) -> str:
        """Its URL, running (started again if a test stopped it) and empty."""
        if not self.running():
            self.start()
        with self.client() as client:
            client.flushall()
        return self.url()

    def stop(self) -> None:
        """Stop it (SIGTERM, then SIGKILL) and wait until it has exited."""
        stop_process(self.process, STOP_TIMEOUT)
