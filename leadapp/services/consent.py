"""Consent as evidence: the exact text in force is stored once and referenced by each lead."""

from __future__ import annotations

import hashlib

from flask import Flask, current_app
from sqlalchemy import select

from leadapp.errors import ValidationFailed
from leadapp.extensions import db
from leadapp.models.consent import ConsentText
from leadapp.services.leads import ConsentRecord
from leadapp.services.upsert import dialect_insert
from leadapp.timeutil import utcnow

CACHE_EXTENSION = "leadapp.consent_text_ids"
REQUIRED_MESSAGE = "Consent is required: send true once the person has agreed."


def check(consent: bool | None, text: str | None) -> list[str]:
    """The messages for the consent member: it must be true while a text is in force."""
    if text is not None and consent is not True:
        return [REQUIRED_MESSAGE]
    return []


def init_consent_cache(app: Flask) -> None:
    """Create this app's memo of consent text ids (the factory calls this)."""
    app.extensions[CACHE_EXTENSION] = {}


def _text_id(text: str) -> int:
    """The id of this text's row, storing it on first use (once, even from many processes).

    Texts are never changed or deleted, so each process remembers the id it found.
    """
    cache: dict[str, int] = current_app.extensions[CACHE_EXTENSION]
    known = cache.get(text)
    if known is not None:
        return known
    digest = hashlib.sha256(text.encode("utf-8")).digest()
    table = ConsentText.__table__
    with db.engine.begin() as connection:
        connection.execute(
            dialect_insert(table)
            .values(text_hash=digest, text=text, created_at=utcnow())
            .on_conflict_do_nothing(index_elements=["text_hash"])
        )
        text_id = connection.execute(
            select(table.c.id).where(table.c.text_hash == digest)
        ).scalar_one()
    cache[text] = text_id
    return text_id


def record(consent: bool | None, text: str | None) -> ConsentRecord | None:
    """What is stored with a new lead: consent given now, with the text in force (if any).

    `text` is the text in force for the lead's form (services/forms.consent_text).
    """
    if consent is not True:
        if text is not None:
            # check() runs first; this guards against a caller that skipped it.
            raise ValidationFailed(REQUIRED_MESSAGE, errors={"consent": [REQUIRED_MESSAGE]})
        return None
    return ConsentRecord(text_id=_text_id(text) if text else None, text=text)
