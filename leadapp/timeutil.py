"""Time helpers every layer shares: now in UTC, stored values as aware UTC, RFC 3339 text."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import overload


def utcnow() -> datetime:
    """The current time, timezone-aware in UTC."""
    return datetime.now(UTC)


@overload
def as_utc(value: datetime) -> datetime: ...
@overload
def as_utc(value: None) -> None: ...
def as_utc(value: datetime | None) -> datetime | None:
    """A stored timestamp as aware UTC (SQLite hands back naive values, which are UTC)."""
    if value is None:
        return None
    return value.replace(tzinfo=UTC) if value.tzinfo is None else value.astimezone(UTC)


def rfc3339(value: datetime) -> str:
    """RFC 3339 in UTC with a `Z`, as every timestamp LeadApp emits is written."""
    return as_utc(value).isoformat().replace("+00:00", "Z")
