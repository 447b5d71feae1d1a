"""Spam: honeypot hits and refused challenges, counted per UTC day, and the decoy answer."""

from __future__ import annotations

import uuid
from collections.abc import Mapping
from datetime import datetime
from typing import Any

from leadapp.extensions import db
from leadapp.models.form import DEFAULT_FORM
from leadapp.models.lead import ATTRIBUTION_FIELDS
from leadapp.models.spam import SPAM_KINDS, SpamCount
from leadapp.schemas.form import custom_values_json
from leadapp.services.leads import lead_from_row
from leadapp.services.opt_in_links import PENDING
from leadapp.services.upsert import dialect_insert
from leadapp.timeutil import utcnow

HONEYPOT = "honeypot"
CHALLENGE = "challenge"


def record(kind: str) -> None:
    """Add one to today's count of this kind, atomically (an upsert the database serializes)."""
    if kind not in SPAM_KINDS:
        raise ValueError(f"unknown spam kind {kind!r}")
    table = SpamCount.__table__
    statement = dialect_insert(table).values(day=utcnow().date(), kind=kind, count=1)
    statement = statement.on_conflict_do_update(
        index_elements=["day", "kind"], set_={"count": table.c.count + 1}
    )
    with db.engine.begin() as connection:
        connection.execute(statement)


def is_honeypot_hit(body: Mapping[str, Any], *, authenticated: bool) -> bool:
    """An anonymous body whose hidden `website` member a person would have left empty."""
    website = body.get("website")
    return not authenticated and isinstance(website, str) and website != ""


def decoy_lead(
    fields: Mapping[str, Any],
    ip_address: str | None,
    attribution: Mapping[str, Any],
    consent: Mapping[str, Any] | None = None,
    created_at: datetime | None = None,
    form: str = DEFAULT_FORM,
    custom_fields: Mapping[str, Any] | None = None,
    double_opt_in: bool = False,
) -> dict[str, Any]:
    """A lead-shaped body with a fresh id, for an answer that must look like a success.

    Built by the one builder of a stored lead's body, from a row that is never written;
    on a double opt-in form it is pending, as a new lead of that form would be.
    """
    row = {
        "id": uuid.uuid4(),
        "name": _text(fields.get("name")),
        "email": _text(fields.get("email")),
        "phone": _text(fields.get("phone")),
        "ip_address": ip_address,
        "created_at": created_at or utcnow(),
        **{name: attribution.get(name) for name in ATTRIBUTION_FIELDS},
        "consent_given_at": consent["given_at"] if consent else None,
        "consent_text": consent["text"] if consent else None,
        "resubmissions": 0,
        "last_resubmitted_at": None,
        "form": form,
        "custom_fields": custom_values_json(custom_fields) if custom_fields else None,
        "opt_in_status": PENDING if double_opt_in else None,
        "opt_in_confirmed_at": None,
    }
    return lead_from_row(row)


def _text(value: Any) -> str:
    """A string member as given (trimmed), anything else as the empty string."""
    return value.strip() if isinstance(value, str) else ""
