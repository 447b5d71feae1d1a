"""The OpenAPI 3 description of LeadApp, generated from the marshmallow schemas by apispec."""

from __future__ import annotations

from typing import Any

from apispec import APISpec
from apispec.ext.marshmallow import MarshmallowPlugin

from leadapp.config import MAX_BODY_BYTES
from leadapp.schemas import LeadCreateSchema, LeadPageSchema, LeadQueryArgsSchema, LeadSchema
from leadapp.schemas.problem import ProblemSchema, StatusSchema
from leadapp.webhooks.schemas import (
    WebhookDeliveryListSchema,
    WebhookDeliveryQueryArgsSchema,
    WebhookEndpointListSchema,
)

PROBLEM = "application/problem+json"
PROBLEM_STATUSES = {
    400: "The body is not strict JSON, or not a JSON object.",
    401: "An API key is required, or the one given is unknown or revoked.",
    403: "The client's network is blocked, or ip_address was sent without an API key.",
    404: "No such lead (or a malformed id).",
    409: "Duplicate lead; `errors` names every conflicting field.",
    413: f"The body is larger than {MAX_BODY_BYTES // 1024} KiB.",
    415: "Content-Type is not JSON.",
    422: "Validation failed; `errors` names every invalid field.",
    429: "Rate limited; see Retry-After.",
    500: "Unexpected error; the detail quotes the request id.",
    503: "The database (or a backing service) is unavailable; see Retry-After.",
}
HEADERS = {
    "X-Request-ID": {
        "description": "The request id (the caller's, if sane).",
        "schema": {"type": "string"},
    },
}
RETRY_AFTER = {"description": "Seconds to wait.", "schema": {"type": "integer"}}
LEAD_ID = {
    "in": "path",
    "name": "lead_id",
    "required": True,
    "schema": {"type": "string", "format": "uuid"},
}


def _problems(*statuses: int) -> dict[int, Any]:
    """Problem responses for the given statuses (and 500, possible everywhere)."""
    responses: dict[int, Any] = {}
    for status in (*statuses, 500):
        headers = dict(HEADERS)
        if status in (429, 503):
            headers["Retry-After"] = RETRY_AFTER
        if status == 401:
            headers["WWW-Authenticate"] = {"schema": {"type": "string"}}
        responses[status] = {
            "description": PROBLEM_STATUSES[status],
            "headers": headers,
            "content": {PROBLEM: {"schema": "Problem"}},
        }
    return responses


def _json(schema: str, description: str, **extra: Any) -> dict[str, Any]:
    """A JSON response with the given schema."""
    return {
        "description": description,
        "headers": dict(HEADERS),
        "content": {"application/json": {"schema": schema}},
        **extra,
    }


def _page(description: str) -> dict[str, Any]:
    """An HTML page response."""
    return {"description": description, "content": {"text/html": {"schema": {"type": "string"}}}}


def build_openapi(version: str) -> dict[str, Any]:
    """The whole document, as a dict ready to serve as JSON."""
    spec = APISpec(
        title="LeadApp",
        version=version,
        openapi_version="3.0.3",
        plugins=[MarshmallowPlugin()],
        info={"description": "Lead intake: validate, deduplicate and encrypt contact details."},
    )
    spec.components.schema("Lead", schema=LeadSchema)
    spec.components.schema("LeadCreate", schema=LeadCreateSchema)
    spec.components.schema("LeadPage", schema=LeadPageSchema)
    spec.components.schema("Problem", schema=ProblemSchema)
    spec.components.schema("Status", schema=StatusSchema)
    spec.components.security_scheme("bearer", {"type": "http", "scheme": "bearer"})
    admin = [{"bearer": []}]

    spec.path(
        path="/leads",
        operations={
            "post": {
                "summary": "Submit a lead",
                "operationId": "createLead",
                "description": (
                    "Public. With an API key the body may carry the visitor's ip_address."
                ),
                "security": [{}, {"bearer": []}],
                "requestBody": {
                    "required": True,
                    "content": {"application/json": {"schema": "LeadCreate"}},
                },
                "responses": {
                    201: _json(
                        "Lead",
                        "Created.",
                        headers={
                            **HEADERS,
                            "Location": {
                                "schema": {"type": "string"},
                                "description": "/leads/<id>",
                            },
                        },
                    ),
                    **_problems(400, 401, 403, 409, 413, 415, 422, 429, 503),
                },
            },
            "get": {
                "summary": "List leads, newest first",
                "operationId": "listLeads",
                "security": admin,
                "parameters": [{"in": "query", "schema": LeadQueryArgsSchema}],
                "responses": {
                    200: _json("LeadPage", "A page of leads."),
                    **_problems(401, 403, 422, 503),
                },
            },
        },
    )
    spec.path(
        path="/leads/{lead_id}",
        parameters=[LEAD_ID],
        operations={
            "get": {
                "summary": "Read one lead",
                "operationId": "getLead",
                "security": admin,
                "responses": {200: _json("Lead", "The lead."), **_problems(401, 403, 404, 503)},
            },
            "delete": {
                "summary": "Erase one lead (its email, phone and IP become free again)",
                "operationId": "eraseLead",
                "security": admin,
                "responses": {
                    204: {"description": "Erased.", "headers": dict(HEADERS)},
                    **_problems(401, 403, 404, 503),
                },
            },
        },
    )
    spec.path(
        path="/healthz",
        operations={
            "get": {
                "summary": "Liveness",
                "operationId": "healthz",
                "responses": {200: _json("Status", "The process serves."), **_problems(403)},
            }
        },
    )
    spec.path(
        path="/readyz",
        operations={
            "get": {
                "summary": "Readiness of the database and the rate-limit storage",
                "operationId": "readyz",
                "responses": {200: _json("Status", "Ready."), **_problems(403, 503)},
            }
        },
    )
    spec.path(
        path="/openapi.json",
        operations={
            "get": {
                "summary": "This document",
                "operationId": "openapi",
                "responses": {
                    200: {
                        "description": "OpenAPI 3 document.",
                        "content": {"application/json": {"schema": {"type": "object"}}},
                    },
                    **_problems(403),
                },
            }
        },
    )
    for path, summary in (("/", "The lead form"), ("/admin", "The admin page")):
        spec.path(
            path=path,
            operations={
                "get": {
                    "summary": summary,
                    "operationId": "page" + path.strip("/").title(),
                    "responses": {200: _page(summary + "."), **_problems(403)},
                }
            },
        )
    _add_webhook_paths(spec)
    return spec.to_dict()


def _add_webhook_paths(spec: APISpec) -> None:
    """The read-only webhook endpoints of the admin page."""
    spec.components.schema("WebhookEndpointList", schema=WebhookEndpointListSchema)
    spec.components.schema("WebhookDeliveryList", schema=WebhookDeliveryListSchema)
    admin = [{"bearer": []}]
    spec.path(
        path="/webhooks",
        operations={
            "get": {
                "summary": "List subscribed webhook endpoints (never their secrets)",
                "operationId": "listWebhookEndpoints",
                "security": admin,
                "responses": {
                    200: _json("WebhookEndpointList", "Every active endpoint."),
                    **_problems(401, 403, 503),
                },
            }
        },
    )
    spec.path(
        path="/webhooks/deliveries",
        operations={
            "get": {
                "summary": "The newest webhook deliveries, optionally of one status",
                "operationId": "listWebhookDeliveries",
                "security": admin,
                "parameters": [{"in": "query", "schema": WebhookDeliveryQueryArgsSchema}],
                "responses": {
                    200: _json("WebhookDeliveryList", "Deliveries, newest first."),
                    **_problems(401, 403, 422, 503),
                },
            }
        },
    )
