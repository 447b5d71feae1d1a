"""Idempotency keys: a retried POST /leads gets the original 201 instead of a 409."""

from __future__ import annotations

import json
import re
import uuid
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import delete, insert, select
from sqlalchemy.engine import Connection

from leadapp.crypto import current_keyring
from leadapp.errors import BadRequest, Problem
from leadapp.extensions import db
from leadapp.models.idempotency import IdempotencyKey
from leadapp.models.lead import utcnow

HEADER = "Idempotency-Key"
REPLAYED_HEADER = "Idempotency-Replayed"
KEY_PATTERN = re.compile(r"[\x21-\x7e]{1,255}")
WINDOW = timedelta(hours=24)
# Body members that never make two requests different (a replay needs no fresh challenge).
IGNORED_MEMBERS = frozenset({"challenge", "website"})


_INSERT = insert(IdempotencyKey.__table__)


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
    MACed, so two callers' equal keys never meet; neither key nor body is stored.
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

    def remembered_lead_id(self) -> uuid.UUID | None:
        """The lead this key created in the last 24 hours, or None; 422 for another body."""
        table = IdempotencyKey.__table__
        with db.engine.connect() as connection:
            found = connection.execute(
                select(table.c.lead_id, table.c.body_hash).where(
                    table.c.key_hash == self.key_hash,
                    table.c.created_at >= utcnow() - WINDOW,
                )
            ).first()
        if found is None:
            return None
        if found.body_hash != self.body_hash:
            raise IdempotencyKeyReused(
                f"This {HEADER} was already used for a different request body; "
                "use a new key for a new lead.",
                errors={HEADER: ["Already used with a different body in the last 24 hours."]},
            )
        return found.lead_id

    def forget_expired(self) -> bool:
        """Remove this key's record if it is past the window; whether there was one."""
        table = IdempotencyKey.__table__
        with db.engine.begin() as connection:
            removed = connection.execute(
                delete(table).where(
                    table.c.key_hash == self.key_hash, table.c.created_at < utcnow() - WINDOW
                )
            ).rowcount
        return removed > 0

    def remember(self, connection: Connection, lead_id: uuid.UUID, created_at: datetime) -> None:
        """Record the key for a lead, in the lead's own transaction.

        A live record of the key makes this INSERT fail on the unique key_hash, and the
        caller replays it; an expired one is removed (forget_expired) and tried again.
        """
        # A prebuilt statement with parameters: building .values() each time costs more
        # than the INSERT itself.
        connection.execute(
            _INSERT,
            {
                "key_hash": self.key_hash,
                "body_hash": self.body_hash,
                "lead_id": lead_id,
                "created_at": created_at,
            },
        )
