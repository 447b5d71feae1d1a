"""Read-only webhook endpoints for the admin page: endpoints and recent deliveries."""

from __future__ import annotations

from flask import Blueprint

from leadapp.api.parsing import query_args
from leadapp.api.responses import DATABASE, QUERY, responds
from leadapp.channels.webhook import endpoints
from leadapp.http.authentication import require_api_key
from leadapp.schemas.webhooks import (
    WebhookDeliveryListSchema,
    WebhookDeliveryQueryArgsSchema,
    WebhookEndpointListSchema,
)

bp = Blueprint("webhooks", __name__)

endpoint_list_schema = WebhookEndpointListSchema()
delivery_list_schema = WebhookDeliveryListSchema()
delivery_query_schema = WebhookDeliveryQueryArgsSchema()


@bp.get("/webhooks")
@responds(200, *DATABASE)
@require_api_key
def list_endpoints():
    """Every subscribed endpoint (never a secret)."""
    return endpoint_list_schema.dump({"items": endpoints.list_endpoints()})


@bp.get("/webhooks/deliveries")
@responds(200, *QUERY, *DATABASE)
@require_api_key
def list_deliveries():
    """The newest deliveries, optionally of one status."""
    args = query_args(delivery_query_schema)
    return delivery_list_schema.dump({"items": endpoints.list_deliveries(**args)})
