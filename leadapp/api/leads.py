"""Lead endpoints: thin views over the lead service."""

from __future__ import annotations

import uuid

from flask import Blueprint, current_app, g, request

from leadapp.api.parsing import json_object_body, query_args
from leadapp.api.responses import DATABASE, JSON_BODY, QUERY, rate_limited, responds
from leadapp.http.authentication import accepts_api_key, require_api_key
from leadapp.http.client import client_ip
from leadapp.schemas import LeadPageSchema, LeadQueryArgsSchema, LeadSchema
from leadapp.services import idempotency, intake, leads

bp = Blueprint("leads", __name__)

query_schema = LeadQueryArgsSchema()
lead_schema = LeadSchema()
page_schema = LeadPageSchema()


# POST /leads and every POST /f/<slug> count together: one client, one allowance (contract).
LEADS_LIMIT_SCOPE = "leads"


def create_limit() -> str:
    """Per-key limit for API-key callers, per-IP limit for everyone else."""
    setting = "LEADAPP_RATELIMIT_INTEGRATIONS" if g.get("api_key") else "LEADAPP_RATELIMIT_LEADS"
    return current_app.config[setting]


@bp.post("/leads")
@responds(201, *JSON_BODY, 409, *DATABASE)
@accepts_api_key
@rate_limited(create_limit, methods=["POST"], scope=LEADS_LIMIT_SCOPE)
def create_lead():
    """Accept one lead (or answer a replay, or a honeypot hit, exactly like one)."""
    caller = intake.Caller(
        api_key=g.get("api_key"),
        ip=client_ip(),
        idempotency_keys=request.headers.getlist(idempotency.HEADER),
    )
    created = intake.submit(json_object_body(), caller)
    headers = {"Location": f"/leads/{created.lead['id']}"}
    if created.replayed:
        headers[idempotency.REPLAYED_HEADER] = "true"
    return lead_schema.dump(created.lead), 201, headers


@bp.get("/leads")
@responds(200, *QUERY, *DATABASE)
@require_api_key
def list_leads():
    """A page of leads, newest first, optionally filtered by exact email or phone."""
    args = query_args(query_schema)
    page = leads.list_leads(g.api_key, **args)
    return page_schema.dump(page)


@bp.get("/leads/<uuid:lead_id>")
@responds(200, 404, *DATABASE)
@require_api_key
def get_lead(lead_id: uuid.UUID):
    """One lead."""
    return lead_schema.dump(leads.get_lead(g.api_key, lead_id))


@bp.delete("/leads/<uuid:lead_id>")
@responds(204, 404, *DATABASE)
@require_api_key
def erase_lead(lead_id: uuid.UUID):
    """Erase one lead."""
    leads.erase_lead(g.api_key, lead_id)
    return "", 204
