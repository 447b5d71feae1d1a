"""The RFC 9457 problem document, as a schema for the OpenAPI description."""

from __future__ import annotations

from marshmallow import Schema, fields


class ProblemSchema(Schema):
    """An error response (application/problem+json)."""

    type = fields.String(required=True, metadata={"example": "urn:leadapp:problem:duplicate-lead"})
    title = fields.String(required=True)
    status = fields.Integer(required=True)
    detail = fields.String(required=True)
    errors = fields.Dict(
        keys=fields.String(),
        values=fields.List(fields.String()),
        metadata={"description": "For 409 and 422: each offending field and its messages."},
    )
    errors_omitted = fields.Integer(
        metadata={
            "description": (
                "How many entries `errors` leaves out: unknown or repeated names past the "
                "first 20, and entries dropped to keep the document within 16 KiB."
            )
        },
    )


class StatusSchema(Schema):
    """The body of /healthz and /readyz."""

    status = fields.String(required=True, metadata={"example": "ok"})
    checks = fields.Dict(keys=fields.String(), values=fields.String())
