"""Webhook rules and transactions: the outbox writes, endpoints, claims, results and retries.

The outbox rows are written on the caller's connection, inside the transaction that stores
(or erases) the lead, so a lead and its deliveries commit or roll back together. A row is a
pointer (event, lead id, state), never a copy of the lead: the worker builds the body from
the lead's row when it claims the delivery.
"""

from __future__ import annotations

import json
import threading
import time
import uuid
from collections.abc import Collection, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any
from urllib.parse import urlsplit

from flask import current_app
from sqlalchemy import Connection, and_, func, insert, or_, select, update

from leadapp.extensions import db
from leadapp.schemas import LeadSchema
from leadapp.timeutil import as_utc, rfc3339, utcnow
from leadapp.webhooks.delivery import new_secret
from leadapp.webhooks.models import (
    CANCELLED,
    DELIVERED,
    ERROR_MAX_CHARS,
    FAILED,
    PENDING,
    URL_MAX_CHARS,
    WebhookDelivery,
    WebhookEndpoint,
)

LEAD_CREATED = "lead.created"
LEAD_ERASED = "lead.erased"
EVENTS = (LEAD_CREATED, LEAD_ERASED)
SUBSCRIPTIONS_EXTENSION = "leadapp.webhooks.subscriptions"

_lead_schema = LeadSchema()
endpoints = WebhookEndpoint.__table__
deliveries = WebhookDelivery.__table__


class WebhookError(ValueError):
    """An operator's webhook command can't be carried out (the message says why)."""


# --- subscriptions, cached per process ------------------------------------------------


class SubscriptionCache:
    """Which endpoint ids each event goes to, re-read at most every `ttl` seconds.

    The contract gives a change 10 seconds to reach every process; the TTL is below that.
    Only ids and events are cached, never a URL or a secret.
    """

    def __init__(self, ttl: float) -> None:
        self.ttl = ttl
        self._lock = threading.Lock()
        self._expires = 0.0
        self._by_event: dict[str, list[uuid.UUID]] = {}

    def endpoint_ids(self, connection: Connection, event: str) -> list[uuid.UUID]:
        """The active endpoints subscribed to `event`."""
        with self._lock:
            if time.monotonic() >= self._expires:
                rows = connection.execute(
                    select(endpoints.c.id, endpoints.c.events).where(
                        endpoints.c.removed_at.is_(None)
                    )
                ).all()
                by_event: dict[str, list[uuid.UUID]] = {name: [] for name in EVENTS}
                for row in rows:
                    for name in row.events.split(","):
                        by_event.setdefault(name, []).append(row.id)
                self._by_event = by_event
                self._expires = time.monotonic() + self.ttl
            return list(self._by_event.get(event, ()))

    def invalidate(self) -> None:
        """Forget the cached answer (this process changed the endpoints)."""
        with self._lock:
            self._expires = 0.0


def _subscriptions() -> SubscriptionCache:
    """The app's subscription cache, created on first use."""
    extensions = current_app.extensions
    cache = extensions.get(SUBSCRIPTIONS_EXTENSION)
    if cache is None:
        ttl = min(float(current_app.config.get("LEADAPP_CACHE_SECONDS", 5.0)), 5.0)
        cache = extensions.setdefault(SUBSCRIPTIONS_EXTENSION, SubscriptionCache(ttl))
    return cache


# --- the outbox ---------------------------------------------------------------------------

# Built once: composing an INSERT on every POST /leads costs more than executing it.
_INSERT_DELIVERY = insert(deliveries)


def _queue(connection: Connection, event: str, lead_id: uuid.UUID) -> int:
    """Insert one pending delivery of `event` per subscribed endpoint; return how many.

    The row names the event and the lead and holds nothing of the lead's data; the body is
    built when a worker claims it (see claim_batches).
    """
    endpoint_ids = _subscriptions().endpoint_ids(connection, event)
    if not endpoint_ids:
        return 0
    now = utcnow()
    rows = [
        {
            "id": uuid.uuid4(),
            "endpoint_id": endpoint_id,
            "event": event,
            "lead_id": lead_id,
            "status": PENDING,
            "attempts": 0,
            "next_attempt_at": now,
            "created_at": now,
        }
        for endpoint_id in endpoint_ids
    ]
    # One dict is a plain execute; a list takes the executemany path, which costs more.
    connection.execute(_INSERT_DELIVERY, rows[0] if len(rows) == 1 else rows)
    return len(rows)


def queue_lead_created(connection: Connection, lead_id: uuid.UUID) -> int:
    """Queue `lead.created` for the lead just stored, in its transaction."""
    return _queue(connection, LEAD_CREATED, lead_id)


def queue_lead_erased(connection: Connection, lead_id: uuid.UUID) -> int:
    """In the erasure's transaction: cancel the lead's undelivered deliveries, queue `lead.erased`.

    Pending and failed deliveries of the lead are cancelled, so none is sent or retried. The
    queue holds no copy of the lead's data: the caller deletes the lead's row, the only one.
    """
    connection.execute(
        update(deliveries)
        .where(deliveries.c.lead_id == lead_id, deliveries.c.status.in_((PENDING, FAILED)))
        .values(status=CANCELLED, claimed_by=None, claimed_until=None)
    )
    return _queue(connection, LEAD_ERASED, lead_id)


# --- endpoints ------------------------------------------------------------------------


@dataclass(frozen=True)
class Endpoint:
    """An endpoint as listed: never its secret."""

    id: uuid.UUID
    url: str
    events: list[str]
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


def _active_endpoints(connection: Connection) -> list[Any]:
    """Every endpoint not removed, oldest first, decrypted."""
    return connection.execute(
        select(endpoints.c.id, endpoints.c.url, endpoints.c.events, endpoints.c.created_at)
        .where(endpoints.c.removed_at.is_(None))
        .order_by(endpoints.c.created_at, endpoints.c.id)
    ).all()


def add_endpoint(url: str, events: Sequence[str] = ()) -> tuple[Endpoint, str]:
    """Subscribe a URL; return the endpoint and its secret (shown once, never again)."""
    url = validate_url(url)
    chosen = validate_events(events)
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
                "created_at": now,
            },
        )
    _subscriptions().invalidate()
    return Endpoint(endpoint_id, url, chosen, now), secret


def list_endpoints() -> list[Endpoint]:
    """Every active endpoint, oldest first (never a secret)."""
    with db.engine.connect() as connection:
        rows = _active_endpoints(connection)
    return [
        Endpoint(row.id, row.url, row.events.split(","), as_utc(row.created_at)) for row in rows
    ]


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
        cancelled = connection.execute(
            update(deliveries)
            .where(
                deliveries.c.endpoint_id == row.id,
                deliveries.c.status.in_((PENDING, FAILED)),
            )
            .values(status=CANCELLED, claimed_by=None, claimed_until=None)
        ).rowcount
    _subscriptions().invalidate()
    return Endpoint(row.id, row.url, row.events.split(","), as_utc(row.created_at)), cancelled


# --- deliveries as listed ---------------------------------------------------------------------


@dataclass(frozen=True)
class DeliveryInfo:
    """A delivery as listed: state only, never its body."""

    id: uuid.UUID
    endpoint_id: uuid.UUID
    endpoint_url: str
    event: str
    lead_id: uuid.UUID
    status: str
    attempts: int
    last_status: int | None
    last_error: str | None
    next_attempt_at: datetime | None
    last_attempt_at: datetime | None
    delivered_at: datetime | None
    created_at: datetime


def list_deliveries(status: str | None = None, limit: int = 50) -> list[DeliveryInfo]:
    """The newest deliveries (optionally of one status), newest first."""
    query = (
        select(
            deliveries.c.id,
            deliveries.c.endpoint_id,
            endpoints.c.url.label("endpoint_url"),
            deliveries.c.event,
            deliveries.c.lead_id,
            deliveries.c.status,
            deliveries.c.attempts,
            deliveries.c.last_status,
            deliveries.c.last_error,
            deliveries.c.next_attempt_at,
            deliveries.c.last_attempt_at,
            deliveries.c.delivered_at,
            deliveries.c.created_at,
        )
        .join(endpoints, endpoints.c.id == deliveries.c.endpoint_id)
        .order_by(deliveries.c.created_at.desc(), deliveries.c.id.desc())
        .limit(limit)
    )
    if status is not None:
        query = query.where(deliveries.c.status == status)
    with db.engine.connect() as connection:
        rows = connection.execute(query).all()
    result = []
    for row in rows:
        values = row._asdict()
        for key in ("next_attempt_at", "last_attempt_at", "delivered_at", "created_at"):
            values[key] = as_utc(values[key])
        if values["status"] != PENDING:
            values["next_attempt_at"] = None
        result.append(DeliveryInfo(**values))
    return result


def count_by_status() -> dict[str, int]:
    """How many deliveries are in each status."""
    with db.engine.connect() as connection:
        rows = connection.execute(
            select(deliveries.c.status, func.count()).group_by(deliveries.c.status)
        ).all()
    return {status: count for status, count in rows}


def retry(delivery_id: uuid.UUID | None = None) -> int:
    """Put failed deliveries (one, or all) back in the queue with attempts reset; the count.

    A delivery whose endpoint was removed, or whose lead was erased, cannot be retried: both
    cancel the failed deliveries they concern, and only `failed` ones are put back.
    """
    conditions = [deliveries.c.status == FAILED]
    if delivery_id is not None:
        conditions.append(deliveries.c.id == delivery_id)
    active = select(endpoints.c.id).where(endpoints.c.removed_at.is_(None))
    with db.engine.begin() as connection:
        count = connection.execute(
            update(deliveries)
            .where(*conditions, deliveries.c.endpoint_id.in_(active))
            .values(
                status=PENDING,
                attempts=0,
                next_attempt_at=utcnow(),
                claimed_by=None,
                claimed_until=None,
            )
        ).rowcount
        if delivery_id is not None and count == 0:
            status = connection.execute(
                select(deliveries.c.status).where(deliveries.c.id == delivery_id)
            ).scalar()
            if status is None:
                raise WebhookError(f"No delivery with id {delivery_id}.")
            raise WebhookError(f"Delivery {delivery_id} is {status}, not failed; nothing to retry.")
    return count


# --- claims and results (the worker's side) ---------------------------------------------------


@dataclass(frozen=True)
class Claimed:
    """A delivery this worker holds until `claimed_until`, with what an attempt needs."""

    id: uuid.UUID
    endpoint_id: uuid.UUID
    event: str
    # The exact body to send, built at the claim (see _body).
    payload: str
    attempts: int
    url: str
    secret: str


def _body(event: str, created_at: datetime, data: Any) -> str:
    """A delivery's body: the same bytes on every attempt, as its rows do not change."""
    return json.dumps(
        {"type": event, "timestamp": rfc3339(created_at), "data": data},
        ensure_ascii=False,
        separators=(",", ":"),
    )


def _due(now: datetime) -> Any:
    """The condition of a delivery any worker may claim now."""
    return and_(
        deliveries.c.status == PENDING,
        deliveries.c.next_attempt_at <= now,
        or_(deliveries.c.claimed_until.is_(None), deliveries.c.claimed_until < now),
    )


def claim_batches(
    worker_id: str,
    batches: int,
    batch_size: int,
    lease_seconds: float,
    skip_endpoints: Collection[uuid.UUID] = (),
) -> list[list[Claimed]]:
    """Claim due deliveries for `lease_seconds`: at most `batches` endpoints, `batch_size` each.

    Each batch holds one endpoint's deliveries, oldest due first, for one delivery thread to
    send in order on one kept-alive connection. The endpoints are those of the oldest due
    rows; deliveries to `skip_endpoints` (those this worker is busy enough with) are left for
    later, so one slow receiver cannot hold every delivery thread.

    PostgreSQL: `FOR UPDATE SKIP LOCKED` in each batch's subquery, so concurrent workers take
    disjoint rows without waiting on each other. SQLite has one writer at a time, so the
    transaction is atomic there. The read that picks the endpoints comes first, outside it,
    so an idle worker never takes SQLite's write lock; the claimed rows are read after it, and
    their bodies built then: `lead.created` carries the lead as its 201 answered it, read
    (and decrypted) from the leads table; a delivery whose lead is gone is cancelled.
    """
    now = utcnow()
    due = _due(now)
    if skip_endpoints:
        due = and_(due, deliveries.c.endpoint_id.not_in(list(skip_endpoints)))
    with db.engine.connect() as connection:
        oldest = connection.execute(
            select(deliveries.c.endpoint_id)
            .where(due)
            .order_by(deliveries.c.next_attempt_at)
            .limit(batch_size)
        ).scalars()
        chosen = list(dict.fromkeys(oldest))[:batches]
    if not chosen:
        return []
    claimed_until = now + timedelta(seconds=lease_seconds)
    ids: list[uuid.UUID] = []
    # Only ids under the write lock: building the bodies there would hold SQLite's lock
    # (which intake's INSERTs wait for) through the decryption of up to 32 leads.
    with db.engine.begin() as connection:
        for endpoint_id in chosen:
            candidates = (
                select(deliveries.c.id)
                .where(due, deliveries.c.endpoint_id == endpoint_id)
                .order_by(deliveries.c.next_attempt_at)
                .limit(batch_size)
            )
            if db.engine.dialect.name == "postgresql":
                candidates = candidates.with_for_update(skip_locked=True)
            ids += connection.execute(
                update(deliveries)
                .where(deliveries.c.id.in_(candidates.scalar_subquery()))
                .values(claimed_by=worker_id, claimed_until=claimed_until)
                .returning(deliveries.c.id)
            ).scalars()
    if not ids:
        return []
    # Imported here: leadapp.services.leads queues webhooks, so it imports this module.
    from leadapp.services.leads import leads_as_created

    with db.engine.connect() as connection:
        # Still ours unless settled meanwhile (an erasure cancels the row and drops the claim).
        rows = connection.execute(
            select(
                deliveries.c.id,
                deliveries.c.endpoint_id,
                deliveries.c.event,
                deliveries.c.lead_id,
                deliveries.c.attempts,
                deliveries.c.created_at,
            )
            .where(
                deliveries.c.id.in_(ids),
                deliveries.c.status == PENDING,
                deliveries.c.claimed_by == worker_id,
            )
            .order_by(deliveries.c.next_attempt_at, deliveries.c.created_at)
        ).all()
        targets = {
            row.id: row
            for row in connection.execute(
                select(endpoints.c.id, endpoints.c.url, endpoints.c.secret).where(
                    endpoints.c.id.in_({row.endpoint_id for row in rows}),
                    endpoints.c.removed_at.is_(None),
                )
            )
        }
        created = leads_as_created(
            connection, {row.lead_id for row in rows if row.event == LEAD_CREATED}
        )
    leads = {lead_id: _lead_schema.dump(lead) for lead_id, lead in created.items()}
    orphans = {
        row.id
        for row in rows
        if row.endpoint_id not in targets
        or (row.event == LEAD_CREATED and row.lead_id not in leads)
    }
    if orphans:
        # Queued by a process whose cache had not yet seen the endpoint's removal, or a lead
        # erased between the claim and this read (the erasure has cancelled it already).
        with db.engine.begin() as connection:
            connection.execute(
                update(deliveries)
                .where(deliveries.c.id.in_(orphans), deliveries.c.status == PENDING)
                .values(status=CANCELLED, claimed_by=None, claimed_until=None)
            )
    grouped: dict[uuid.UUID, list[Claimed]] = {}
    for row in rows:
        if row.id in orphans:
            continue
        target = targets[row.endpoint_id]
        data = leads[row.lead_id] if row.event == LEAD_CREATED else {"id": str(row.lead_id)}
        grouped.setdefault(row.endpoint_id, []).append(
            Claimed(
                row.id,
                row.endpoint_id,
                row.event,
                _body(row.event, row.created_at, data),
                row.attempts,
                target.url,
                target.secret,
            )
        )
    return list(grouped.values())


def record_delivered_batch(delivered: Sequence[tuple[Claimed, int]]) -> None:
    """Record a batch of 2xx answers in one transaction: delivered.

    Whoever claimed a row, a success is a success; an erasure meanwhile wins (the row is no
    longer pending, so it is left as the erasure left it).
    """
    if not delivered:
        return
    now = utcnow()
    # One UPDATE per (attempts, status) pair: in a batch of first attempts, one in all.
    groups: dict[tuple[int, int], list[uuid.UUID]] = {}
    for claimed, status in delivered:
        groups.setdefault((claimed.attempts + 1, status), []).append(claimed.id)
    with db.engine.begin() as connection:
        for (attempts, status), ids in groups.items():
            connection.execute(
                update(deliveries)
                .where(deliveries.c.id.in_(ids), deliveries.c.status == PENDING)
                .values(
                    status=DELIVERED,
                    attempts=attempts,
                    last_status=status,
                    last_error=None,
                    last_attempt_at=now,
                    delivered_at=now,
                    next_attempt_at=None,
                    claimed_by=None,
                    claimed_until=None,
                )
            )


def still_held(ids: Collection[uuid.UUID], worker_id: str) -> set[uuid.UUID]:
    """Which of `ids` are still pending under this worker's claim (read only, no write lock).

    A delivery erased, cancelled or retried since the claim is no longer held, and a batch
    drops it rather than send what should no longer be sent.
    """
    if not ids:
        return set()
    with db.engine.connect() as connection:
        return set(
            connection.execute(
                select(deliveries.c.id).where(
                    deliveries.c.id.in_(list(ids)),
                    deliveries.c.status == PENDING,
                    deliveries.c.claimed_by == worker_id,
                )
            ).scalars()
        )


def release(ids: Collection[uuid.UUID], worker_id: str) -> None:
    """Give back claims this worker will not attempt (a batch cut short): due again at once."""
    if not ids:
        return
    with db.engine.begin() as connection:
        connection.execute(
            update(deliveries)
            .where(
                deliveries.c.id.in_(list(ids)),
                deliveries.c.status == PENDING,
                deliveries.c.claimed_by == worker_id,
            )
            .values(claimed_by=None, claimed_until=None)
        )


def record_failure(
    claimed: Claimed,
    worker_id: str,
    *,
    status: int | None,
    error: str,
    delay: float,
    max_attempts: int,
) -> str:
    """An attempt failed: schedule the next after `delay`, or mark it failed; the new status.

    Only the holder of the claim writes a failure, so a worker whose lease ran out cannot
    overwrite what the worker that took over recorded.
    """
    now = utcnow()
    attempts = claimed.attempts + 1
    new_status = FAILED if attempts >= max_attempts else PENDING
    with db.engine.begin() as connection:
        connection.execute(
            update(deliveries)
            .where(
                deliveries.c.id == claimed.id,
                deliveries.c.status == PENDING,
                deliveries.c.claimed_by == worker_id,
            )
            .values(
                status=new_status,
                attempts=attempts,
                last_status=status,
                last_error=error[:ERROR_MAX_CHARS],
                last_attempt_at=now,
                next_attempt_at=now + timedelta(seconds=delay) if new_status == PENDING else None,
                claimed_by=None,
                claimed_until=None,
            )
        )
    return new_status
