"""What the database holds: every stored lead, decrypted and checked whole."""

from __future__ import annotations

import uuid
from collections.abc import Mapping
from typing import Any

from sqlalchemy import create_engine, text

from leadapp.crypto import Keyring
from leadapp.services.leads import blind_indexes

# The fields POST /leads returns on creation.
CREATED_FIELDS = ("id", "name", "email", "phone", "ip_address")


def read_leads(database_url: str, keys: Mapping[str, str]) -> list[dict[str, Any]]:
    """Every stored lead, decrypted; fails unless each row is whole.

    Whole means every encrypted field decrypts under the configured keys and the blind
    indexes are exactly those of the decrypted values: no half-written or torn row.
    """
    keyring = Keyring(keys["LEADAPP_ENCRYPTION_KEYS"].split(","), keys["LEADAPP_BLIND_INDEX_KEY"])
    engine = create_engine(database_url)
    try:
        with engine.connect() as connection:
            rows = (
                connection.execute(
                    text(
                        "SELECT id, name, email, phone, ip_address, email_bidx, phone_bidx,"
                        " ip_bidx, created_at FROM leads"
                    )
                )
                .mappings()
                .all()
            )
    finally:
        engine.dispose()
    leads = []
    for row in rows:
        lead = {
            "id": str(uuid.UUID(str(row["id"]))),
            "name": keyring.decrypt(row["name"]),
            "email": keyring.decrypt(row["email"]),
            "phone": keyring.decrypt(row["phone"]),
            "ip_address": keyring.decrypt(row["ip_address"]) if row["ip_address"] else None,
        }
        expected = blind_indexes(keyring, lead["email"], lead["phone"], lead["ip_address"])
        stored = {column: row[column] for column in expected}
        stored = {k: bytes(v) if v is not None else None for k, v in stored.items()}
        assert stored == expected, f"lead {lead['id']} has blind indexes of other values"
        assert lead["name"] and row["created_at"] is not None, f"lead {lead['id']} is incomplete"
        leads.append(lead)
    return leads


def by_id(leads: list[dict[str, Any]]) -> dict[str, dict[str, Any]]:
    """Leads keyed by id, with only the fields the API returns on creation."""
    return {lead["id"]: {field: lead[field] for field in CREATED_FIELDS} for lead in leads}
