"""The webhook channel's transport: POSTs on kept-alive connections with a hard deadline.

Never follows a redirect; reads at most a little of an answer and never stores it.
"""

from __future__ import annotations

import base64
import contextlib
import heapq
import itertools
import socket
import ssl
import threading
import time
from datetime import UTC, datetime
from email.utils import parsedate_to_datetime
from http.client import HTTPException
from urllib.parse import unquote, urlsplit

from urllib3.connection import HTTPConnection, HTTPSConnection
from urllib3.exceptions import HTTPError as Urllib3Error

from leadapp.outbox.channel import Outcome

# Only the status matters; a receiver's body is read (so the connection ends cleanly) up to
# this much and never stored.
MAX_RESPONSE_BYTES = 64 * 1024
RETRY_AFTER_STATUSES = (429, 503)
QUICKACK: int | None = getattr(socket, "TCP_QUICKACK", None)
# A kept connection idle longer than this is checked before reuse (the receiver may have
# closed it); one used just before is reused unchecked.
IDLE_CHECK_SECONDS = 0.5


def parse_retry_after(value: str | None, now: datetime) -> float | None:
    """Seconds from a Retry-After header (delta-seconds or an HTTP date), or None."""
    if not value:
        return None
    value = value.strip()
    if value.isascii() and value.isdigit():
        return float(value)
    try:
        when = parsedate_to_datetime(value)
    except (TypeError, ValueError, IndexError):
        return None
    if when.tzinfo is None:
        when = when.replace(tzinfo=UTC)
    return max(0.0, (when - now).total_seconds())


def _cut(connection: HTTPConnection) -> None:
    """Shut the connection's socket down, waking any read or write blocked on it."""
    sock = connection.sock
    if sock is not None:
        with contextlib.suppress(OSError):
            sock.shutdown(socket.SHUT_RDWR)


class DeadlineWatcher:
    """One thread that shuts down the socket of every attempt still running at its deadline.

    A socket timeout restarts with every byte, so alone it cannot end an attempt against a
    receiver that trickles; this thread can, without a timer thread per attempt.
    """

    def __init__(self) -> None:
        self._condition = threading.Condition()
        self._heap: list[tuple[float, int, HTTPConnection]] = []
        self._active: set[int] = set()
        self._tokens = itertools.count()
        self._thread: threading.Thread | None = None
        self._stopped = False

    def watch(self, deadline: float, connection: HTTPConnection) -> int:
        """Cut `connection` at `deadline` (monotonic) unless released first; a token."""
        with self._condition:
            token = next(self._tokens)
            heapq.heappush(self._heap, (deadline, token, connection))
            self._active.add(token)
            if self._stopped or self._thread is None or not self._thread.is_alive():
                self._stopped = False
                self._thread = threading.Thread(
                    target=self._run, name="webhook-deadlines", daemon=True
                )
                self._thread.start()
            elif self._heap[0][1] == token:
                self._condition.notify()
        return token

    def release(self, token: int) -> None:
        """The attempt ended: never cut its connection (guaranteed once this returns)."""
        with self._condition:
            self._active.discard(token)

    def stop(self) -> None:
        """End the watcher's thread (a later watch() starts it again)."""
        with self._condition:
            self._stopped = True
            self._condition.notify()
            thread = self._thread
        if thread is not None and thread is not threading.current_thread():
            thread.join(timeout=5)

    def _run(self) -> None:
        """Sleep until the earliest deadline; cut what is still running then."""
        with self._condition:
            while not self._stopped:
                if not self._heap:
                    self._condition.wait()
                    continue
                deadline, token, connection = self._heap[0]
                if token not in self._active:
                    heapq.heappop(self._heap)
                    continue
                wait = deadline - time.monotonic()
                if wait > 0:
                    self._condition.wait(wait)
                    continue
                heapq.heappop(self._heap)
                self._active.discard(token)
                # Under the lock, so release() returning means the cut can no longer come.
                _cut(connection)


_shared_watcher = DeadlineWatcher()

Origin = tuple[str, str, int | None]


class Connections:
    """One delivery thread's kept-alive connections, one per origin, reused across attempts.

    Not thread-safe: each delivery thread owns its own. A connection is kept only after an
    answer whose body was read to its end on a connection the receiver keeps open; any error,
    timeout, `Connection: close` or body over MAX_RESPONSE_BYTES drops it.
    """

    def __init__(self, watcher: DeadlineWatcher | None = None) -> None:
        self.watcher = watcher or _shared_watcher
        # Each kept connection with when its last answer ended (monotonic).
        self._open: dict[Origin, tuple[HTTPConnection, float]] = {}

    def __len__(self) -> int:
        return len(self._open)

    def close(self) -> None:
        """Close every kept connection."""
        for connection, _ in self._open.values():
            connection.close()
        self._open.clear()

    def post(self, url: str, body: bytes, headers: dict[str, str], timeout: float) -> Outcome:
        """POST once, never following a redirect; over within `timeout`, connect to last byte."""
        parts = urlsplit(url)
        target = (parts.path or "/") + (f"?{parts.query}" if parts.query else "")
        if parts.username is not None:
            # http.client ignores a URL's user:password; receivers that use it expect Basic auth.
            credentials = f"{unquote(parts.username)}:{unquote(parts.password or '')}"
            headers = {
                **headers,
                "Authorization": "Basic " + base64.b64encode(credentials.encode()).decode("ascii"),
            }
        try:
            origin: Origin = (parts.scheme, parts.hostname or "", parts.port)
        except ValueError:
            return Outcome(None, "invalid URL")
        deadline = time.monotonic() + timeout
        connection, idle_since = self._open.pop(origin, (None, 0.0))
        # A kept connection the receiver has closed meanwhile reads as ready (EOF). Within a
        # batch the next attempt follows at once, so only one idle a while is polled (a
        # system call, and under a busy GIL a thread switch, saved per delivery); a close
        # that slips through is caught below as a stale connection.
        if (
            connection is not None
            and deadline - timeout - idle_since > IDLE_CHECK_SECONDS
            and not connection.is_connected
        ):
            connection.close()
            connection = None
        while True:
            reused = connection is not None
            if connection is None:
                connection_class = HTTPSConnection if parts.scheme == "https" else HTTPConnection
                try:
                    connection = connection_class(origin[1], origin[2], timeout=timeout)
                except ValueError:
                    return Outcome(None, "invalid URL")
            outcome, keep = self._attempt(connection, target, body, headers, timeout, deadline)
            if keep:
                self._open[origin] = (connection, time.monotonic())
                return outcome
            connection.close()
            if outcome is _STALE:
                if reused and time.monotonic() < deadline:
                    # The receiver closed an idle kept connection as we sent: the request
                    # was not answered; send it once more on a fresh connection.
                    connection = None
                    continue
                return Outcome(None, "connection error (closed by the receiver)")
            return outcome

    def _attempt(
        self,
        connection: HTTPConnection,
        target: str,
        body: bytes,
        headers: dict[str, str],
        timeout: float,
        deadline: float,
    ) -> tuple[Outcome, bool]:
        """One request on `connection`; the outcome and whether the connection can be kept."""
        timed_out = Outcome(None, f"timed out after {timeout:g} s")
        token = self.watcher.watch(deadline, connection)
        response = None
        keep = False
        try:
            connection.timeout = timeout
            if connection.sock is not None:
                connection.sock.settimeout(timeout)
            connection.request(
                "POST",
                target,
                body=body,
                headers=headers,
                preload_content=False,
                decode_content=False,
            )
            _ack_at_once(connection)
            response = connection.getresponse()
            response.read(MAX_RESPONSE_BYTES)
            status = response.status
            # Read to its end, and the receiver keeps the connection (http.client drops the
            # socket itself on `Connection: close` or HTTP/1.0).
            keep = response.closed and connection.sock is not None
            retry_after = None
            if status in RETRY_AFTER_STATUSES:
                retry_after = parse_retry_after(
                    response.headers.get("Retry-After"), datetime.now(UTC)
                )
            if 300 <= status < 400:
                outcome = Outcome(status, "redirect (not followed)")
            else:
                ok = 200 <= status < 300
                outcome = Outcome(status, None if ok else f"HTTP {status}", retry_after, ok)
        except TimeoutError:
            outcome = timed_out
        except ConnectionRefusedError:
            outcome = Outcome(None, "connection refused")
        except ssl.SSLError:
            outcome = Outcome(None, "TLS error")
        except (ConnectionResetError, BrokenPipeError, ConnectionAbortedError):
            outcome = _STALE
        except (OSError, Urllib3Error, ValueError, HTTPException) as error:
            outcome = Outcome(None, _describe(error))
        finally:
            self.watcher.release(token)
        if time.monotonic() >= deadline:
            # Whatever came back, it came too late (or the watcher cut it).
            outcome, keep = timed_out, False
        if not keep and response is not None:
            response.close()
        return outcome, keep


def _ack_at_once(connection: HTTPConnection) -> None:
    """Have Linux acknowledge the answer's first segment at once, not after up to 40 ms.

    Many receivers write an answer's head and body in two sends without TCP_NODELAY; Nagle
    then holds the body back until the head is acknowledged, and a kept-alive connection
    has left the quick-ACK mode a new one starts in. The flag does not stick, so every
    attempt sets it again.
    """
    sock = connection.sock
    if sock is not None and QUICKACK is not None:
        with contextlib.suppress(OSError):
            sock.setsockopt(socket.IPPROTO_TCP, QUICKACK, 1)


# Marks an attempt whose connection was closed under it before any answer.
_STALE = Outcome(None, "connection closed before an answer")


def post(
    url: str,
    body: bytes,
    headers: dict[str, str],
    timeout: float,
    connections: Connections | None = None,
) -> Outcome:
    """POST `body` once, never following a redirect; over within `timeout`, connect to last byte.

    With `connections`, a connection kept alive by an earlier attempt to the same origin is
    reused (and kept again when it can be); without, a fresh one is opened and closed.
    """
    if connections is not None:
        return connections.post(url, body, headers, timeout)
    own = Connections()
    try:
        return own.post(url, body, headers, timeout)
    finally:
        own.close()


def _describe(error: BaseException) -> str:
    """A short, data-free description of a transport error (never the receiver's words)."""
    name = type(error).__name__
    reason = getattr(error, "reason", None) or error.__cause__ or error.__context__
    if isinstance(reason, ConnectionRefusedError):
        return "connection refused"
    if isinstance(reason, TimeoutError):
        return "timed out"
    if isinstance(error, socket.gaierror):
        return "host name not resolved"
    return f"connection error ({name})"
