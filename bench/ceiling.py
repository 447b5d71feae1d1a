"""The ceiling: a bare Flask app whose POST /leads parses the JSON body and answers 201.

Served with LeadApp's own waitress settings, it shows how fast this stack can answer a
POST at all on this machine, so LeadApp's throughput can be read as a fraction of it.
Run as `python -m bench.ceiling --host H --port P --threads N`.
"""

from __future__ import annotations

import os
import sys
import time

from flask import Flask, request

from bench.serve import serve_app, server_parser

# bench/gil.py only: CPU to hold the GIL for (BENCH_HOLD_GIL_MS) or time to wait with it
# released (BENCH_RELEASE_GIL_MS) in every request, to see what that does to the main loop.
HOLD_GIL_MS = "BENCH_HOLD_GIL_MS"
RELEASE_GIL_MS = "BENCH_RELEASE_GIL_MS"


def _hold_gil(seconds: float) -> None:
    """Run Python bytecode (holding the GIL, as a view's own work does) for `seconds` of CPU."""
    end = time.thread_time() + seconds
    total = 0
    while time.thread_time() < end:
        for number in range(500):
            total += number


def create_ceiling_app() -> Flask:
    """A Flask app with one endpoint, POST /leads, doing nothing but parsing the body."""
    app = Flask(__name__)
    hold = float(os.environ.get(HOLD_GIL_MS, "0")) / 1000
    release = float(os.environ.get(RELEASE_GIL_MS, "0")) / 1000

    @app.post("/leads")
    def create_lead() -> tuple[dict[str, object], int]:
        """Parse the JSON body and answer 201 with a small JSON body."""
        body = request.get_json()
        if hold:
            _hold_gil(hold)
        if release:
            time.sleep(release)
        return {"status": "created", "fields": len(body)}, 201

    return app


def main(argv: list[str] | None = None) -> int:
    """Serve the ceiling app with the waitress settings LeadApp is served with."""
    args = server_parser("Serve the benchmark's ceiling app.").parse_args(argv)
    serve_app(create_ceiling_app(), args)
    return 0


if __name__ == "__main__":
    sys.exit(main())
