"""What a channel is to the outbox: the protocol it implements, and the per-app registry."""

from __future__ import annotations

import uuid
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any, Protocol

from flask import Flask, current_app
from sqlalchemy import Connection

CHANNELS_EXTENSION = "leadapp.outbox.channels"

# What a channel may route an event by, as the code that stores or erases the lead knows it
# from the row it writes (today `{"form": slug}`): a few read-only facts, never the lead's
# personal data, and nothing the channel must query for.
Routing = Mapping[str, Any]


@dataclass(frozen=True)
class Entry:
    """A claimed outbox row: what the mechanism knows of a message (never its content)."""

    id: uuid.UUID
    channel: str
    target_id: uuid.UUID | None
    event: str
    lead_id: uuid.UUID
    attempts: int
    created_at: datetime


@dataclass(frozen=True)
class Message:
    """A claimed entry with the content its channel built for it at the claim."""

    entry: Entry
    # Opaque to the outbox: what the channel's sender needs (a signed body and its URL…).
    content: Any


@dataclass(frozen=True)
class Outcome:
    """What one attempt came to: a status (if the peer answered), an error, a wait asked for."""

    status: int | None
    error: str | None = None
    retry_after: float | None = None
    delivered: bool = False
    # The peer refused for good (an SMTP 5xx): failed at once, no attempt left to spend.
    permanent: bool = False


@dataclass(frozen=True)
class Policy:
    """A channel's delivery rules: how long an attempt may take, how many, how far apart."""

    timeout: float
    max_attempts: int
    retry_seconds: float
    # Whether a batch holds one target's messages (webhook: one endpoint each), or any of the
    # channel's (mail: every mail goes to the one SMTP server, whatever its row).
    batch_per_target: bool = True


class Sender(Protocol):
    """Sends one delivery thread's messages, keeping its connections between them."""

    def send(self, message: Message) -> Outcome:
        """Attempt one message once."""
        ...

    def close(self) -> None:
        """Close what the sender keeps open."""
        ...


class Transport(Protocol):
    """One worker's means of sending on a channel: a sender per delivery thread."""

    def sender(self) -> Sender:
        """A new sender for one delivery thread."""
        ...

    def stop(self) -> None:
        """Release what the transport shares between its senders (the worker stopped)."""
        ...


class Channel(Protocol):
    """A way out of the outbox: webhooks today, mail next. The mechanism calls only these."""

    name: str
    policy: Policy

    def targets(
        self, connection: Connection, event: str, routing: Routing
    ) -> Sequence[uuid.UUID | None]:
        """Whom `event` of a lead with these routing facts goes to now (one outbox row each).

        Read in the caller's transaction, on the hot path of every stored lead: a channel
        answers from what it caches, not with a query per lead.
        """
        ...

    def build(self, connection: Connection, entries: Sequence[Entry]) -> Mapping[uuid.UUID, Any]:
        """The content of each claimed entry, by entry id; an entry left out is cancelled."""
        ...

    def transport(self) -> Transport:
        """A transport for one worker."""
        ...


def register_channel(app: Flask, channel: Channel) -> None:
    """Make `channel` one of the app's ways out: queued to, claimed for, sent by workers."""
    app.extensions.setdefault(CHANNELS_EXTENSION, {})[channel.name] = channel


def app_channels(app: Flask | None = None) -> dict[str, Channel]:
    """The app's channels by name (the current app's by default)."""
    return (app or current_app).extensions.get(CHANNELS_EXTENSION, {})
