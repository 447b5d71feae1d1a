"""Lead rules and transactions: create (race-safe duplicate refusal), list, read, erase."""

from __future__ import annotations

import ipaddress
import uuid
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from sqlalchemy import delete, insert, or_, select, tuple_
from sqlalchemy.exc import IntegrityError

from leadapp.crypto import Keyring, current_keyring
from leadapp.errors import DuplicateLead, Forbidden, NotFound, ValidationFailed
from leadapp.extensions import db
from leadapp.models.lead import BLIND_INDEX_COLUMNS, LEAD_FIELDS, Lead, utcnow
from leadapp.normalize import email_match_key
from leadapp.services import audit, blocklist
from leadapp.services.apikeys import ApiKeyIdentity
from leadapp.services.cursor import InvalidCursor, decode_cursor, encode_cursor

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
    normalized = {"email": email_match_key(email), "phone": phone, "ip_address": ip_address}
    return {
        column: keyring.blind_index(field, normalized[field]) if normalized[field] else None
        for field, column in BLIND_INDEX_COLUMNS.items()
    }


def _conflicting_fields(indexes: Mapping[str, bytes | None]) -> list[str]:
    """Every field whose blind index already belongs to a stored lead."""
    table = Lead.__table__
    conditions = [table.c[column] == value for column, value in indexes.items() if value]
    with db.engine.connect() as connection:
        rows = connection.execute(
            select(*(table.c[column] for column in BLIND_INDEX_COLUMNS.values())).where(
                or_(*conditions)
            )
        ).all()
    return [
        field
        for field, column in BLIND_INDEX_COLUMNS.items()
        if indexes[column] is not None
        and any(row._mapping[column] == indexes[column] for row in rows)
    ]


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
    return {field: row[field] for field in LEAD_FIELDS}


def lead_ip_address(
    submitted: str | None, *, authenticated: bool, connection_ip: str
) -> str | None:
    """The IP address a new lead is recorded (and deduplicated) under.

    Anonymous callers are known by their connection; only an API-key caller (a partner's
    backend) may name the visitor's address, and may also leave it out. A named address in a
    blocked network is refused as a connection from it would be.
    """
    if not authenticated:
        if submitted is not None:
            raise Forbidden("ip_address may only be sent with an API key.")
        return connection_ip
    if submitted is not None and blocklist.is_blocked(ipaddress.ip_address(submitted)):
        raise Forbidden("This ip_address is in a blocked network.")
    return submitted


@dataclass
class LeadPage:
    """One page of leads, newest first, and the cursor of the next page (or None)."""

    items: list[dict[str, Any]]
    next_cursor: str | None


def _lead_columns() -> list[Any]:
    """The columns a lead is returned with (decrypted by the column type)."""
    return [Lead.__table__.c[name] for name in LEAD_FIELDS]


def list_leads(
    api_key: ApiKeyIdentity,
    *,
    limit: int,
    cursor: str | None = None,
    email: str | None = None,
    phone: str | None = None,
) -> LeadPage:
    """A page of leads, newest first, optionally only exact matches of email and/or phone.

    Keyset pagination on (created_at, id) walks the index, so a deep page costs what
    the first does. The read is audited in the same transaction.
    """
    keyring = current_keyring()
    table = Lead.__table__
    query = select(*_lead_columns()).order_by(table.c.created_at.desc(), table.c.id.desc())
    if cursor is not None:
        try:
            position = decode_cursor(keyring, cursor)
        except InvalidCursor as error:
            raise ValidationFailed(str(error), errors={"cursor": [str(error)]}) from None
        query = query.where(tuple_(table.c.created_at, table.c.id) < position)
    if email is not None:
        query = query.where(
            table.c.email_bidx == keyring.blind_index("email", email_match_key(email))
        )
    if phone is not None:
        query = query.where(table.c.phone_bidx == keyring.blind_index("phone", phone))
    with db.engine.begin() as connection:
        rows = connection.execute(query.limit(limit + 1)).all()
        items = [row._asdict() for row in rows[:limit]]
        audit.record(
            connection, api_key, "search" if email or phone else "list", [i["id"] for i in items]
        )
    next_cursor = None
    if len(rows) > limit:
        last = items[-1]
        next_cursor = encode_cursor(keyring, last["created_at"], last["id"])
    return LeadPage(items=items, next_cursor=next_cursor)


def get_lead(api_key: ApiKeyIdentity, lead_id: uuid.UUID) -> dict[str, Any]:
    """One lead, decrypted, or NotFound; the read is audited."""
    table = Lead.__table__
    with db.engine.begin() as connection:
        row = connection.execute(select(*_lead_columns()).where(table.c.id == lead_id)).first()
        if row is None:
            raise NotFound("No lead with this id.")
        audit.record(connection, api_key, "read", [lead_id])
    return row._asdict()


def erase_lead(api_key: ApiKeyIdentity, lead_id: uuid.UUID) -> None:
    """Delete a lead (its email, phone and IP become free again), or NotFound; audited."""
    table = Lead.__table__
    with db.engine.begin() as connection:
        deleted = connection.execute(delete(table).where(table.c.id == lead_id)).rowcount
        if deleted == 0:
            raise NotFound("No lead with this id.")
        audit.record(connection, api_key, "erase", [lead_id])
