"""Marshmallow schemas of the read-only webhook admin API."""

from __future__ import annotations

from marshmallow import RAISE, Schema, fields, validate

from leadapp.models.outbox import STATUSES
from leadapp.schemas.fields import StrictInteger
from leadapp.schemas.lead import UTCDateTime

LIMIT_MAX = 100


class WebhookEndpointSchema(Schema):
    """An endpoint as the admin API lists it (never its secret)."""

    id = fields.UUID(required=True)
    url = fields.String(required=True)
    events = fields.List(fields.String(), required=True)
    forms = fields.List(
        fields.String(),
        required=True,
        allow_none=True,
        metadata={"description": "The slugs of the forms whose leads it gets; null: every form."},
    )
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
    limit = StrictInteger(
        load_default=50,
        validate=validate.Range(min=1, max=LIMIT_MAX),
        metadata={"description": "How many, 1-100 (default 50)."},
    )
