"""What the outbox's commands share across channels: the last answer cell, the retry target."""

from __future__ import annotations

import uuid
from typing import Any

import click


def last_answer(row: Any, protocol: str, width: int) -> str:
    """A delivery's last result for a table: its error, else `<protocol> <status>`, else '-'."""
    text = row.last_error or (f"{protocol} {row.last_status}" if row.last_status else "-")
    return text[:width]


def retry_target(delivery_id: str | None, all_failed: bool, noun: str) -> uuid.UUID | None:
    """The one delivery to retry (None: every failed one); a usage error unless exactly one."""
    if (delivery_id is None) == (not all_failed):
        raise click.UsageError("Give either DELIVERY_ID or --failed.")
    if delivery_id is None:
        return None
    try:
        return uuid.UUID(delivery_id)
    except ValueError:
        raise click.ClickException(f"{delivery_id!r} is not a {noun} id.") from None
