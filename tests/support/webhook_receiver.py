"""Webhook test support: a real receiver on loopback that verifies every signature, and the
endpoint and delivery rows as an operator sees them.

Verification uses the `standardwebhooks` package, an implementation independent of ours.
"""

from __future__ import annotations

import json
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

from flask import Flask
from sqlalchemy import select
from standardwebhooks.webhooks import Webhook

from leadapp.extensions import db
from leadapp.models.outbox import OutboxMessage


@dataclass
class Received:
    """One request as the receiver saw it."""

    at: float
    path: str
    headers: dict[str, str]
    body: bytes
    answered: int | None = None
    # Which TCP connection it came on: 1 for the receiver's first, 2 for its second...
    connection: int = 0

    def json(self) -> Any:
        """The body, parsed."""
        return json.loads(self.body)


Behaviour = Callable[["Received", int], tuple[int, dict[str, str]]]


def always(status: int) -> Behaviour:
    """Answer every request with `status`."""
    return lambda _request, _n: (status, {})


def in_turn(*statuses: int) -> Behaviour:
    """Answer the n-th request with the n-th status (the last one from then on)."""
    return lambda _request, n: (statuses[min(n, len(statuses) - 1)], {})


@dataclass
class Receiver:
    """A real HTTP server on loopback that records every request and verifies its signature."""

    behaviour: Behaviour = field(default_factory=lambda: always(200))
    secret: str | None = None
    delay: float = 0.0
    requests: list[Received] = field(default_factory=list)
    unverified: list[str] = field(default_factory=list)
    # TCP connections accepted so far (a kept-alive connection carries many requests).
    connections: int = 0

    def __post_init__(self) -> None:
        self._lock = threading.Lock()
        receiver = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def setup(self) -> None:
                super().setup()
                with receiver._lock:
                    receiver.connections += 1
                    self.connection_number = receiver.connections

            def do_POST(self) -> None:
                body = self.rfile.read(int(self.headers.get("Content-Length", "0")))
                headers = {k.lower(): v for k, v in self.headers.items()}
                request = Received(
                    time.monotonic(), self.path, headers, body, connection=self.connection_number
                )
                with receiver._lock:
                    n = len(receiver.requests)
                    receiver.requests.append(request)
                receiver._verify(request)
                if receiver.delay:
                    time.sleep(receiver.delay)
                status, headers = receiver.behaviour(request, n)
                self.send_response(status)
                for name, value in headers.items():
                    self.send_header(name, value)
                self.send_header("Content-Length", "2")
                self.end_headers()
                self.wfile.write(b"ok")
                request.answered = status

            def log_message(self, *args: Any) -> None:
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.server.daemon_threads = True
        self.port = self.server.server_address[1]
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)
        self.thread.start()

    def url(self, path: str = "/hook") -> str:
        """The URL of a path on this receiver."""
        return f"http://127.0.0.1:{self.port}{path}"

    def _verify(self, request: Received) -> None:
        """Check the request against Standard Webhooks, as a receiver would."""
        if self.secret is None:
            return
        try:
            Webhook(self.secret).verify(request.body, request.headers)
        except Exception as error:
            self.unverified.append(f"{request.headers.get('webhook-id')}: {error}")
        if request.headers.get("user-agent") != "LeadApp":
            self.unverified.append("User-Agent is not LeadApp")
        if request.headers.get("content-type") != "application/json":
            self.unverified.append("Content-Type is not application/json")

    def answered(self, status: int) -> list[Received]:
        """The requests answered with `status`."""
        with self._lock:
            return [r for r in self.requests if r.answered == status]

    def close(self) -> None:
        """Stop serving."""
        self.server.shutdown()
        self.server.server_close()


def add_endpoint(
    app: Flask, url: str, *events: str, forms: tuple[str, ...] = ()
) -> tuple[str, str]:
    """`webhooks add` (for some forms) through the CLI; return the printed id and secret."""
    args = ["webhooks", "add", url]
    for event in events:
        args += ["--event", event]
    for form in forms:
        args += ["--form", form]
    result = app.test_cli_runner().invoke(args=args)
    assert result.exit_code == 0, result.output
    lines = result.output.strip().splitlines()
    endpoint_id = lines[0].split()[2]
    return endpoint_id, lines[-1]


def delivery_rows(app: Flask) -> list[dict[str, Any]]:
    """Every webhook delivery row of the outbox, oldest first."""
    outbox = OutboxMessage.__table__
    with app.app_context(), db.engine.connect() as connection:
        rows = connection.execute(
            select(outbox).where(outbox.c.channel == "webhook").order_by(outbox.c.created_at)
        ).all()
    return [row._asdict() for row in rows]
