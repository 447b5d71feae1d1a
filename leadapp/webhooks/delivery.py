"""One delivery attempt: Standard Webhooks signing, a POST with a hard deadline, the backoff."""

from __future__ import annotations

import base64
import contextlib
import hmac
import os
import random
import socket
import ssl
import threading
import time
from dataclasses import dataclass
from datetime import UTC, datetime
from email.utils import parsedate_to_datetime
from urllib.parse import unquote, urlsplit

from urllib3.connection import HTTPConnection, HTTPSConnection
from urllib3.exceptions import HTTPError as Urllib3Error

SECRET_PREFIX = "whsec_"  # noqa: S105  (a prefix, not a secret)
USER_AGENT = "LeadApp"
MAX_DELAY_SECONDS = 6 * 3600.0
# Only the status matters; a receiver's body is read (so the connection ends cleanly) up to
# this much and never stored.
MAX_RESPONSE_BYTES = 64 * 1024
RETRY_AFTER_STATUSES = (429, 503)


def new_secret() -> str:
    """A fresh signing secret: `whsec_` + base64 of 32 random bytes."""
    return SECRET_PREFIX + base64.b64encode(os.urandom(32)).decode("ascii")


def sign(secret: str, message_id: str, timestamp: int, body: bytes) -> str:
    """The `webhook-signature` value: `v1,` + base64 HMAC-SHA256 of `id.timestamp.body`."""
    key = base64.b64decode(secret.removeprefix(SECRET_PREFIX))
    signed = f"{message_id}.{timestamp}.".encode() + body
    return "v1," + base64.b64encode(hmac.digest(key, signed, "sha256")).decode("ascii")


def signed_headers(secret: str, message_id: str, body: bytes, now: float) -> dict[str, str]:
    """Every header of one attempt, signed for this attempt's timestamp."""
    timestamp = int(now)
    return {
        "Content-Type": "application/json",
        "User-Agent": USER_AGENT,
        "webhook-id": message_id,
        "webhook-timestamp": str(timestamp),
        "webhook-signature": sign(secret, message_id, timestamp, body),
    }


@dataclass(frozen=True)
class Outcome:
    """What one attempt came to: the HTTP status (if any answer came) or an error."""

    status: int | None
    error: str | None = None
    retry_after: float | None = None

    @property
    def delivered(self) -> bool:
        """A 2xx answer delivers; anything else is retried."""
        return self.status is not None and 200 <= self.status < 300


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


def backoff_seconds(
    failures: int, base: float, retry_after: float | None = None, rng: random.Random | None = None
) -> float:
    """The wait after the n-th failure: base·2^(n-1), jittered to 0.5-1.5 times, at most 6 hours.

    A receiver's Retry-After is honoured (never waiting less than it asked) up to the cap.
    """
    exponent = min(max(failures, 1) - 1, 40)
    delay = base * 2**exponent * (rng or random).uniform(0.5, 1.5)
    if retry_after is not None:
        delay = max(delay, retry_after)
    return min(delay, MAX_DELAY_SECONDS)


def _cut(connection: HTTPConnection) -> None:
    """Shut the connection's socket down, waking any read or write blocked on it."""
    sock = connection.sock
    if sock is not None:
        with contextlib.suppress(OSError):
            sock.shutdown(socket.SHUT_RDWR)


def post(url: str, body: bytes, headers: dict[str, str], timeout: float) -> Outcome:
    """POST `body` once, never following a redirect; over within `timeout`, connect to last byte.

    A socket timeout bounds each connect and read; a watchdog shuts the socket down at the
    deadline, so a receiver trickling bytes cannot stretch an attempt past it either.
    """
    parts = urlsplit(url)
    target = (parts.path or "/") + (f"?{parts.query}" if parts.query else "")
    connection_class = HTTPSConnection if parts.scheme == "https" else HTTPConnection
    if parts.username is not None:
        # http.client ignores a URL's user:password; receivers that use it expect Basic auth.
        credentials = f"{unquote(parts.username)}:{unquote(parts.password or '')}"
        headers = {
            **headers,
            "Authorization": "Basic " + base64.b64encode(credentials.encode()).decode("ascii"),
        }
    started = time.monotonic()
    try:
        connection = connection_class(parts.hostname or "", parts.port, timeout=timeout)
    except ValueError:
        return Outcome(None, "invalid URL")
    watchdog = threading.Timer(timeout, _cut, args=(connection,))
    watchdog.daemon = True
    watchdog.start()
    try:
        connection.request(
            "POST", target, body=body, headers=headers, preload_content=False, decode_content=False
        )
        response = connection.getresponse()
        response.read(MAX_RESPONSE_BYTES)
        status = response.status
        if time.monotonic() - started >= timeout:
            return Outcome(None, f"timed out after {timeout:g} s")
        retry_after = None
        if status in RETRY_AFTER_STATUSES:
            retry_after = parse_retry_after(response.headers.get("Retry-After"), datetime.now(UTC))
        if 300 <= status < 400:
            return Outcome(status, "redirect (not followed)")
        return Outcome(status, None if 200 <= status < 300 else f"HTTP {status}", retry_after)
    except TimeoutError:
        return Outcome(None, f"timed out after {timeout:g} s")
    except ConnectionRefusedError:
        return Outcome(None, "connection refused")
    except ssl.SSLError:
        return Outcome(None, "TLS error")
    except (OSError, Urllib3Error, ValueError) as error:
        if time.monotonic() - started >= timeout:
            return Outcome(None, f"timed out after {timeout:g} s")
        return Outcome(None, _describe(error))
    finally:
        watchdog.cancel()
        connection.close()


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
