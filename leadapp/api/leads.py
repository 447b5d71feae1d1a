"""Lead endpoints: thin views over the lead service."""

from __future__ import annotations

from flask import Blueprint, current_app, g

from leadapp.api.parsing import json_object_body, load_or_422
from leadapp.clientip import client_ip
from leadapp.extensions import limiter
from leadapp.schemas import LeadCreateSchema, LeadSchema
from leadapp.services import leads

bp = Blueprint("leads", __name__)

create_schema = LeadCreateSchema()
lead_schema = LeadSchema()


def _create_limit() -> str:
    """Per-key limit for API-key callers, per-IP limit for everyone else."""
    setting = "LEADAPP_RATELIMIT_INTEGRATIONS" if g.get("api_key") else "LEADAPP_RATELIMIT_LEADS"
    return current_app.config[setting]


@bp.post("/leads")
@limiter.limit(_create_limit)
def create_lead():
    """Accept one lead."""
    fields = load_or_422(create_schema, json_object_body())
    ip_address = leads.lead_ip_address(
        fields.pop("ip_address", None),
        authenticated=g.get("api_key") is not None,
        connection_ip=client_ip(),
    )
    lead = leads.create_lead(fields, ip_address)
    return lead_schema.dump(lead), 201, {"Location": f"/leads/{lead['id']}"}
