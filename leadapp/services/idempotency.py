"""Idempotency keys: a retried POST /leads gets the original 201 instead of a 409."""

from __future__ import annotations

import json
import logging
import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import timedelta
from typing import Any

from flask import Flask
from sqlalchemy import ColumnElement, and_, select, update

from leadapp.crypto import current_keyring
from leadapp.errors import BadRequest, Problem
from leadapp.extensions import db
from leadapp.models.lead import HAS_IDEMPOTENCY_KEY, Lead
from leadapp.timeutil import utcnow
from leadapp.wording import plural

HEADER = "Idempotency-Key"
REPLAYED_HEADER = "Idempotency-Replayed"
KEY_PATTERN = re.compile(r"[\x21-\x7e]{1,255}")
WINDOW = timedelta(hours=24)
# Body members that never make two requests different (a replay needs no fresh challenge).
IGNORED_MEMBERS = frozenset({"challenge", "website"})

_LEADS = Lead.__table__
log = logging.getLogger(__name__)


class IdempotencyKeyReused(Problem):
    """The key already created a lead from a different body."""

    status = 422
    title = "Idempotency key reused"
    slug = "idempotency-key-reused"


def parse_key(values: Sequence[str]) -> str | None:
    """The Idempotency-Key header's value, None without one, or a 400 when malformed."""
    if not values:
        return None
    if len(values) > 1:
        raise BadRequest(f"Send one {HEADER} header, not {len(values)}.")
    if not KEY_PATTERN.fullmatch(values[0]):
        raise BadRequest(f"{HEADER} must be 1-255 visible ASCII characters (no spaces).")
    return values[0]


def fingerprint_source(fields: Mapping[str, Any]) -> str:
    """The normalized body as canonical JSON (sorted members, ignored ones left out)."""
    relevant = {
        name: value
        for name, value in fields.items()
        # An empty attribution (or one of only empty strings) is the same as none.
        if name not in IGNORED_MEMBERS and not (name == "attribution" and not value)
    }
    return json.dumps(relevant, sort_keys=True, ensure_ascii=False, separators=(",", ":"))


@dataclass(frozen=True)
class IdempotencyClaim:
    """One request's key and body, as keyed MACs: what is stored and what is compared.

    The key is scoped (to the API key, or to the anonymous client's IP) before it is
    MACed, so two callers' equal keys never meet; neither key nor body is stored. The
    MACs go into the created lead's own row (`columns`), in its INSERT.
    """

    key_hash: bytes
    body_hash: bytes

    @classmethod
    def of(cls, scope: str, key: str, fields: Mapping[str, Any]) -> IdempotencyClaim:
        """Build the claim of one request: scope is "key:<id>" or "ip:<address>"."""
        keyring = current_keyring()
        return cls(
            key_hash=keyring.blind_index("idempotency-key", f"{scope}\n{key}"),
            body_hash=keyring.blind_index("idempotency-body", fingerprint_source(fields)),
        )

    def columns(self) -> dict[str, bytes]:
        """The lead columns that remember this claim, for the lead's INSERT."""
        return {"idempotency_key_hash": self.key_hash, "idempotency_body_hash": self.body_hash}

    def remembered(self) -> ColumnElement[bool]:
        """The condition of the lead row this key created in the last 24 hours (one at most)."""
        return and_(
            _LEADS.c.idempotency_key_hash == self.key_hash,
            _LEADS.c.created_at >= utcnow() - WINDOW,
        )

    def check_body(self, body_hash: bytes | None) -> None:
        """Raise the 422 if the key's lead was created from a different body."""
        if body_hash != self.body_hash:
            raise IdempotencyKeyReused(
                f"This {HEADER} was already used for a different request body; "
                "use a new key for a new lead.",
                errors={HEADER: ["Already used with a different body in the last 24 hours."]},
            )

    def forget_expired(self) -> bool:
        """Clear this key from the lead it created if that is past the window; whether it was.

        The lead stays; only its claim on the key goes, so the key can create a new lead.
        """
        with db.engine.begin() as connection:
            cleared = connection.execute(
                update(_LEADS)
                .where(
                    _LEADS.c.idempotency_key_hash == self.key_hash,
                    _LEADS.c.created_at < utcnow() - WINDOW,
                )
                .values(idempotency_key_hash=None, idempotency_body_hash=None)
            ).rowcount
        return cleared > 0


SWEEP_BATCH = 1000


def sweep_expired(batch_size: int = SWEEP_BATCH) -> int:
    """Clear every key past its 24 hours from the lead it created; how many were cleared.

    The leads stay; their two MACs go, so nothing outlives its purpose (a retry after the
    window creates a new lead anyway). In batches, each its own short transaction, so a
    sweep never holds SQLite's write lock for long. The partial index over the leads that
    hold a key keeps the scan to those.
    """
    cleared = 0
    while True:
        expired = (
            select(_LEADS.c.id)
            .where(HAS_IDEMPOTENCY_KEY, _LEADS.c.created_at < utcnow() - WINDOW)
            .limit(batch_size)
        )
        with db.engine.begin() as connection:
            count = connection.execute(
                update(_LEADS)
                .where(_LEADS.c.id.in_(expired.scalar_subquery()))
                .values(idempotency_key_hash=None, idempotency_body_hash=None)
            ).rowcount
        cleared += count
        if count < batch_size:
            return cleared


def sweep_job(app: Flask) -> None:
    """The worker's periodic job: clear the expired idempotency MACs."""
    with app.app_context():
        cleared = sweep_expired()
        if cleared:
            log.info("idempotency: cleared %s past their 24 hours", plural(cleared, "key"))
