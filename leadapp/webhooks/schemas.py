"""Marshmallow schemas of the read-only webhook admin API."""

from __future__ import annotations

from typing import Any

from marshmallow import RAISE, Schema, ValidationError, fields, validate

from leadapp.schemas.lead import UTCDateTime
from leadapp.webhooks.models import STATUSES

LIMIT_MAX = 100


class DigitsInteger(fields.Integer):
    """An integer written in ASCII digits only (no sign, underscore, space or other script)."""

    def _deserialize(self, value: Any, attr: str | None, data: Any, **kwargs: Any) -> int:
        """Refuse anything but 1-6 ASCII digits."""
        if not (isinstance(value, str) and value.isascii() and value.isdigit() and len(value) < 7):
            raise ValidationError("Must be an integer written in digits 0-9.")
        return int(value)


class WebhookEndpointSchema(Schema):
    """An endpoint as the admin API lists it (never its secret)."""

    id = fields.UUID(required=True)
    url = fields.String(required=True)
    events = fields.List(fields.String(), required=True)
    created_at = UTCDateTime(required=True)


class WebhookEndpointListSchema(Schema):
    """Every active endpoint."""

    items = fields.List(fields.Nested(WebhookEndpointSchema), required=True)


class WebhookDeliverySchema(Schema):
    """A delivery's state (never its body)."""

    id = fields.UUID(required=True, metadata={"description": "Sent as webhook-id."})
    endpoint_id = fields.UUID(required=True)
    endpoint_url = fields.String(required=True)
    event = fields.String(required=True)
    lead_id = fields.UUID(required=True)
    status = fields.String(required=True, metadata={"enum": list(STATUSES)})
    attempts = fields.Integer(required=True)
    last_status = fields.Integer(required=True, allow_none=True)
    last_error = fields.String(required=True, allow_none=True)
    next_attempt_at = UTCDateTime(required=True, allow_none=True)
    last_attempt_at = UTCDateTime(required=True, allow_none=True)
    delivered_at = UTCDateTime(required=True, allow_none=True)
    created_at = UTCDateTime(required=True)


class WebhookDeliveryListSchema(Schema):
    """The newest deliveries, newest first."""

    items = fields.List(fields.Nested(WebhookDeliverySchema), required=True)


class WebhookDeliveryQueryArgsSchema(Schema):
    """Query arguments of GET /webhooks/deliveries."""

    class Meta:
        unknown = RAISE

    status = fields.String(
        validate=validate.OneOf(STATUSES),
        metadata={"description": "Only deliveries in this state."},
    )
    limit = DigitsInteger(
        load_default=50,
        validate=validate.Range(min=1, max=LIMIT_MAX),
        metadata={"description": "How many, 1-100 (default 50)."},
    )
