"""Marshmallow schemas of the read-only mail admin API."""

from __future__ import annotations

from marshmallow import Schema, fields

from leadapp.models.mail import KINDS
from leadapp.models.outbox import STATUSES
from leadapp.schemas.lead import UTCDateTime
from leadapp.schemas.webhooks import WebhookDeliveryQueryArgsSchema


class MailDeliverySchema(Schema):
    """A mail's state: never its content, nor its recipient (an address is personal data)."""

    id = fields.UUID(required=True, metadata={"description": "Its Message-ID's local part."})
    kind = fields.String(required=True, metadata={"enum": list(KINDS)})
    form = fields.String(
        required=True,
        allow_none=True,
        metadata={"description": "The form's slug; null once the lead is erased."},
    )
    lead_id = fields.UUID(required=True)
    status = fields.String(required=True, metadata={"enum": list(STATUSES)})
    attempts = fields.Integer(required=True)
    last_status = fields.Integer(
        required=True, allow_none=True, metadata={"description": "The last SMTP reply code."}
    )
    last_error = fields.String(required=True, allow_none=True)
    next_attempt_at = UTCDateTime(required=True, allow_none=True)
    last_attempt_at = UTCDateTime(required=True, allow_none=True)
    delivered_at = UTCDateTime(required=True, allow_none=True)
    created_at = UTCDateTime(required=True)


class MailDeliveryListSchema(Schema):
    """The newest mails, newest first."""

    items = fields.List(fields.Nested(MailDeliverySchema), required=True)


class MailDeliveryQueryArgsSchema(WebhookDeliveryQueryArgsSchema):
    """Query arguments of GET /mail/deliveries: the same as for webhook deliveries."""
