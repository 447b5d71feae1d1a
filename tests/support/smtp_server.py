"""A real SMTP server on loopback for the mail tests (aiosmtpd), never a mocked smtplib.

It records every message it accepts, and a test can make it refuse (451, 550), answer slowly,
be down (stopped) and come back on the same port, or speak TLS (SMTPS or STARTTLS) with a
self-signed certificate made here, which LeadApp trusts through LEADAPP_SMTP_CA_FILE.
"""

from __future__ import annotations

import asyncio
import contextlib
import email
import email.policy
import socket
import ssl
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from email.message import EmailMessage
from pathlib import Path
from typing import Any

from aiosmtpd.controller import Controller
from aiosmtpd.smtp import SMTP, AuthResult, Envelope, LoginPassword, Session

from tests.support.certificates import self_signed
from tests.support.waiting import free_port

LOOPBACK = "127.0.0.1"


@dataclass(frozen=True)
class Received:
    """One accepted message: its envelope, its bytes, and the session (connection) it came on."""

    sender: str
    recipients: list[str]
    data: bytes
    session: int

    @property
    def message(self) -> EmailMessage:
        """The message parsed with the modern email API."""
        # As a mail program shows it: SMTP's CRLF line ends read as newlines.
        data = self.data.replace(b"\r\n", b"\n")
        return email.message_from_bytes(data, policy=email.policy.default)  # type: ignore[return-value]


class _Handler:
    """aiosmtpd's handler: records, or refuses, or waits, as the server is told."""

    def __init__(self, server: SmtpServer) -> None:
        self.server = server

    async def handle_RCPT(  # noqa: N802 - aiosmtpd calls hooks by this name
        self, server: SMTP, session: Session, envelope: Envelope, address: str, options: list
    ) -> str:
        """Accept the recipient unless told to refuse at RCPT."""
        if self.server.refuse_rcpt:
            return self.server.refuse_rcpt
        envelope.rcpt_tos.append(address)
        return "250 OK"

    async def handle_DATA(  # noqa: N802 - aiosmtpd calls hooks by this name
        self, server: SMTP, session: Session, envelope: Envelope
    ) -> str:
        """Record the message (after the delay), or refuse it with the reply set."""
        with self.server.lock:
            self.server.started += 1
        if self.server.delay:
            await asyncio.sleep(self.server.delay)
        with self.server.lock:
            self.server.attempts += 1
            refusal = self.server.refuse
        if refusal:
            return refusal
        received = Received(
            envelope.mail_from,
            list(envelope.rcpt_tos),
            bytes(envelope.original_content or envelope.content),
            id(session),
        )
        with self.server.lock:
            self.server.messages.append(received)
        return "250 2.0.0 OK queued"


class SmtpServer:
    """aiosmtpd on a loopback port of its own: `mode` plain, `starttls` or `smtps`."""

    def __init__(
        self, tmp_path: Path, mode: str = "plain", login: tuple[str, str] | None = None
    ) -> None:
        self.mode = mode
        # With a (user, password), every mail needs AUTH with them (after STARTTLS).
        self.login = login
        self.port = free_port()
        self.lock = threading.Lock()
        self.messages: list[Received] = []
        # Messages whose DATA began (`started`) and was answered (`attempts`).
        self.started = 0
        self.attempts = 0
        # A full SMTP reply ("451 4.3.0 Try again later") to answer DATA / RCPT with; None: accept.
        self.refuse: str | None = None
        self.refuse_rcpt: str | None = None
        self.delay = 0.0
        self.cert_path: Path | None = None
        self._tls: ssl.SSLContext | None = None
        if mode != "plain":
            self.cert_path, key_path = self_signed(tmp_path, "localhost", "smtp-")
            self._tls = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
            self._tls.load_cert_chain(self.cert_path, key_path)
        self._controller: Controller | None = None

    @property
    def url(self) -> str:
        """The LEADAPP_SMTP_URL of this server."""
        scheme = {"plain": "smtp", "starttls": "smtp+starttls", "smtps": "smtps"}[self.mode]
        return f"{scheme}://{LOOPBACK}:{self.port}"

    def settings(self) -> dict[str, str]:
        """The LEADAPP_* settings that send LeadApp's mail here."""
        found = {"LEADAPP_SMTP_URL": self.url, "LEADAPP_MAIL_FROM": "leads@leadapp.test"}
        if self.cert_path is not None:
            found["LEADAPP_SMTP_CA_FILE"] = str(self.cert_path)
        return found

    def start(self) -> SmtpServer:
        """Listen (again, on the same port)."""
        options: dict[str, Any] = {}
        if self.mode == "smtps":
            options["ssl_context"] = self._tls
        elif self.mode == "starttls":
            options = {"tls_context": self._tls, "require_starttls": True}
        if self.login is not None:
            options.update(auth_required=True, authenticator=self._authenticate)
        self._controller = Controller(
            _Handler(self), hostname=LOOPBACK, port=self.port, ready_timeout=10, **options
        )
        self._controller.start()
        return self

    def _authenticate(
        self, server: SMTP, session: Session, envelope: Envelope, mechanism: str, data: Any
    ) -> AuthResult:
        """AUTH succeeds only with the login this server was given."""
        if not isinstance(data, LoginPassword) or self.login is None:
            return AuthResult(success=False, handled=False)
        given = (data.login.decode(), data.password.decode())
        return AuthResult(success=given == self.login, handled=False)

    def stop(self) -> None:
        """Stop listening and drop every connection (the server is down)."""
        if self._controller is not None:
            self._controller.stop()
            self._controller = None

    def received(self) -> list[Received]:
        """The messages accepted so far."""
        with self.lock:
            return list(self.messages)

    def to(self, address: str) -> list[Received]:
        """The messages accepted for `address`."""
        return [m for m in self.received() if address in m.recipients]

    def __enter__(self) -> SmtpServer:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()


@contextmanager
def trickling_server(interval: float = 0.3) -> Iterator[int]:
    """A port whose server greets without end, one `220-` line every `interval` seconds.

    Every read gets a byte well within any socket timeout, so only a deadline for the whole
    attempt ends it.
    """
    listener = socket.create_server((LOOPBACK, 0))
    stopping = threading.Event()

    def serve() -> None:
        with contextlib.suppress(OSError):
            connection, _ = listener.accept()
            with connection:
                while not stopping.wait(interval):
                    connection.sendall(b"220-still greeting\r\n")

    thread = threading.Thread(target=serve, daemon=True)
    thread.start()
    try:
        yield listener.getsockname()[1]
    finally:
        stopping.set()
        listener.close()
        thread.join(timeout=5)
