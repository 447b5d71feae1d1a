"""Read-only mail deliveries for the admin page (the failed ones, mostly)."""

from __future__ import annotations

from flask import Blueprint

from leadapp.api.parsing import query_args
from leadapp.api.responses import DATABASE, QUERY, responds
from leadapp.channels.mail import deliveries
from leadapp.http.authentication import require_api_key
from leadapp.schemas.mail import MailDeliveryListSchema, MailDeliveryQueryArgsSchema

bp = Blueprint("mail", __name__)

delivery_list_schema = MailDeliveryListSchema()
delivery_query_schema = MailDeliveryQueryArgsSchema()


@bp.get("/mail/deliveries")
@responds(200, *QUERY, *DATABASE)
@require_api_key
def list_deliveries():
    """The newest mails, optionally of one status (never a recipient or content)."""
    args = query_args(delivery_query_schema)
    return delivery_list_schema.dump({"items": deliveries.list_deliveries(**args)})
