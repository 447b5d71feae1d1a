"""Lead rules and transactions: create (race-safe duplicate refusal)."""

from __future__ import annotations

import uuid
from collections.abc import Mapping
from typing import Any

from sqlalchemy import insert, or_, select
from sqlalchemy.exc import IntegrityError

from leadapp.crypto import Keyring, current_keyring
from leadapp.errors import DuplicateLead, Forbidden
from leadapp.extensions import db
from leadapp.models.lead import Lead, utcnow
from leadapp.normalize import email_match_key

# A conflicting lead may be erased between our failed INSERT and the lookup of what
# it conflicted with; then the INSERT is simply tried again.
INSERT_ATTEMPTS = 3

DUPLICATE_MESSAGES = {
    "email": "A lead with this email address already exists.",
    "phone": "A lead with this phone number already exists.",
    "ip_address": "A lead from this IP address already exists.",
}


def blind_indexes(
    keyring: Keyring, email: str, phone: str, ip_address: str | None
) -> dict[str, bytes | None]:
    """The blind-index column values for a lead's normalized email, phone and IP."""
    return {
        "email_bidx": keyring.blind_index("email", email_match_key(email)),
        "phone_bidx": keyring.blind_index("phone", phone),
        "ip_bidx": keyring.blind_index("ip_address", ip_address) if ip_address else None,
    }


def _conflicting_fields(indexes: Mapping[str, bytes | None]) -> list[str]:
    """Every field whose blind index already belongs to a stored lead."""
    table = Lead.__table__
    conditions = [table.c[column] == value for column, value in indexes.items() if value]
    with db.engine.connect() as connection:
        rows = connection.execute(
            select(table.c.email_bidx, table.c.phone_bidx, table.c.ip_bidx).where(or_(*conditions))
        ).all()
    found = set()
    for row in rows:
        for column, field in (
            ("email_bidx", "email"),
            ("phone_bidx", "phone"),
            ("ip_bidx", "ip_address"),
        ):
            if indexes[column] is not None and getattr(row, column) == indexes[column]:
                found.add(field)
    return [field for field in DUPLICATE_MESSAGES if field in found]


def create_lead(fields: Mapping[str, str], ip_address: str | None) -> dict[str, Any]:
    """Store a validated lead, or raise DuplicateLead naming every conflicting field.

    The unique blind-index constraints decide, so concurrent requests can't both win;
    there is no SELECT before the INSERT on the happy path.
    """
    keyring = current_keyring()
    row = {
        "id": uuid.uuid4(),
        "name": fields["name"],
        "email": fields["email"],
        "phone": fields["phone"],
        "ip_address": ip_address,
        "created_at": utcnow(),
        **blind_indexes(keyring, fields["email"], fields["phone"], ip_address),
    }
    statement = insert(Lead.__table__)
    for attempt in range(INSERT_ATTEMPTS):
        try:
            with db.engine.begin() as connection:
                connection.execute(statement, row)
        except IntegrityError:
            conflicts = _conflicting_fields(row)
            if conflicts:
                raise DuplicateLead(
                    "A lead with the same "
                    + ", ".join(conflicts).replace("ip_address", "IP address")
                    + " already exists.",
                    errors={field: [DUPLICATE_MESSAGES[field]] for field in conflicts},
                ) from None
            if attempt == INSERT_ATTEMPTS - 1:
                raise
        else:
            break
    return {key: row[key] for key in ("id", "name", "email", "phone", "ip_address", "created_at")}


def lead_ip_address(
    submitted: str | None, *, authenticated: bool, connection_ip: str
) -> str | None:
    """The IP address a new lead is recorded (and deduplicated) under.

    Anonymous callers are known by their connection; only an API-key caller (a partner's
    backend) may name the visitor's address, and may also leave it out.
    """
    if not authenticated:
        if submitted is not None:
            raise Forbidden("ip_address may only be sent with an API key.")
        return connection_ip
    return submitted
