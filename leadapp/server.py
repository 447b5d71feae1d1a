"""Serve LeadApp with waitress: `python -m leadapp.server --host H --port P --threads N`.

The server runs waitress's event loop itself, so that SIGTERM/SIGINT can stop it
gracefully: stop accepting, let in-flight requests finish (up to
LEADAPP_SHUTDOWN_SECONDS), stop background work, exit 0. See ARCHITECTURE.md, "Stopping".
"""

from __future__ import annotations

import argparse
import logging
import resource
import signal
import sys
import threading
import time
from collections.abc import Callable
from types import FrameType

from flask import Flask
from waitress import wasyncore
from waitress.channel import HTTPChannel
from waitress.server import BaseWSGIServer, create_server

from leadapp import create_app
from leadapp.config import MAX_BODY_BYTES, ConfigError
from leadapp.outbox.worker import Stoppable, start_background_worker
from leadapp.server_logging import configure_logging

log = logging.getLogger("leadapp.server")  # not __main__ under `python -m`

DEFAULT_THREADS = 4
WAITRESS_BODY_LIMIT = 4 * MAX_BODY_BYTES
# Sized for the contract's 1,000 concurrent connections with room to spare; an idle
# connection costs about 3 KiB of RSS (tests/test_server_connections.py measures it).
CONNECTION_LIMIT = 2000
# A connection that sent nothing for IDLE_SECONDS is closed at the next sweep, and sweeps
# run every SWEEP_SECONDS, so none lives past 60 s of silence.
IDLE_SECONDS = 50
SWEEP_SECONDS = 5
# How often the loop looks at the stop flag (and how late a signal is noticed, at most).
LOOP_SECONDS = 0.2
# During the drain an accepted connection that has not sent a byte yet gets this long
# for its request to arrive before it is closed unread.
DRAIN_GRACE_SECONDS = 0.5


# Each entry starts one piece of background work for an app and returns its handle;
# the server starts them after create_app and stops them while it drains.
BackgroundStarter = Callable[[Flask], Stoppable]
BACKGROUND_WORKERS: list[BackgroundStarter] = [start_background_worker]


def waitress_settings(threads: int) -> dict[str, object]:
    """The waitress settings LeadApp is served with (tests serve it the same way)."""
    return {
        "threads": threads,
        # waitress would otherwise buffer up to 1 GiB before Flask sees the body. Its
        # bound is above the app's 16 KiB so that the app, not waitress, answers the
        # usual oversized body with a problem document; see ARCHITECTURE.md.
        "max_request_body_size": WAITRESS_BODY_LIMIT,
        "ident": "leadapp",
        # waitress 3 deletes X-Forwarded-For unless the peer is its single trusted_proxy;
        # leadapp/http/client.py decides instead, by network and hop count.
        "clear_untrusted_proxy_headers": False,
        # Idle and half-sent connections are held by the event loop, not by threads;
        # these bound how many and for how long (waitress: 100, for 120 s, with select()).
        "connection_limit": CONNECTION_LIMIT,
        "channel_timeout": IDLE_SECONDS,
        "cleanup_interval": SWEEP_SECONDS,
        "asyncore_use_poll": True,
        "backlog": 2048,
    }


def raise_file_limit(needed: int) -> int:
    """Raise the soft open-files limit towards `needed` (within the hard limit); return it."""
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    wanted = needed if hard == resource.RLIM_INFINITY else min(needed, hard)
    if soft != resource.RLIM_INFINITY and soft < wanted:
        resource.setrlimit(resource.RLIMIT_NOFILE, (wanted, hard))
        soft = wanted
    return soft


class GracefulServer:
    """A waitress server whose event loop stops on request, after draining its connections."""

    def __init__(
        self, app: Flask, host: str, port: int, threads: int, background: list[Stoppable]
    ) -> None:
        self.app = app
        self.background = background
        self.shutdown_seconds = float(app.config["LEADAPP_SHUTDOWN_SECONDS"])
        self.server = create_server(app, host=host, port=port, **waitress_settings(threads))
        # One listener, or several when the host name resolves to more than one address.
        self.map: dict[int, object] = getattr(self.server, "map", None) or self.server._map
        self.stop_requested = threading.Event()

    def request_stop(self, signum: int, _frame: FrameType | None) -> None:
        """Signal handler: ask the loop to drain and stop (a second signal changes nothing)."""
        self.stop_requested.set()

    def _poll(self) -> None:
        """One pass of waitress's event loop."""
        wasyncore.loop(timeout=LOOP_SECONDS, map=self.map, use_poll=True, count=1)

    def _channels(self) -> list[HTTPChannel]:
        """The open client connections."""
        return [item for item in self.map.values() if isinstance(item, HTTPChannel)]

    def serve(self) -> None:
        """Serve until a stop is requested, then drain and stop."""
        server = self.server  # one listener, or a MultiSocketServer with several
        where = getattr(server, "effective_listen", None) or [
            (server.effective_host, server.effective_port)
        ]  # type: ignore[attr-defined]
        log.info("listening on %s", " ".join(f"http://{host}:{port}" for host, port in where))
        while not self.stop_requested.is_set():
            self._poll()
        self.drain()

    def drain(self) -> None:
        """Stop accepting, finish in-flight requests within the bound, stop background work."""
        started = time.monotonic()
        deadline = started + self.shutdown_seconds
        log.info("stopping: no new connections; draining for up to %.0f s", self.shutdown_seconds)
        # Closing the listening socket refuses new connections at once; the trigger
        # (how task threads wake the loop) stays open until the end.
        for listener in [item for item in self.map.values() if isinstance(item, BaseWSGIServer)]:
            wasyncore.dispatcher.close(listener)
        stopper = threading.Thread(
            target=self.stop_background, args=(deadline,), name="leadapp-stop-background"
        )
        stopper.start()
        while time.monotonic() < deadline:
            channels = self._channels()
            if not channels:
                break
            now = time.time()
            for channel in channels:
                # Idle keep-alive connections are closed; a connection with a request
                # being read, served or written out is left to finish.
                idle = (
                    not channel.requests
                    and channel.request is None
                    and not channel.total_outbufs_len
                    and now - channel.last_activity >= DRAIN_GRACE_SECONDS
                )
                if idle:
                    channel.will_close = True
            self._poll()
        remaining = self._channels()
        if remaining:
            log.warning("stopping: %d connections still busy at the bound", len(remaining))
        stopper.join(timeout=max(0.0, deadline - time.monotonic()) + 1)
        self.server.task_dispatcher.shutdown(cancel_pending=True, timeout=1)
        wasyncore.close_all(self.map)
        log.info("stopped after %.2f s", time.monotonic() - started)

    def stop_background(self, deadline: float) -> None:
        """Stop every background worker not yet stopped, sharing what is left of the bound."""
        while self.background:
            worker = self.background.pop(0)
            try:
                worker.stop(max(0.0, deadline - time.monotonic()))
            except Exception:
                log.exception("stopping: a background worker failed to stop")


def main(argv: list[str] | None = None) -> int:
    """Parse arguments, build the app and serve it until SIGTERM or SIGINT."""
    parser = argparse.ArgumentParser(description="Serve LeadApp with waitress.")
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=8000)
    parser.add_argument("--threads", type=int, default=DEFAULT_THREADS)
    args = parser.parse_args(argv)
    configure_logging()
    try:
        app = create_app()
    except ConfigError as error:
        print(f"leadapp: {error}", file=sys.stderr)
        return 2
    raise_file_limit(CONNECTION_LIMIT + 256)
    server = GracefulServer(app, args.host, args.port, args.threads, [])
    signal.signal(signal.SIGTERM, server.request_stop)
    signal.signal(signal.SIGINT, server.request_stop)
    server.background.extend(start(app) for start in BACKGROUND_WORKERS)
    try:
        server.serve()
    finally:
        # After a drain there is nothing left to stop; after a crash of the loop, this
        # still lets background work finish its step rather than die mid-way.
        server.stop_background(time.monotonic() + server.shutdown_seconds)
    return 0


if __name__ == "__main__":
    sys.exit(main())
