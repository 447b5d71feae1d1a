"""Form endpoints: a form's public posts and settings, and the admin API of form documents."""

from __future__ import annotations

from flask import Blueprint, current_app, g, request

from leadapp.api import hosted
from leadapp.api.leads import LEADS_LIMIT_SCOPE, create_limit
from leadapp.api.parsing import URLENCODED, json_object_body
from leadapp.api.responses import DATABASE, JSON_BODY, rate_limited, responds
from leadapp.http.authentication import accepts_api_key, require_api_key
from leadapp.http.client import client_ip
from leadapp.schemas import LeadSchema
from leadapp.schemas.form import (
    FORM_DOCUMENT_MAX_BYTES,
    FormListSchema,
    FormSchema,
    PublicFormSettingsSchema,
)
from leadapp.services import forms, idempotency, intake

bp = Blueprint("forms", __name__)
lead_schema = LeadSchema()
form_schema = FormSchema()
list_schema = FormListSchema()
settings_schema = PublicFormSettingsSchema()
# A form-encoded post's errors are HTML pages (api/hosted.py); the JSON paths' stay problems.
bp.register_error_handler(Exception, hosted.error_page)


@bp.post("/f/<slug>")
@responds(201, 200, 303, *JSON_BODY, 404, 409, *DATABASE)
@accepts_api_key
@rate_limited(create_limit, methods=["POST"], scope=LEADS_LIMIT_SCOPE)
def create_form_lead(slug: str):
    """Accept one lead for this form, as POST /leads does; form-encoded: the no-JavaScript path."""
    form = forms.require_form(slug)
    caller = intake.Caller(
        api_key=g.get("api_key"),
        ip=client_ip(),
        idempotency_keys=request.headers.getlist(idempotency.HEADER),
    )
    if request.mimetype == URLENCODED:
        return hosted.submit_urlencoded(form, caller)
    created = intake.submit(json_object_body(), caller, form)
    headers = {"Location": f"/leads/{created.lead['id']}"}
    if created.replayed:
        headers[idempotency.REPLAYED_HEADER] = "true"
    return lead_schema.dump(created.lead), 201, headers


@bp.get("/f/<slug>/settings")
@responds(200, 404, *DATABASE)
def get_form_settings(slug: str):
    """What a page needs to show the form: title, labels, fields, challenge, consent text."""
    return settings_schema.dump(forms.public_settings(forms.require_form(slug)))


@bp.get("/forms")
@responds(200, *DATABASE)
@require_api_key
def list_forms():
    """Every live form, `default` first, then by slug, and the base URL of their snippets."""
    public_url = current_app.config["LEADAPP_PUBLIC_URL"]
    return list_schema.dump({"items": forms.list_forms(), "public_url": public_url})


@bp.get("/forms/<slug>")
@responds(200, 404, *DATABASE)
@require_api_key
def get_form(slug: str):
    """One form's document."""
    return form_schema.dump(forms.show_form(slug))


@bp.put("/forms/<slug>")
@responds(200, 201, *JSON_BODY, *DATABASE)
@require_api_key
def put_form(slug: str):
    """Create or replace a form from a document (at most 64 KiB)."""
    result = forms.put_form(g.api_key, slug, json_object_body(FORM_DOCUMENT_MAX_BYTES))
    return form_schema.dump(result.document), 201 if result.created else 200


@bp.delete("/forms/<slug>")
@responds(204, 404, 409, *DATABASE)
@require_api_key
def remove_form(slug: str):
    """Remove a form; its leads stay."""
    forms.remove_form(g.api_key, slug)
    return "", 204
