"""The schema of GET /challenge: a proof-of-work challenge for the form page to solve."""

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
