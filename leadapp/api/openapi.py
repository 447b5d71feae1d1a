"""The OpenAPI 3 description of LeadApp, generated from the marshmallow schemas by apispec."""

from __future__ import annotations

from typing import Any

from apispec import APISpec
from apispec.ext.marshmallow import MarshmallowPlugin

from leadapp.config import MAX_BODY_BYTES
from leadapp.schemas import LeadCreateSchema, LeadPageSchema, LeadQueryArgsSchema, LeadSchema
from leadapp.schemas.bot_defence import ChallengeSchema, FormSettingsSchema
from leadapp.schemas.problem import ProblemSchema, StatusSchema
from leadapp.schemas.webhooks import (
    WebhookDeliveryListSchema,
    WebhookDeliveryQueryArgsSchema,
    WebhookEndpointListSchema,
)
from leadapp.services.idempotency import HEADER as IDEMPOTENCY_HEADER
from leadapp.services.idempotency import REPLAYED_HEADER

PROBLEM = "application/problem+json"
PROBLEM_STATUSES = {
    400: "The body is not strict JSON, or not a JSON object; or the Idempotency-Key is malformed.",
    401: "An API key is required, or the one given is unknown or revoked.",
    403: "The client's network is blocked, or ip_address was sent without an API key.",
    404: "No such lead (or a malformed id).",
    409: "Duplicate lead; `errors` names every conflicting field.",
    413: f"The body is larger than {MAX_BODY_BYTES // 1024} KiB.",
    415: "Content-Type is not JSON.",
    422: (
        "Validation failed; `errors` names every invalid field (inside `attribution` by "
        "dotted path, e.g. `attribution.page_url`), `challenge` for a missing, malformed, "
        "wrong, forged, expired or reused solution. Type "
        "`urn:leadapp:problem:idempotency-key-reused`: the Idempotency-Key already created "
        "a lead from a different body."
    ),
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
IDEMPOTENCY_KEY = {
    "in": "header",
    "name": IDEMPOTENCY_HEADER,
    "required": False,
    "description": (
        "Scoped to the API key (anonymous: to the client IP). Repeating a key of a lead "
        "created in the last 24 hours with the same body (after normalization, ignoring "
        "`challenge`) returns that lead's 201 again with Idempotency-Replayed: true; "
        "another body is 422. Erasing the lead forgets the key."
    ),
    "schema": {"type": "string", "minLength": 1, "maxLength": 255, "pattern": "^[!-~]+$"},
}
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
    spec.components.schema("Challenge", schema=ChallengeSchema)
    spec.components.schema("FormSettings", schema=FormSettingsSchema)
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
                    "Public. With an API key the body may carry the visitor's ip_address, "
                    "and `attribution.source` defaults to the key's name. With "
                    "LEADAPP_CONSENT_TEXT set, `consent` must be true. With "
                    "LEADAPP_CHALLENGE=on, anonymous callers send a solved GET /challenge. "
                    "An anonymous body with a non-empty `website` (the honeypot) is answered "
                    "like a success (201, a fresh id) and nothing is stored; so is an "
                    "anonymous duplicate by email or phone under "
                    "LEADAPP_DUPLICATES_ANONYMOUS=conceal. A 409 by email or phone adds one "
                    "to each conflicting lead's `resubmissions`."
                ),
                "security": [{}, {"bearer": []}],
                "parameters": [IDEMPOTENCY_KEY],
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
                            REPLAYED_HEADER: {
                                "schema": {"type": "string", "enum": ["true"]},
                                "description": "Present on an idempotent replay.",
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
        path="/challenge",
        operations={
            "get": {
                "summary": "A proof-of-work challenge (ALTCHA-compatible)",
                "operationId": "getChallenge",
                "description": (
                    "Public, answered whatever LEADAPP_CHALLENGE says. Find n <= maxnumber "
                    "with sha256(salt + str(n)) == challenge and send `challenge`: base64 of "
                    'the JSON {"algorithm", "challenge", "number": n, "salt", "signature"} '
                    "with POST /leads within 10 minutes; each solution is accepted once."
                ),
                "responses": {
                    200: _json(
                        "Challenge",
                        "A fresh challenge.",
                        headers={
                            **HEADERS,
                            "Cache-Control": {"schema": {"type": "string", "enum": ["no-store"]}},
                        },
                    ),
                    **_problems(403),
                },
            }
        },
    )
    spec.path(
        path="/form-settings",
        operations={
            "get": {
                "summary": "What the form page shows and does",
                "operationId": "getFormSettings",
                "responses": {200: _json("FormSettings", "The settings."), **_problems(403)},
            }
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
    _add_operator_paths(spec)
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


def _add_operator_paths(spec: APISpec) -> None:
    """The CSV export and the statistics (contract v2)."""
    from leadapp.schemas.operator import ExportArgsSchema, StatsArgsSchema, StatsSchema
    from leadapp.services.export import COLUMNS

    spec.components.schema("Stats", schema=StatsSchema)
    admin = [{"bearer": []}]
    spec.path(
        path="/leads/export.csv",
        operations={
            "get": {
                "summary": "Export leads as CSV, oldest first (streamed)",
                "operationId": "exportLeads",
                "description": (
                    "Every lead with from <= created_at < to. Header row: "
                    + ",".join(COLUMNS)
                    + ". A cell starting with =, +, -, @, tab or CR is prefixed with ' "
                    "(except the E.164 phone). One audit event `export` with the count."
                ),
                "security": admin,
                "parameters": [{"in": "query", "schema": ExportArgsSchema}],
                "responses": {
                    200: {
                        "description": "The CSV, UTF-8, as an attachment.",
                        "headers": {
                            **HEADERS,
                            "Content-Disposition": {
                                "schema": {"type": "string"},
                                "description": 'attachment; filename="leads-<time>.csv"',
                            },
                        },
                        "content": {"text/csv": {"schema": {"type": "string"}}},
                    },
                    **_problems(401, 403, 422, 503),
                },
            }
        },
    )
    spec.path(
        path="/stats",
        operations={
            "get": {
                "summary": "Leads and spam per UTC day, and leads per source",
                "operationId": "getStats",
                "security": admin,
                "parameters": [{"in": "query", "schema": StatsArgsSchema}],
                "responses": {
                    200: _json("Stats", "One entry per day, oldest first, today last."),
                    **_problems(401, 403, 422, 503),
                },
            }
        },
    )
