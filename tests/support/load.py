"""A load generator: threads posting distinct valid leads to running servers."""

from __future__ import annotations

import http.client
import threading
import time
from collections.abc import Callable
from typing import Any

from tests.support.client import Answer
from tests.support.servers import LeadAppServer


class LoadGenerator:
    """Threads posting distinct valid leads to servers until stopped, recording every answer."""

    def __init__(
        self, servers: list[LeadAppServer], make_body: Callable[[int], dict[str, Any]], workers: int
    ) -> None:
        self.servers = servers
        self.make_body = make_body
        self.answers: list[tuple[dict[str, Any], str, Answer | BaseException]] = []
        self._lock = threading.Lock()
        self._stop = threading.Event()
        self._counter = 0
        self._threads = [threading.Thread(target=self._work, daemon=True) for _ in range(workers)]

    def _next(self) -> int:
        """A number no other request uses."""
        with self._lock:
            self._counter += 1
            return self._counter

    def _work(self) -> None:
        """Post leads round-robin until stopped."""
        while not self._stop.is_set():
            n = self._next()
            body = self.make_body(n)
            source_ip = f"127.1.{n // 250}.{n % 250 + 1}"
            server = self.servers[n % len(self.servers)]
            try:
                answer: Answer | BaseException = server.request(
                    "POST", "/leads", body, source_ip=source_ip, timeout=20
                )
            except (OSError, http.client.HTTPException) as error:
                answer = error
            with self._lock:
                self.answers.append((body, source_ip, answer))
            time.sleep(0.01)

    def __enter__(self) -> LoadGenerator:
        for thread in self._threads:
            thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        for thread in self._threads:
            thread.join(timeout=30)

    def statuses(self) -> list[int | str]:
        """Every status so far (an exception's class name where no answer came)."""
        with self._lock:
            return [
                a.status if isinstance(a, Answer) else type(a).__name__ for _, _, a in self.answers
            ]

    def count(self, status: int) -> int:
        """How many answers had this status."""
        return sum(1 for s in self.statuses() if s == status)
