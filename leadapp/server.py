"""Serve LeadApp with waitress: `python -m leadapp.server --host H --port P --threads N`."""

from __future__ import annotations

import argparse
import logging
import signal
import sys

from waitress import serve

from leadapp import create_app
from leadapp.config import MAX_BODY_BYTES, ConfigError
from leadapp.webhooks.worker import start_background_worker

DEFAULT_THREADS = 4
WAITRESS_BODY_LIMIT = 4 * MAX_BODY_BYTES


def waitress_settings(threads: int) -> dict[str, object]:
    """The waitress settings LeadApp is served with (tests serve it the same way)."""
    return {
        "threads": threads,
        # waitress would otherwise buffer up to 1 GiB before Flask sees the body. Its
        # bound is above the app's 16 KiB so that the app, not waitress, answers the
        # usual oversized body with a problem document; see ARCHITECTURE.md.
        "max_request_body_size": WAITRESS_BODY_LIMIT,
        "ident": "leadapp",
    }


def main(argv: list[str] | None = None) -> int:
    """Parse arguments, build the app and serve it until interrupted."""
    parser = argparse.ArgumentParser(description="Serve LeadApp with waitress.")
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=8000)
    parser.add_argument("--threads", type=int, default=DEFAULT_THREADS)
    args = parser.parse_args(argv)
    logging.basicConfig(
        level=logging.WARNING, format="%(asctime)s %(levelname)s %(name)s %(message)s"
    )
    logging.getLogger("leadapp").setLevel(logging.INFO)
    try:
        app = create_app()
    except ConfigError as error:
        print(f"leadapp: {error}", file=sys.stderr)
        return 2
    # Minimal until graceful shutdown lands: SIGTERM ends serve() as Ctrl-C does, and the
    # webhook worker then finishes its current attempt before the process exits 0.
    signal.signal(signal.SIGTERM, _raise_system_exit)
    worker = start_background_worker(app)
    try:
        serve(app, host=args.host, port=args.port, **waitress_settings(args.threads))
    finally:
        worker.stop(app.config["LEADAPP_WEBHOOK_TIMEOUT"] + 5)
    return 0


def _raise_system_exit(signum: int, _frame: object) -> None:
    """Turn SIGTERM into SystemExit in the main thread; waitress closes on it."""
    raise SystemExit(0)


if __name__ == "__main__":
    sys.exit(main())
