"""Schemas of GET /challenge and GET /form-settings (what the form page needs)."""

from __future__ import annotations

from marshmallow import Schema, fields


class ChallengeSchema(Schema):
    """An ALTCHA-compatible proof-of-work challenge."""

    algorithm = fields.String(required=True, metadata={"enum": ["SHA-256"]})
    challenge = fields.String(
        required=True,
        metadata={"description": "sha256(salt + str(number)), hex.", "pattern": "^[0-9a-f]{64}$"},
    )
    maxnumber = fields.Integer(
        required=True,
        metadata={"description": "The number is at most this.", "maximum": 1_000_000},
    )
    salt = fields.String(
        required=True, metadata={"description": "Carries the expiry (10 minutes); use verbatim."}
    )
    signature = fields.String(
        required=True, metadata={"description": "The service's HMAC of the challenge, hex."}
    )


class FormSettingsSchema(Schema):
    """The settings of the public form page (the default form's)."""

    challenge = fields.Boolean(
        required=True, metadata={"description": "Whether POST /leads needs a solved challenge."}
    )
    consent_text = fields.String(
        required=True,
        allow_none=True,
        metadata={"description": "The consent checkbox's text; null: no checkbox."},
    )
    slug = fields.String(required=True)
    title = fields.String(required=True)
    labels = fields.Dict(keys=fields.String(), values=fields.String(), required=True)
    fields_ = fields.List(
        fields.Dict(),
        required=True,
        data_key="fields",
        attribute="fields",
        metadata={"description": "The custom fields' definitions, in order."},
    )
