"""The mail channel's transport: smtplib on a connection each delivery thread keeps alive.

smtp:// is plain SMTP, smtp+starttls:// upgrades with STARTTLS, smtps:// is TLS from the
first byte; the server's certificate is verified against the system's CA store, or against
LEADAPP_SMTP_CA_FILE. An outcome carries the SMTP code and, in our own words, what
happened: the server's text (which may repeat an address) is never kept or logged.
"""

from __future__ import annotations

import contextlib
import re
import smtplib
import socket
import ssl
import time
from dataclasses import dataclass
from email import policy
from urllib.parse import unquote, urlsplit

from leadapp.channels.mail.compose import Envelope
from leadapp.channels.webhook.transport import DeadlineWatcher
from leadapp.outbox.channel import Message, Outcome

DEFAULT_PORTS = {"smtp": 25, "smtp+starttls": 587, "smtps": 465}
# An enhanced status code (RFC 3463) at the start of a reply's text, e.g. 5.1.1.
_ENHANCED = re.compile(rb"\s*([245]\.\d{1,3}\.\d{1,3})\b")


@dataclass(frozen=True)
class SmtpServer:
    """Where and how to connect, from LEADAPP_SMTP_URL (and LEADAPP_SMTP_CA_FILE)."""

    scheme: str
    host: str
    port: int
    user: str | None
    password: str | None
    ca_file: str | None
    timeout: float

    @classmethod
    def from_url(cls, url: str, ca_file: str | None, timeout: float) -> SmtpServer:
        """The server of a URL config.py has checked."""
        parts = urlsplit(url)
        return cls(
            scheme=parts.scheme,
            host=parts.hostname or "",
            port=parts.port or DEFAULT_PORTS[parts.scheme],
            user=unquote(parts.username) if parts.username else None,
            password=unquote(parts.password) if parts.password else None,
            ca_file=ca_file,
            timeout=timeout,
        )

    def tls_context(self) -> ssl.SSLContext:
        """Certificate and host name verified, by the system store or the CA file given."""
        return ssl.create_default_context(cafile=self.ca_file)

    def session(self) -> smtplib.SMTP:
        """A session object, not yet connected (so its socket can be cut while it greets)."""
        if self.scheme == "smtps":
            session: smtplib.SMTP = smtplib.SMTP_SSL(
                timeout=self.timeout, context=self.tls_context()
            )
        else:
            session = smtplib.SMTP(timeout=self.timeout)
        # The name TLS checks the certificate against; smtplib sets it only when the
        # constructor connects, which would read the greeting before the deadline can watch.
        session._host = self.host  # type: ignore[attr-defined]
        return session

    def open(self, session: smtplib.SMTP) -> None:
        """Connect `session`, be greeted, secure it (STARTTLS) and log in as configured."""
        session.connect(self.host, self.port)
        session.ehlo()
        if self.scheme == "smtp+starttls":
            session.starttls(context=self.tls_context())
            session.ehlo()
        if self.user is not None:
            session.login(self.user, self.password or "")


def smtp_outcome(code: int, text: bytes, what: str) -> Outcome:
    """The outcome of an SMTP reply: 2xx delivered, 4xx transient, 5xx permanent."""
    enhanced = _ENHANCED.match(text or b"")
    words = f"SMTP {code}" + (f" {enhanced.group(1).decode()}" if enhanced else "")
    if 200 <= code < 300:
        return Outcome(code, None, delivered=True)
    return Outcome(code, f"{words} ({what})", permanent=500 <= code < 600)


def _wire(envelope: Envelope) -> tuple[str, str, bytes, list[str]]:
    """MAIL FROM and RCPT TO addresses, the message's bytes (CRLF), and the MAIL options."""
    sender, recipient = envelope.sender, envelope.recipient
    if sender.isascii() and recipient.isascii():
        return sender, recipient, envelope.message.as_bytes(policy=policy.SMTP), []
    local, _, domain = recipient.rpartition("@")
    with contextlib.suppress(UnicodeError):
        # An internationalized domain: its ASCII (IDNA) form is what every server routes by.
        recipient = f"{local}@{domain.encode('idna').decode('ascii')}"
    return sender, recipient, envelope.message.as_bytes(policy=policy.SMTPUTF8), ["SMTPUTF8"]


class _Stale(Exception):
    """The kept session was found closed at the first command of a mail: safe to send again."""


class SmtpSender:
    """One delivery thread's SMTP session, kept open between messages and batches."""

    def __init__(self, server: SmtpServer, watcher: DeadlineWatcher) -> None:
        self.server = server
        self.watcher = watcher
        self.session: smtplib.SMTP | None = None

    @property
    def sock(self) -> socket.socket | None:
        """The current session's socket, which the deadline watcher shuts down when due."""
        return getattr(self.session, "sock", None)

    def send(self, message: Message) -> Outcome:
        """Send one mail once; a kept session the server closed meanwhile is reopened once."""
        envelope: Envelope = message.content
        return self.send_envelope(envelope)

    def send_envelope(self, envelope: Envelope) -> Outcome:
        """Send an envelope once (what `send` and `mail test` do), connect to last reply.

        Within LEADAPP_WEBHOOK_TIMEOUT in all: a socket timeout restarts with every byte, so
        a server that trickles is cut by the deadline watcher.
        """
        deadline = time.monotonic() + self.server.timeout
        token = self.watcher.watch(deadline, self)  # type: ignore[arg-type]
        try:
            outcome = self._attempt(envelope)
        finally:
            self.watcher.release(token)
        if not outcome.delivered and time.monotonic() >= deadline:
            self.close()
            return Outcome(None, f"timed out after {self.server.timeout:g} s")
        return outcome

    def _attempt(self, envelope: Envelope) -> Outcome:
        """One attempt: on the kept session, or a new one (also when the kept one was stale)."""
        for reused in (self.session is not None, False):
            try:
                if self.session is None:
                    self.session = self.server.session()
                    self.server.open(self.session)
                return self._transaction(self.session, envelope)
            except _Stale:
                # The server closed the kept session while it was idle: nothing was sent.
                self.close()
                if not reused:
                    return Outcome(None, "connection closed by the SMTP server")
            except smtplib.SMTPServerDisconnected as error:
                self.close()
                # smtplib reports a read that timed out as a disconnection.
                if isinstance(error.__context__, TimeoutError):
                    return Outcome(None, f"timed out after {self.server.timeout:g} s")
                return Outcome(None, "connection closed by the SMTP server")
            except smtplib.SMTPResponseException as error:
                # Refused at the greeting, STARTTLS or login: the session is of no use.
                self.close()
                return smtp_outcome(error.smtp_code, _as_bytes(error.smtp_error), "connect")
            except smtplib.SMTPNotSupportedError:
                self.close()
                return Outcome(None, "the SMTP server does not offer STARTTLS or login")
            except ssl.SSLCertVerificationError:
                self.close()
                return Outcome(None, "TLS certificate not verified")
            except ssl.SSLError:
                self.close()
                return Outcome(None, "TLS error")
            except TimeoutError:
                self.close()
                return Outcome(None, f"timed out after {self.server.timeout:g} s")
            except ConnectionRefusedError:
                self.close()
                return Outcome(None, "connection refused")
            except socket.gaierror:
                self.close()
                return Outcome(None, "host name not resolved")
            except (OSError, smtplib.SMTPException) as error:
                self.close()
                return Outcome(None, f"connection error ({type(error).__name__})")
        return Outcome(None, "connection closed by the SMTP server")

    def _transaction(self, session: smtplib.SMTP, envelope: Envelope) -> Outcome:
        """MAIL, RCPT, DATA on an open session; a refusal resets it for the next mail."""
        sender, recipient, data, options = _wire(envelope)
        try:
            code, text = session.mail(sender, options)
        except smtplib.SMTPServerDisconnected as error:
            if isinstance(error.__context__, TimeoutError):
                raise
            raise _Stale from error
        if code != 250:
            session.rset()
            return smtp_outcome(code, text, "sender refused")
        code, text = session.rcpt(recipient)
        if code not in (250, 251):
            session.rset()
            return smtp_outcome(code, text, "recipient refused")
        try:
            code, text = session.data(data)
        except smtplib.SMTPDataError as error:
            session.rset()
            return smtp_outcome(error.smtp_code, _as_bytes(error.smtp_error), "data refused")
        return smtp_outcome(code, text, "message refused")

    def close(self) -> None:
        """Say QUIT (when the session still answers) and close."""
        session, self.session = self.session, None
        if session is not None:
            with contextlib.suppress(smtplib.SMTPException, OSError):
                session.quit()
            with contextlib.suppress(OSError):
                session.close()


def _as_bytes(value: bytes | str) -> bytes:
    """An SMTP reply text as bytes (smtplib gives either)."""
    return value if isinstance(value, bytes) else value.encode("utf-8", "replace")


class SmtpTransport:
    """One worker's means of sending mail: a kept-alive session per delivery thread, and one
    thread that enforces every attempt's deadline."""

    def __init__(self, server: SmtpServer) -> None:
        self.server = server
        self.watcher = DeadlineWatcher()

    def sender(self) -> SmtpSender:
        """A sender for one delivery thread."""
        return SmtpSender(self.server, self.watcher)

    def stop(self) -> None:
        """Stop the deadline thread."""
        self.watcher.stop()
