"""Lead endpoints: thin views over the lead service."""

from __future__ import annotations

import uuid

from flask import Blueprint, current_app, g

from leadapp.api.parsing import json_object_body, load_or_422, query_args
from leadapp.extensions import limiter
from leadapp.http.authentication import accepts_api_key, require_api_key
from leadapp.http.client import client_ip
from leadapp.schemas import LeadCreateSchema, LeadPageSchema, LeadQueryArgsSchema, LeadSchema
from leadapp.services import leads

bp = Blueprint("leads", __name__)

create_schema = LeadCreateSchema()
query_schema = LeadQueryArgsSchema()
lead_schema = LeadSchema()
page_schema = LeadPageSchema()


def _create_limit() -> str:
    """Per-key limit for API-key callers, per-IP limit for everyone else."""
    setting = "LEADAPP_RATELIMIT_INTEGRATIONS" if g.get("api_key") else "LEADAPP_RATELIMIT_LEADS"
    return current_app.config[setting]


@bp.post("/leads")
@accepts_api_key
@limiter.limit(_create_limit, methods=["POST"])
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


@bp.get("/leads")
@require_api_key
def list_leads():
    """A page of leads, newest first, optionally filtered by exact email or phone."""
    args = query_args(query_schema)
    page = leads.list_leads(g.api_key, **args)
    return page_schema.dump(page)


@bp.get("/leads/<uuid:lead_id>")
@require_api_key
def get_lead(lead_id: uuid.UUID):
    """One lead."""
    return lead_schema.dump(leads.get_lead(g.api_key, lead_id))


@bp.delete("/leads/<uuid:lead_id>")
@require_api_key
def erase_lead(lead_id: uuid.UUID):
    """Erase one lead."""
    leads.erase_lead(g.api_key, lead_id)
    return "", 204
