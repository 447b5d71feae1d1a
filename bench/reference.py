"""The reference: a POST /leads that does only the contract's essential work, and nothing else.

Strict JSON (leadapp.jsonutil), a marshmallow schema of name, email and phone (and the
`ip_address` an API-key caller such as the bench sends), email-validator, phonenumbers, four
Fernet encryptions (name, email, phone, IP), three HMAC-SHA256 blind indexes (email, phone,
IP) and one SQLAlchemy Core INSERT and commit into a SQLite table whose blind indexes are
unique, on the same libraries the design card names for LeadApp. No pipeline: no rate limiter,
no access log, no API key, request id or security headers, no attribution or consent.

bench/ceiling.py is bare Flask (what the stack costs); this is what the contract's own work
adds to it, so LeadApp's plain intake can be read as a fraction of it. A measurement only,
never a way to take leads. Run as `python -m bench.reference --host H --port P --threads N`
with LEADAPP_ENCRYPTION_KEYS, LEADAPP_BLIND_INDEX_KEY and LEADAPP_DATABASE_URL set (a SQLite
URL; the table is created at start).
"""

from __future__ import annotations

import base64
import hmac
import os
import sys
import uuid
from collections.abc import Mapping
from datetime import UTC, datetime
from typing import Any

import phonenumbers
from cryptography.fernet import Fernet
from email_validator import EmailNotValidError, validate_email
from flask import Flask, request
from marshmallow import Schema, ValidationError, fields, validate
from sqlalchemy import (
    Column,
    DateTime,
    LargeBinary,
    MetaData,
    String,
    Table,
    Text,
    create_engine,
    insert,
)
from sqlalchemy.exc import IntegrityError

from bench.serve import serve_app, server_parser
from leadapp.database import configure_engine
from leadapp.jsonutil import StrictJSONError, parse_strict_json

MAX_BODY_BYTES = 16 * 1024
BLIND_INDEXED = ("email", "phone", "ip_address")

metadata = MetaData()
leads = Table(
    "reference_leads",
    metadata,
    Column("id", String(36), primary_key=True),
    Column("name", Text, nullable=False),
    Column("email", Text, nullable=False),
    Column("phone", Text, nullable=False),
    Column("ip_address", Text),
    Column("email_bidx", LargeBinary(32), nullable=False, unique=True),
    Column("phone_bidx", LargeBinary(32), nullable=False, unique=True),
    Column("ip_bidx", LargeBinary(32), unique=True),
    Column("created_at", DateTime(timezone=True), nullable=False),
)
INSERT = insert(leads)


def _string(value: Any) -> str:
    """A JSON string, nothing else."""
    if not isinstance(value, str):
        raise ValidationError("Must be a string.")
    return value


def _email(value: Any) -> str:
    """email-validator's normalized form (no DNS)."""
    try:
        return validate_email(_string(value), check_deliverability=False).normalized
    except EmailNotValidError as error:
        raise ValidationError(str(error)) from None


def _phone(value: Any) -> str:
    """An international number, valid by phonenumbers, in E.164."""
    try:
        number = phonenumbers.parse(_string(value), None)
    except phonenumbers.NumberParseException:
        raise ValidationError("Not a valid phone number.") from None
    if not phonenumbers.is_valid_number(number):
        raise ValidationError("Not a valid phone number.")
    return phonenumbers.format_number(number, phonenumbers.PhoneNumberFormat.E164)


class ReferenceLeadSchema(Schema):
    """Name, email and phone (required) and an optional IP address."""

    name = fields.String(required=True, validate=validate.Length(min=1, max=100))
    email = fields.Function(deserialize=_email, required=True)
    phone = fields.Function(deserialize=_phone, required=True)
    ip_address = fields.IP(load_default=None)


def create_reference_app(env: Mapping[str, str] = os.environ) -> Flask:
    """The reference app: POST /leads stores one encrypted, blind-indexed lead or refuses it."""
    app = Flask(__name__)
    app.config["MAX_CONTENT_LENGTH"] = MAX_BODY_BYTES
    fernet = Fernet(env["LEADAPP_ENCRYPTION_KEYS"].split(",")[0].strip())
    master = base64.urlsafe_b64decode(env["LEADAPP_BLIND_INDEX_KEY"])
    # One key per blind-indexed field (domain separation), as LeadApp's keyring derives them.
    index_keys = {
        field: hmac.digest(master, f"reference/{field}".encode(), "sha256")
        for field in BLIND_INDEXED
    }
    engine = create_engine(env["LEADAPP_DATABASE_URL"])
    configure_engine(app, engine)  # LeadApp's SQLite pragmas: WAL, synchronous=NORMAL
    metadata.create_all(engine)
    schema = ReferenceLeadSchema()

    def blind_index(field: str, value: str) -> bytes:
        return hmac.digest(index_keys[field], value.encode(), "sha256")

    @app.post("/leads")
    def create_lead() -> tuple[dict[str, Any], int]:
        """Parse strictly, validate, encrypt four fields, index three, INSERT and commit."""
        try:
            body = parse_strict_json(request.get_data())
        except StrictJSONError as error:
            return {"status": 400, "detail": str(error)}, 400
        try:
            lead = schema.load(body)
        except ValidationError as error:
            return {"status": 422, "errors": error.messages}, 422
        ip = str(lead["ip_address"]) if lead["ip_address"] is not None else None
        lead_id, now = str(uuid.uuid4()), datetime.now(UTC)
        row = {
            "id": lead_id,
            "name": fernet.encrypt(lead["name"].encode()).decode(),
            "email": fernet.encrypt(lead["email"].encode()).decode(),
            "phone": fernet.encrypt(lead["phone"].encode()).decode(),
            "ip_address": fernet.encrypt(ip.encode()).decode() if ip else None,
            "email_bidx": blind_index("email", lead["email"].lower()),
            "phone_bidx": blind_index("phone", lead["phone"]),
            "ip_bidx": blind_index("ip_address", ip) if ip else None,
            "created_at": now,
        }
        try:
            with engine.begin() as connection:
                connection.execute(INSERT, row)
        except IntegrityError:
            return {"status": 409, "detail": "A lead with this email, phone or IP exists."}, 409
        shown = {"id": lead_id, "name": lead["name"], "email": lead["email"]}
        return {
            **shown,
            "phone": lead["phone"],
            "ip_address": ip,
            "created_at": now.isoformat(),
        }, 201

    return app


def main(argv: list[str] | None = None) -> int:
    """Serve the reference app with the waitress settings LeadApp is served with."""
    args = server_parser("Serve the benchmark's reference app.").parse_args(argv)
    serve_app(create_reference_app(), args)
    return 0


if __name__ == "__main__":
    sys.exit(main())
