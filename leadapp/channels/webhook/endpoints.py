"""Webhook endpoints as the operator manages them, and their deliveries as listed.

Adding or removing an endpoint reaches this process's queue at once (its subscription
cache is invalidated) and every other process's within the cache's TTL, under 10 seconds.
"""

from __future__ import annotations

import uuid
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any
from urllib.parse import urlsplit

from sqlalchemy import Connection, insert, select, update

from leadapp.channels.webhook.channel import NAME, webhook_channel
from leadapp.channels.webhook.signing import new_secret
from leadapp.extensions import db
from leadapp.models.webhook import URL_MAX_CHARS, WebhookEndpoint
from leadapp.outbox import queue
from leadapp.outbox.events import EVENTS
from leadapp.outbox.queue import outbox
from leadapp.services.forms import get_form
from leadapp.timeutil import as_utc, utcnow

endpoints = WebhookEndpoint.__table__


class WebhookError(ValueError):
    """An operator's webhook command can't be carried out (the message says why)."""


@dataclass(frozen=True)
class Endpoint:
    """An endpoint as listed: never its secret."""

    id: uuid.UUID
    url: str
    events: list[str]
    # The forms whose leads it gets, by slug; None: every form.
    forms: list[str] | None
    created_at: datetime


def validate_url(url: str) -> str:
    """An absolute http(s) URL with a host, or WebhookError."""
    url = url.strip()
    if not url or len(url) > URL_MAX_CHARS:
        raise WebhookError(f"The URL must be 1-{URL_MAX_CHARS} characters.")
    if any(ch.isspace() or ord(ch) < 32 or ord(ch) == 127 for ch in url) or not url.isascii():
        raise WebhookError("The URL must be ASCII without spaces (percent-encode the rest).")
    try:
        parts = urlsplit(url)
        parts.port  # noqa: B018  (raises on a malformed port)
    except ValueError:
        raise WebhookError("The URL is malformed.") from None
    if parts.scheme not in ("http", "https") or not parts.hostname:
        raise WebhookError("The URL must be an absolute http:// or https:// URL with a host.")
    if parts.fragment:
        raise WebhookError("The URL must not have a #fragment.")
    return url


def validate_events(events: Sequence[str]) -> list[str]:
    """The events named (default: all), each known, in canonical order."""
    chosen = set(events) or set(EVENTS)
    unknown = sorted(chosen - set(EVENTS))
    if unknown:
        raise WebhookError(f"Unknown event {', '.join(unknown)}; choose among {', '.join(EVENTS)}.")
    return [event for event in EVENTS if event in chosen]


def validate_forms(forms: Sequence[str]) -> list[str] | None:
    """The live forms named, sorted, or None (every form) when none is; else WebhookError."""
    chosen = sorted(set(forms))
    unknown = [slug for slug in chosen if get_form(slug) is None]
    if unknown:
        raise WebhookError(
            f"No form {', '.join(unknown)}; create it first (`flask forms put`) or check the slug."
        )
    return chosen or None


def _active_endpoints(connection: Connection) -> list[Any]:
    """Every endpoint not removed, oldest first, decrypted."""
    return connection.execute(
        select(
            endpoints.c.id,
            endpoints.c.url,
            endpoints.c.events,
            endpoints.c.forms,
            endpoints.c.created_at,
        )
        .where(endpoints.c.removed_at.is_(None))
        .order_by(endpoints.c.created_at, endpoints.c.id)
    ).all()


def _listed(row: Any) -> Endpoint:
    """An endpoint row as listed."""
    forms = row.forms.split(",") if row.forms is not None else None
    return Endpoint(row.id, row.url, row.events.split(","), forms, as_utc(row.created_at))


def add_endpoint(
    url: str, events: Sequence[str] = (), forms: Sequence[str] = ()
) -> tuple[Endpoint, str]:
    """Subscribe a URL to events of some forms' leads (default: every form's).

    Return the endpoint and its secret (shown once, never again).
    """
    url = validate_url(url)
    chosen = validate_events(events)
    only = validate_forms(forms)
    secret = new_secret()
    endpoint_id = uuid.uuid4()
    now = utcnow()
    with db.engine.begin() as connection:
        if any(row.url == url for row in _active_endpoints(connection)):
            raise WebhookError("An endpoint with this URL exists already; remove it first.")
        connection.execute(
            insert(endpoints),
            {
                "id": endpoint_id,
                "url": url,
                "secret": secret,
                "events": ",".join(chosen),
                "forms": ",".join(only) if only is not None else None,
                "created_at": now,
            },
        )
    webhook_channel().subscriptions.invalidate()
    return Endpoint(endpoint_id, url, chosen, only, now), secret


def list_endpoints() -> list[Endpoint]:
    """Every active endpoint, oldest first (never a secret)."""
    with db.engine.connect() as connection:
        return [_listed(row) for row in _active_endpoints(connection)]


def remove_endpoint(id_or_url: str) -> tuple[Endpoint, int]:
    """Remove an endpoint by id or URL; cancel its undelivered deliveries; return both."""
    try:
        wanted_id: uuid.UUID | None = uuid.UUID(id_or_url.strip())
    except ValueError:
        wanted_id = None
    with db.engine.begin() as connection:
        rows = _active_endpoints(connection)
        match = [row for row in rows if row.id == wanted_id or row.url == id_or_url.strip()]
        if not match:
            raise WebhookError(f"No endpoint with id or URL {id_or_url!r}.")
        row = match[0]
        connection.execute(
            update(endpoints).where(endpoints.c.id == row.id).values(removed_at=utcnow())
        )
        cancelled = queue.cancel_for_target(connection, NAME, row.id)
    webhook_channel().subscriptions.invalidate()
    return _listed(row), cancelled


@dataclass(frozen=True)
class DeliveryInfo(queue.ListedState):
    """A delivery as listed: its endpoint and event beside its state, never its body."""

    id: uuid.UUID
    endpoint_id: uuid.UUID
    endpoint_url: str
    event: str
    lead_id: uuid.UUID


def list_deliveries(status: str | None = None, limit: int = 50) -> list[DeliveryInfo]:
    """The newest webhook deliveries (optionally of one status), newest first."""
    rows = queue.list_newest(
        NAME,
        [
            outbox.c.id,
            outbox.c.target_id.label("endpoint_id"),
            endpoints.c.url.label("endpoint_url"),
            outbox.c.event,
            outbox.c.lead_id,
        ],
        status,
        limit,
        outbox.join(endpoints, endpoints.c.id == outbox.c.target_id),
    )
    return [
        DeliveryInfo(
            id=row.id,
            endpoint_id=row.endpoint_id,
            endpoint_url=row.endpoint_url,
            event=row.event,
            lead_id=row.lead_id,
            **queue.listed_state(row),
        )
        for row in rows
    ]


def count_by_status() -> dict[str, int]:
    """How many webhook deliveries are in each status."""
    return queue.count_by_status(NAME)


def retry(delivery_id: uuid.UUID | None = None) -> int:
    """Put failed deliveries (one, or all) back in the queue with attempts reset; the count.

    A delivery whose endpoint was removed, or whose lead was erased, cannot be retried: both
    cancel the failed deliveries they concern, and only `failed` ones are put back.
    """
    live = select(endpoints.c.id).where(endpoints.c.removed_at.is_(None))
    try:
        return queue.retry(NAME, delivery_id, live)
    except queue.RetryRefused as error:
        raise WebhookError(str(error)) from None
