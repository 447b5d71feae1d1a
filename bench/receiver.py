"""A webhook receiver for the bench: answers 200 to every POST and keeps arrival times.

`python -m bench.receiver --port P` serves on 127.0.0.1 (run pinned to the client core).
For every POST it records when it arrived and how long after the payload's `timestamp`
(taken in the lead's transaction, just before the commit) that was; it does not verify
signatures (the tests do that), so that the receiver costs as little CPU as possible.
`GET /stats` answers with what was recorded so far, as JSON.
"""

from __future__ import annotations

import argparse
import json
import sys
import threading
import time
from datetime import datetime
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any


class Recorder:
    """Arrival times and commit-to-arrival delays, shared by the handler threads."""

    def __init__(self) -> None:
        self.lock = threading.Lock()
        self.arrivals: list[float] = []
        self.delays_ms: list[float] = []
        self.unparsed = 0

    def add(self, body: bytes) -> None:
        """Record one delivery that arrived now."""
        now = time.time()
        try:
            stamp = datetime.fromisoformat(json.loads(body)["timestamp"]).timestamp()
        except (ValueError, KeyError, TypeError):
            stamp = None
        with self.lock:
            self.arrivals.append(now)
            if stamp is None:
                self.unparsed += 1
            else:
                self.delays_ms.append((now - stamp) * 1000)

    def stats(self) -> dict[str, Any]:
        """Everything recorded so far."""
        with self.lock:
            return {
                "count": len(self.arrivals),
                "first_at": self.arrivals[0] if self.arrivals else None,
                "last_at": self.arrivals[-1] if self.arrivals else None,
                "arrivals": list(self.arrivals),
                "delays_ms": list(self.delays_ms),
                "unparsed": self.unparsed,
            }


def make_handler(recorder: Recorder) -> type[BaseHTTPRequestHandler]:
    """The request handler class, bound to a recorder."""

    class Handler(BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"

        def do_POST(self) -> None:
            body = self.rfile.read(int(self.headers.get("Content-Length", "0")))
            recorder.add(body)
            self._answer(200, b"ok", "text/plain")

        def do_GET(self) -> None:
            if self.path != "/stats":
                self._answer(404, b"not found", "text/plain")
                return
            self._answer(200, json.dumps(recorder.stats()).encode(), "application/json")

        def _answer(self, status: int, body: bytes, content_type: str) -> None:
            self.send_response(status)
            self.send_header("Content-Type", content_type)
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        def log_message(self, format: str, *args: Any) -> None:
            """No line per request: the bench counts them instead."""

    return Handler


def main(argv: list[str] | None = None) -> int:
    """Serve until terminated."""
    parser = argparse.ArgumentParser(description="The bench's webhook receiver.")
    parser.add_argument("--port", type=int, required=True)
    args = parser.parse_args(argv)
    server = ThreadingHTTPServer(("127.0.0.1", args.port), make_handler(Recorder()))
    server.daemon_threads = True
    print(f"receiving on http://127.0.0.1:{args.port}", flush=True)
    server.serve_forever()
    return 0


if __name__ == "__main__":
    sys.exit(main())
