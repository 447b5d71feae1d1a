"""The webhook channel as the outbox sees it: subscribers, bodies built at the claim, POSTs.

`lead.created` carries the lead as its 201 answered it, read (and decrypted) from the leads
table when the delivery is claimed, so the queue never holds a copy of it and every attempt
sends the same bytes; `lead.erased` carries only the id.
"""

from __future__ import annotations

import json
import threading
import time
import uuid
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from flask import current_app
from sqlalchemy import Connection, select

from leadapp.channels.webhook.signing import signed_headers
from leadapp.channels.webhook.transport import Connections, DeadlineWatcher
from leadapp.models.webhook import WebhookEndpoint
from leadapp.outbox.channel import Entry, Message, Outcome, Policy, Routing, app_channels
from leadapp.outbox.events import LEAD_CREATED
from leadapp.schemas import LeadSchema
from leadapp.services.leads import leads_as_created
from leadapp.timeutil import rfc3339

NAME = "webhook"
# The contract gives an endpoint change 10 seconds to reach every process.
MAX_SUBSCRIPTION_SECONDS = 5.0

endpoints = WebhookEndpoint.__table__
_lead_schema = LeadSchema()


@dataclass(frozen=True)
class Subscription:
    """An active endpoint as routing sees it: its id, its events, its forms (None: every form)."""

    endpoint_id: uuid.UUID
    events: frozenset[str]
    forms: frozenset[str] | None


class SubscriptionCache:
    """Which endpoint ids each (event, form) goes to, re-read at most every `ttl` seconds.

    One query per period reads every active endpoint's events and forms; the answer for an
    (event, form) pair is worked out once per period from that and kept, so the hot path
    (every stored lead) is a dictionary lookup. Only ids, events and forms are cached, never
    a URL or a secret.
    """

    def __init__(self, ttl: float) -> None:
        self.ttl = ttl
        self._lock = threading.Lock()
        self._expires = 0.0
        self._subscriptions: list[Subscription] = []
        self._by_route: dict[tuple[str, str | None], list[uuid.UUID]] = {}

    def endpoint_ids(self, connection: Connection, event: str, form: str | None) -> list[uuid.UUID]:
        """The active endpoints subscribed to `event` of a lead of `form`."""
        with self._lock:
            if time.monotonic() >= self._expires:
                rows = connection.execute(
                    select(endpoints.c.id, endpoints.c.events, endpoints.c.forms).where(
                        endpoints.c.removed_at.is_(None)
                    )
                ).all()
                self._subscriptions = [
                    Subscription(
                        row.id,
                        frozenset(row.events.split(",")),
                        frozenset(row.forms.split(",")) if row.forms is not None else None,
                    )
                    for row in rows
                ]
                self._by_route = {}
                self._expires = time.monotonic() + self.ttl
            route = (event, form)
            found = self._by_route.get(route)
            if found is None:
                found = self._by_route[route] = [
                    subscription.endpoint_id
                    for subscription in self._subscriptions
                    if event in subscription.events
                    and (subscription.forms is None or form in subscription.forms)
                ]
            return list(found)

    def invalidate(self) -> None:
        """Forget the cached answer (this process changed the endpoints)."""
        with self._lock:
            self._expires = 0.0


@dataclass(frozen=True)
class WebhookContent:
    """What one delivery sends: the body (the same bytes on every attempt) and where to."""

    url: str
    secret: str
    body: bytes


def webhook_body(event: str, created_at: datetime, data: Any) -> bytes:
    """A delivery's body: `{"type", "timestamp", "data"}` as compact UTF-8 JSON."""
    return json.dumps(
        {"type": event, "timestamp": rfc3339(created_at), "data": data},
        ensure_ascii=False,
        separators=(",", ":"),
    ).encode("utf-8")


class WebhookSender:
    """One delivery thread's POSTs, on connections it keeps alive between them."""

    def __init__(self, connections: Connections, timeout: float) -> None:
        self.connections = connections
        self.timeout = timeout

    def send(self, message: Message) -> Outcome:
        """POST one delivery, signed for this attempt."""
        content: WebhookContent = message.content
        headers = signed_headers(content.secret, str(message.entry.id), content.body, time.time())
        return self.connections.post(content.url, content.body, headers, self.timeout)

    def close(self) -> None:
        """Close the kept-alive connections."""
        self.connections.close()


class WebhookTransport:
    """One worker's senders, sharing the thread that enforces every attempt's deadline."""

    def __init__(self, timeout: float) -> None:
        self.timeout = timeout
        self.watcher = DeadlineWatcher()

    def sender(self) -> WebhookSender:
        """A sender for one delivery thread."""
        return WebhookSender(Connections(self.watcher), self.timeout)

    def stop(self) -> None:
        """Stop the deadline thread."""
        self.watcher.stop()


class WebhookChannel:
    """Lead events to every endpoint subscribed to them."""

    name = NAME

    def __init__(self, policy: Policy, subscription_seconds: float) -> None:
        self.policy = policy
        self.subscriptions = SubscriptionCache(min(subscription_seconds, MAX_SUBSCRIPTION_SECONDS))

    @classmethod
    def from_config(cls, config: Mapping[str, Any]) -> WebhookChannel:
        """The channel with the app's LEADAPP_WEBHOOK_* settings."""
        policy = Policy(
            timeout=float(config["LEADAPP_WEBHOOK_TIMEOUT"]),
            max_attempts=int(config["LEADAPP_WEBHOOK_MAX_ATTEMPTS"]),
            retry_seconds=float(config["LEADAPP_WEBHOOK_RETRY_SECONDS"]),
        )
        return cls(policy, float(config.get("LEADAPP_CACHE_SECONDS", MAX_SUBSCRIPTION_SECONDS)))

    def targets(self, connection: Connection, event: str, routing: Routing) -> list[uuid.UUID]:
        """The endpoints subscribed to `event` of the lead's form, as last read here."""
        return self.subscriptions.endpoint_ids(connection, event, routing.get("form"))

    def build(self, connection: Connection, entries: Sequence[Entry]) -> dict[uuid.UUID, Any]:
        """Each delivery's URL, secret and body; left out: a removed endpoint, an erased lead."""
        live = {
            row.id: row
            for row in connection.execute(
                select(endpoints.c.id, endpoints.c.url, endpoints.c.secret).where(
                    endpoints.c.id.in_({entry.target_id for entry in entries}),
                    endpoints.c.removed_at.is_(None),
                )
            )
        }
        created = leads_as_created(
            connection, {entry.lead_id for entry in entries if entry.event == LEAD_CREATED}
        )
        leads = {lead_id: _lead_schema.dump(lead) for lead_id, lead in created.items()}
        contents: dict[uuid.UUID, Any] = {}
        for entry in entries:
            endpoint = live.get(entry.target_id)  # type: ignore[arg-type]
            if endpoint is None:
                continue
            if entry.event == LEAD_CREATED:
                if entry.lead_id not in leads:
                    continue
                data: Any = leads[entry.lead_id]
            else:
                data = {"id": str(entry.lead_id)}
            body = webhook_body(entry.event, entry.created_at, data)
            contents[entry.id] = WebhookContent(endpoint.url, endpoint.secret, body)
        return contents

    def transport(self) -> WebhookTransport:
        """A transport for one worker."""
        return WebhookTransport(self.policy.timeout)


def webhook_channel() -> WebhookChannel:
    """The current app's webhook channel."""
    return app_channels(current_app)[NAME]  # type: ignore[return-value]
