"""The Lead model: personal data encrypted, duplicates refused by unique blind indexes."""

from __future__ import annotations

import uuid
from datetime import datetime

from sqlalchemy import (
    Boolean,
    DateTime,
    ForeignKey,
    Index,
    Integer,
    LargeBinary,
    String,
    Uuid,
    text,
    true,
)
from sqlalchemy.orm import Mapped, mapped_column
from sqlalchemy.sql.elements import TextClause

from leadapp.config import MAX_BODY_BYTES
from leadapp.extensions import db
from leadapp.models.form import DEFAULT_FORM, SLUG_MAX_CHARS
from leadapp.models.types import EncryptedString
from leadapp.normalize import IP_MAX_CHARS
from leadapp.timeutil import utcnow

# Longest plaintexts, in UTF-8 bytes, after validation: 100 characters of at most
# four bytes; an email of 254 characters (an internationalized one may be longer in
# bytes); E.164 is at most 16 characters; an IP address is ASCII.
NAME_MAX_BYTES = 400
EMAIL_MAX_BYTES = 1016
PHONE_MAX_BYTES = 16
IP_MAX_BYTES = IP_MAX_CHARS
BLIND_INDEX_BYTES = 32

# Attribution (contract v2), in characters. Campaign-level members stay plaintext, so
# statistics can group by them; the free-form ones are encrypted (marketers put email
# addresses in them), sized for four UTF-8 bytes per character.
SOURCE_MAX_CHARS = 100
UTM_MAX_CHARS = 200
URL_MAX_CHARS = 2048
UTM_MAX_BYTES = 4 * UTM_MAX_CHARS
URL_MAX_BYTES = 4 * URL_MAX_CHARS
PLAINTEXT_ATTRIBUTION_FIELDS = ("source", "utm_source", "utm_medium", "utm_campaign")
ENCRYPTED_ATTRIBUTION_FIELDS = ("utm_term", "utm_content", "page_url", "referrer")
ATTRIBUTION_FIELDS = PLAINTEXT_ATTRIBUTION_FIELDS + ENCRYPTED_ATTRIBUTION_FIELDS

# The one definition of a lead's fields: which are encrypted, which are returned, and
# which unique blind-index column protects each deduplicated field.
ENCRYPTED_FIELDS = (
    "name",
    "email",
    "phone",
    "ip_address",
    *ENCRYPTED_ATTRIBUTION_FIELDS,
    "custom_fields",
)
LEAD_FIELDS = (
    "id",
    "name",
    "email",
    "phone",
    "ip_address",
    "created_at",
    *ATTRIBUTION_FIELDS,
    "consent_given_at",
    "consent_text_id",
    "resubmissions",
    "last_resubmitted_at",
    "form",
    "custom_fields",
    "opt_in_status",
    "opt_in_confirmed_at",
)
BLIND_INDEX_COLUMNS = {"email": "email_bidx", "phone": "phone_bidx", "ip_address": "ip_bidx"}
HAS_IDEMPOTENCY_KEY = text("idempotency_key_hash IS NOT NULL")
# Only leads of forms that keep `one_lead_per_ip` take part in the IP's unique index.
IP_IS_UNIQUE = text("ip_unique")
# The custom values, as one JSON object, come from a body of at most 16 KiB; re-encoded
# (numbers in Python's spelling, escapes decoded) they stay well within twice that.
CUSTOM_FIELDS_MAX_BYTES = 2 * MAX_BODY_BYTES


def unique_where(name: str, column: str, condition: TextClause) -> Index:
    """A unique index over the rows that match `condition` (partial on SQLite and PostgreSQL)."""
    return Index(name, column, unique=True, sqlite_where=condition, postgresql_where=condition)


class Lead(db.Model):
    """One person's contact details, as submitted once."""

    __tablename__ = "leads"

    id: Mapped[uuid.UUID] = mapped_column(Uuid, primary_key=True, default=uuid.uuid4)
    name: Mapped[str] = mapped_column(EncryptedString(NAME_MAX_BYTES))
    email: Mapped[str] = mapped_column(EncryptedString(EMAIL_MAX_BYTES))
    phone: Mapped[str] = mapped_column(EncryptedString(PHONE_MAX_BYTES))
    ip_address: Mapped[str | None] = mapped_column(EncryptedString(IP_MAX_BYTES), nullable=True)
    email_bidx: Mapped[bytes] = mapped_column(LargeBinary(BLIND_INDEX_BYTES), unique=True)
    phone_bidx: Mapped[bytes] = mapped_column(LargeBinary(BLIND_INDEX_BYTES), unique=True)
    ip_bidx: Mapped[bytes | None] = mapped_column(LargeBinary(BLIND_INDEX_BYTES), nullable=True)
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=utcnow)
    source: Mapped[str | None] = mapped_column(String(SOURCE_MAX_CHARS), nullable=True)
    utm_source: Mapped[str | None] = mapped_column(String(UTM_MAX_CHARS), nullable=True)
    utm_medium: Mapped[str | None] = mapped_column(String(UTM_MAX_CHARS), nullable=True)
    utm_campaign: Mapped[str | None] = mapped_column(String(UTM_MAX_CHARS), nullable=True)
    utm_term: Mapped[str | None] = mapped_column(EncryptedString(UTM_MAX_BYTES), nullable=True)
    utm_content: Mapped[str | None] = mapped_column(EncryptedString(UTM_MAX_BYTES), nullable=True)
    page_url: Mapped[str | None] = mapped_column(EncryptedString(URL_MAX_BYTES), nullable=True)
    referrer: Mapped[str | None] = mapped_column(EncryptedString(URL_MAX_BYTES), nullable=True)
    consent_given_at: Mapped[datetime | None] = mapped_column(
        DateTime(timezone=True), nullable=True
    )
    # Not cascading: a consent text is evidence and outlives no lead it belongs to.
    consent_text_id: Mapped[int | None] = mapped_column(
        Integer, ForeignKey("consent_texts.id"), nullable=True
    )
    resubmissions: Mapped[int] = mapped_column(Integer, default=0, server_default="0")
    last_resubmitted_at: Mapped[datetime | None] = mapped_column(
        DateTime(timezone=True), nullable=True
    )
    # The Idempotency-Key that created the lead, if any: keyed MACs of the scoped key and
    # of the normalized body, never either itself (a key may carry personal data). In the
    # lead's own row, so remembering it costs no statement and erasure forgets it.
    idempotency_key_hash: Mapped[bytes | None] = mapped_column(
        LargeBinary(BLIND_INDEX_BYTES), nullable=True
    )
    idempotency_body_hash: Mapped[bytes | None] = mapped_column(
        LargeBinary(BLIND_INDEX_BYTES), nullable=True
    )
    # The form the lead was stored by (its slug; a removed form's leads keep naming it).
    form: Mapped[str] = mapped_column(
        String(SLUG_MAX_CHARS), default=DEFAULT_FORM, server_default=DEFAULT_FORM
    )
    # The custom values, one encrypted JSON object (null when none were given).
    custom_fields: Mapped[str | None] = mapped_column(
        EncryptedString(CUSTOM_FIELDS_MAX_BYTES), nullable=True
    )
    # Whether the lead's IP is unique among leads: its form's `one_lead_per_ip` at creation.
    ip_unique: Mapped[bool] = mapped_column(Boolean, default=True, server_default=true())
    # Double opt-in (contract v3): NULL for a form without it, else `pending` or `confirmed`.
    opt_in_status: Mapped[str | None] = mapped_column(String(16), nullable=True)
    opt_in_confirmed_at: Mapped[datetime | None] = mapped_column(
        DateTime(timezone=True), nullable=True
    )
    # SHA-256 of the newest confirmation link's token (the token itself only in its mail).
    opt_in_token_hash: Mapped[bytes | None] = mapped_column(
        LargeBinary(BLIND_INDEX_BYTES), nullable=True
    )
    # When the newest confirmation mail was queued: its link's age, and one more per 24 h.
    opt_in_sent_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True), nullable=True)
    # The address the confirming POST came from: evidence, encrypted.
    opt_in_address: Mapped[str | None] = mapped_column(EncryptedString(IP_MAX_BYTES), nullable=True)

    __table_args__ = (
        # Keyset pagination walks (created_at, id) newest first.
        Index("ix_leads_created_at_id", "created_at", "id"),
        # ... and, for one form's leads, (form, created_at, id).
        Index("ix_leads_form_created_at_id", "form", "created_at", "id"),
        # The expiry pass finds pending leads by age.
        Index("ix_leads_opt_in_status_created_at", "opt_in_status", "created_at"),
        # A confirmation link names one lead.
        Index("uq_leads_opt_in_token_hash", "opt_in_token_hash", unique=True),
        # One lead per IP, among the leads of forms that keep the rule: the database
        # decides under any race, as for email and phone.
        unique_where("uq_leads_ip_bidx", "ip_bidx", IP_IS_UNIQUE),
        # Statistics count leads per day and per source over a range of created_at;
        # this index answers both without touching the table.
        Index("ix_leads_created_at_source_utm_source", "created_at", "source", "utm_source"),
        # The database decides between concurrent requests with one key, as the blind
        # indexes do for duplicates; partial, so a lead without a key adds no entry.
        unique_where("uq_leads_idempotency_key_hash", "idempotency_key_hash", HAS_IDEMPOTENCY_KEY),
    )
