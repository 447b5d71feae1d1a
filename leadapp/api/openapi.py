"""The OpenAPI 3 description of LeadApp, built from the app's URL map and its views' declarations.

Which routes, methods and statuses the document has comes from the app itself: every rule
of `app.url_map`, and for each the statuses its view declares (api/responses.py) plus those
the pipeline adds. This module only adds the words and the bodies, from the marshmallow
schemas by apispec, and refuses to build a document where the two disagree.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from typing import Any

from apispec import APISpec
from apispec.ext.marshmallow import MarshmallowPlugin
from flask import Flask
from werkzeug.routing import Rule

from leadapp.api.responses import answers
from leadapp.config import MAX_BODY_BYTES
from leadapp.schemas import LeadCreateSchema, LeadPageSchema, LeadQueryArgsSchema, LeadSchema
from leadapp.schemas.bot_defence import ChallengeSchema
from leadapp.schemas.form import FormListSchema, FormSchema, PublicFormSettingsSchema
from leadapp.schemas.mail import MailDeliveryListSchema, MailDeliveryQueryArgsSchema
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
    403: "The client's network is blocked.",
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
    429: (
        "Rate limited, or (with an API key) locked out after too many failed "
        "authentications; see Retry-After."
    ),
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
ADMIN = [{"bearer": []}]
KEY_OPTIONAL = [{}, {"bearer": []}]
# Path converters of the URL map, as OpenAPI schemas.
CONVERTER_SCHEMAS = {
    "default": {"type": "string"},
    "string": {"type": "string"},
    "path": {"type": "string"},
    "int": {"type": "integer"},
    "uuid": {"type": "string", "format": "uuid"},
}
RULE_ARGUMENT = re.compile(
    r"<(?:(?P<converter>[A-Za-z_]\w*)(?:\([^)]*\))?:)?(?P<name>[A-Za-z_]\w*)>"
)


class DocumentError(RuntimeError):
    """The views and the words about them disagree: the document would be wrong."""


@dataclass(frozen=True)
class Operation:
    """The words and bodies of one view's operation; its statuses come from the view."""

    operation_id: str
    summary: str
    # Every status below 400 the view declares, described (problems render themselves).
    answers: dict[int, dict[str, Any]]
    description: str | None = None
    security: list[dict[str, list[str]]] | None = None
    parameters: list[dict[str, Any]] = field(default_factory=list)
    request_body: dict[str, Any] | None = None
    # Problem descriptions more specific than PROBLEM_STATUSES, for this operation.
    problems: dict[int, str] = field(default_factory=dict)
    # The view may answer a problem as an HTML page (text/html) instead (api/hosted.py).
    problem_pages: bool = False


def _problem(status: int, description: str) -> dict[str, Any]:
    """One problem response, with the headers that go with its status."""
    headers = dict(HEADERS)
    if status in (429, 503):
        headers["Retry-After"] = RETRY_AFTER
    if status == 401:
        headers["WWW-Authenticate"] = {"schema": {"type": "string"}}
    return {
        "description": description,
        "headers": headers,
        "content": {PROBLEM: {"schema": "Problem"}},
    }


def _json(schema: str, description: str, **extra: Any) -> dict[str, Any]:
    """A JSON response with the given schema."""
    return {
        "description": description,
        "headers": dict(HEADERS),
        "content": {"application/json": {"schema": schema}},
        **extra,
    }


# What POST /leads and POST /f/<slug> share: who may call, the body, and the 201.
LEAD_INTAKE: dict[str, Any] = {
    "security": KEY_OPTIONAL,
    "parameters": [IDEMPOTENCY_KEY],
    "request_body": {
        "required": True,
        "content": {"application/json": {"schema": "LeadCreate"}},
    },
    "answers": {
        201: _json(
            "Lead",
            "Created.",
            headers={
                **HEADERS,
                "Location": {"schema": {"type": "string"}, "description": "/leads/<id>"},
                REPLAYED_HEADER: {
                    "schema": {"type": "string", "enum": ["true"]},
                    "description": "Present on an idempotent replay.",
                },
            },
        )
    },
}


def _html(description: str) -> dict[str, Any]:
    """An answer that is an HTML page."""
    return {"description": description, "content": {"text/html": {"schema": {"type": "string"}}}}


# The double opt-in link's refusals (api/confirm.py), each also an HTML page.
CONFIRMATION_PROBLEMS = {
    404: "No lead has this link: never issued, replaced by a newer one, or erased.",
    410: "The link's lead was not confirmed within LEADAPP_OPT_IN_DAYS.",
}


def _page(description: str) -> dict[int, dict[str, Any]]:
    """A static HTML page's answers: the page, or 304 when the browser's copy is current."""
    return {
        200: _html(description),
        304: {"description": "Not modified: the browser's copy is current."},
    }


def _operations() -> dict[str, Operation]:
    """The words of every operation, by the endpoint of its view."""
    from leadapp.schemas.operator import ExportArgsSchema, StatsArgsSchema
    from leadapp.services.export import COLUMNS

    return {
        "leads.create_lead": Operation(
            "createLead",
            "Submit a lead",
            description=(
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
            **LEAD_INTAKE,
            problems={
                403: "The client's network is blocked, or ip_address was sent without an API key.",
            },
        ),
        "leads.list_leads": Operation(
            "listLeads",
            "List leads, newest first",
            description=(
                "With `form`, one form's leads (a removed form's too; a slug no form ever had "
                "gives an empty page). A cursor continues only the listing it came from."
            ),
            security=ADMIN,
            parameters=[{"in": "query", "schema": LeadQueryArgsSchema}],
            answers={200: _json("LeadPage", "A page of leads.")},
            problems={
                422: "A query argument is invalid (a malformed `form` slug), or the cursor was "
                "not issued by this service or belongs to another form's listing.",
            },
        ),
        "leads.get_lead": Operation(
            "getLead", "Read one lead", security=ADMIN, answers={200: _json("Lead", "The lead.")}
        ),
        "leads.erase_lead": Operation(
            "eraseLead",
            "Erase one lead (its email, phone and IP become free again)",
            security=ADMIN,
            answers={204: {"description": "Erased.", "headers": dict(HEADERS)}},
        ),
        "challenge.get_challenge": Operation(
            "getChallenge",
            "A proof-of-work challenge (ALTCHA-compatible)",
            description=(
                "Public, answered whatever LEADAPP_CHALLENGE says. Find n <= maxnumber "
                "with sha256(salt + str(n)) == challenge and send `challenge`: base64 of "
                'the JSON {"algorithm", "challenge", "number": n, "salt", "signature"} '
                "with POST /leads within 10 minutes; each solution is accepted once."
            ),
            answers={
                200: _json(
                    "Challenge",
                    "A fresh challenge.",
                    headers={
                        **HEADERS,
                        "Cache-Control": {"schema": {"type": "string", "enum": ["no-store"]}},
                    },
                )
            },
        ),
        "form_settings.get_form_settings": Operation(
            "getFormSettings",
            "What the form page shows and does",
            answers={200: _json("FormSettings", "The default form's settings.")},
        ),
        "forms.create_form_lead": Operation(
            "createFormLead",
            "Submit a lead to a form",
            description=(
                "As POST /leads, for this form: its challenge and consent text (with the "
                "site-wide LEADAPP_CHALLENGE and LEADAPP_CONSENT_TEXT), its custom fields in "
                "`fields` (errors at `fields.<name>`), and its one_lead_per_ip. A "
                "form-encoded body (at most 100 members) is the no-JavaScript path: the same "
                "intake, answered with 303 to the form's success_url or the thanks page (also "
                "for a honeypot hit or a duplicate by email or phone), and every refusal with "
                "an HTML page (text/html) of the same status, the form refilled."
            ),
            security=KEY_OPTIONAL,
            parameters=[IDEMPOTENCY_KEY],
            request_body={
                "required": True,
                "content": {
                    "application/json": {"schema": "LeadCreate"},
                    "application/x-www-form-urlencoded": {
                        "schema": {"type": "object", "additionalProperties": {"type": "string"}}
                    },
                },
            },
            answers={
                **LEAD_INTAKE["answers"],
                200: _html("Form-encoded: the thanks page (the form has no success_url)."),
                303: {
                    "description": "Form-encoded: to the form's success_url, exactly.",
                    "headers": {"Location": {"schema": {"type": "string"}}},
                },
            },
            problems={
                403: "The client's network is blocked, or ip_address was sent without an API key.",
                404: "No live form with this slug.",
            },
            problem_pages=True,
        ),
        "hosted.page": Operation(
            "formPage",
            "A form's hosted page (works without JavaScript)",
            answers={200: _html("The form's page.")},
            problems={404: "No live form with this slug (an HTML page)."},
            problem_pages=True,
        ),
        "hosted.default_page": Operation(
            "page",
            "The default form's hosted page, as GET /f/default",
            answers={200: _html("The default form's page.")},
            problem_pages=True,
        ),
        "confirm.confirm_page": Operation(
            "confirmationPage",
            "A double opt-in link's page: a button that confirms (this confirms nothing)",
            description=(
                "Mail scanners open links, so a GET never confirms: the page has a button "
                "that posts to the same URL. A confirmed lead's link shows the "
                "'already confirmed' page."
            ),
            answers={200: _html("The page with the button, or 'already confirmed'.")},
            problems=CONFIRMATION_PROBLEMS,
            problem_pages=True,
        ),
        "confirm.confirm_link": Operation(
            "confirmLead",
            "Confirm a double opt-in lead (the page's button)",
            description=(
                "Confirms exactly once under any concurrency: the lead's opt_in becomes "
                "confirmed, the client's address is kept (encrypted) as evidence, and its "
                "lead.created webhooks, notifications and autoresponse are queued. Every "
                "other post gets the 'already confirmed' page and queues nothing. The body "
                "(the button's form) is not read."
            ),
            answers={
                200: _html("The 'confirmed' page, or 'already confirmed'."),
                303: {
                    "description": "Confirmed: to the form's success_url, exactly.",
                    "headers": {"Location": {"schema": {"type": "string"}}},
                },
            },
            problems=CONFIRMATION_PROBLEMS,
            problem_pages=True,
        ),
        "forms.get_form_settings": Operation(
            "getFormPublicSettings",
            "What a page needs to show a form",
            answers={200: _json("FormSettings", "The settings in force.")},
            problems={404: "No live form with this slug."},
        ),
        "forms.list_forms": Operation(
            "listForms",
            "List the forms, default first",
            security=ADMIN,
            answers={200: _json("FormList", "Every live form's document.")},
        ),
        "forms.get_form": Operation(
            "getForm",
            "Read a form's document",
            security=ADMIN,
            answers={200: _json("Form", "The document.")},
            problems={404: "No live form with this slug."},
        ),
        "forms.put_form": Operation(
            "putForm",
            "Create or replace a form",
            description=(
                "Members left out take their defaults; read-only members (slug, created_at, "
                "updated_at, leads), when present, must equal the stored ones. Audited as "
                "`form.put`."
            ),
            security=ADMIN,
            request_body={
                "required": True,
                "content": {"application/json": {"schema": {"type": "object"}}},
            },
            answers={
                200: _json("Form", "Replaced."),
                201: _json("Form", "Created."),
            },
            problems={
                413: "The body is larger than 64 KiB.",
                422: "The document breaks a rule; `errors` names each member by dotted path.",
            },
        ),
        "forms.remove_form": Operation(
            "removeForm",
            "Remove a form (its leads stay)",
            security=ADMIN,
            answers={204: {"description": "Removed.", "headers": dict(HEADERS)}},
            problems={
                404: "No live form with this slug.",
                409: "The default form cannot be removed.",
            },
        ),
        "ops.healthz": Operation(
            "healthz", "Liveness", answers={200: _json("Status", "The process serves.")}
        ),
        "ops.readyz": Operation(
            "readyz",
            "Readiness of the database and the rate-limit storage",
            answers={200: _json("Status", "Ready.")},
        ),
        "ops.openapi": Operation(
            "openapi",
            "This document",
            answers={
                200: {
                    "description": "OpenAPI 3 document.",
                    "content": {"application/json": {"schema": {"type": "object"}}},
                }
            },
        ),
        "web.admin": Operation("pageAdmin", "The admin page", answers=_page("The admin page.")),
        "webhooks.list_endpoints": Operation(
            "listWebhookEndpoints",
            "List subscribed webhook endpoints (never their secrets)",
            description="Each with its events and the forms whose leads it gets (null: all).",
            security=ADMIN,
            answers={200: _json("WebhookEndpointList", "Every active endpoint.")},
        ),
        "webhooks.list_deliveries": Operation(
            "listWebhookDeliveries",
            "The newest webhook deliveries, optionally of one status",
            security=ADMIN,
            parameters=[{"in": "query", "schema": WebhookDeliveryQueryArgsSchema}],
            answers={200: _json("WebhookDeliveryList", "Deliveries, newest first.")},
        ),
        "mail.list_deliveries": Operation(
            "listMailDeliveries",
            "The newest mails, optionally of one status",
            description=(
                "Each mail's kind, form, lead, attempts and last SMTP answer; never its "
                "recipient or content (`flask mail deliveries` shows the recipient)."
            ),
            security=ADMIN,
            parameters=[{"in": "query", "schema": MailDeliveryQueryArgsSchema}],
            answers={200: _json("MailDeliveryList", "Mails, newest first.")},
        ),
        "operator.export_csv": Operation(
            "exportLeads",
            "Export leads as CSV, oldest first (streamed)",
            description=(
                "Every lead with from <= created_at < to. Header row: "
                + ",".join(COLUMNS)
                + " (`fields`: the custom values as a JSON object, keys sorted). With "
                "`form=<slug>`, that form's leads only, and instead of `fields` one column "
                "per custom field the form has (a removed form: had), headed with its name, "
                "in the form's order (true/false, a number as sent, empty when absent). "
                "opt_in_status and opt_in_confirmed_at are empty for a form without double "
                "opt-in. A cell starting with "
                "=, +, -, @, tab or CR is prefixed with ' (except the E.164 phone). One "
                "audit event `export` with the count."
            ),
            security=ADMIN,
            parameters=[{"in": "query", "schema": ExportArgsSchema}],
            answers={
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
                }
            },
        ),
        "operator.get_stats": Operation(
            "getStats",
            "Leads and spam per UTC day, leads per source and per form",
            security=ADMIN,
            parameters=[{"in": "query", "schema": StatsArgsSchema}],
            answers={200: _json("Stats", "One entry per day, oldest first, today last.")},
        ),
    }


def is_static_files(rule: Rule) -> bool:
    """Whether the rule serves a folder of files (an app's or blueprint's `static`)."""
    return rule.endpoint.rpartition(".")[2] == "static"


def documented_methods(rule: Rule) -> list[str]:
    """The rule's methods but those HTTP answers for any route: HEAD with GET, automatic OPTIONS."""
    methods = set(rule.methods or ())
    if "GET" in methods:
        methods.discard("HEAD")
    if getattr(rule, "provide_automatic_options", False):
        methods.discard("OPTIONS")
    return sorted(methods)


def openapi_path(rule: str) -> str:
    """A URL-map rule as an OpenAPI path: `/leads/<uuid:lead_id>` is `/leads/{lead_id}`."""
    return RULE_ARGUMENT.sub(lambda match: "{" + match["name"] + "}", rule)


def _path_parameters(rule: str) -> list[dict[str, Any]]:
    """The path parameters of a rule, typed by their converters."""
    parameters = []
    for match in RULE_ARGUMENT.finditer(rule):
        converter = match["converter"] or "default"
        if converter not in CONVERTER_SCHEMAS:
            raise DocumentError(f"{rule}: no OpenAPI schema for the converter {converter!r}.")
        parameters.append(
            {
                "in": "path",
                "name": match["name"],
                "required": True,
                "schema": dict(CONVERTER_SCHEMAS[converter]),
            }
        )
    return parameters


def _responses(rule: Rule, statuses: frozenset[int], operation: Operation) -> dict[int, Any]:
    """Every declared status, described: the operation's answers, then problem documents."""
    answered = {status for status in statuses if status < 400}
    if answered != set(operation.answers):
        raise DocumentError(
            f"{rule.endpoint} declares {sorted(answered)} below 400 but the document "
            f"describes {sorted(operation.answers)}."
        )
    unknown = set(operation.problems) - statuses
    if unknown:
        raise DocumentError(f"{rule.endpoint} describes problems it does not declare: {unknown}.")
    responses: dict[int, Any] = dict(operation.answers)
    for status in sorted(statuses - answered):
        description = operation.problems.get(status) or PROBLEM_STATUSES.get(status)
        if description is None:
            raise DocumentError(f"{rule.endpoint} declares {status}, which nothing describes.")
        responses[status] = _problem(status, description)
        if operation.problem_pages:
            responses[status]["content"]["text/html"] = {"schema": {"type": "string"}}
    return dict(sorted(responses.items()))


def _operation(app: Flask, rule: Rule, operation: Operation) -> dict[str, Any]:
    """One operation object: the view's statuses, with the operation's words and bodies."""
    statuses = answers(app.view_functions[rule.endpoint])
    if (401 in statuses) != (operation.security is not None):
        raise DocumentError(f"{rule.endpoint}: security must be stated exactly when a key is read.")
    document: dict[str, Any] = {
        "summary": operation.summary,
        "operationId": operation.operation_id,
        "responses": _responses(rule, statuses, operation),
    }
    if operation.description:
        document["description"] = operation.description
    if operation.security is not None:
        document["security"] = operation.security
    if operation.parameters:
        document["parameters"] = list(operation.parameters)
    if operation.request_body is not None:
        document["requestBody"] = operation.request_body
    return document


def _register_components(spec: APISpec) -> None:
    """The named schemas the operations refer to, and the bearer scheme."""
    from leadapp.schemas.operator import StatsSchema

    for name, schema in (
        ("Lead", LeadSchema),
        ("LeadCreate", LeadCreateSchema),
        ("LeadPage", LeadPageSchema),
        ("Problem", ProblemSchema),
        ("Challenge", ChallengeSchema),
        ("Form", FormSchema),
        ("FormList", FormListSchema),
        ("FormSettings", PublicFormSettingsSchema),
        ("Status", StatusSchema),
        ("WebhookEndpointList", WebhookEndpointListSchema),
        ("WebhookDeliveryList", WebhookDeliveryListSchema),
        ("MailDeliveryList", MailDeliveryListSchema),
        ("Stats", StatsSchema),
    ):
        spec.components.schema(name, schema=schema)
    spec.components.security_scheme("bearer", {"type": "http", "scheme": "bearer"})


def build_openapi(app: Flask, version: str) -> dict[str, Any]:
    """The document of every route of `app`, as a dict ready to serve as JSON."""
    spec = APISpec(
        title="LeadApp",
        version=version,
        openapi_version="3.0.3",
        plugins=[MarshmallowPlugin()],
        info={"description": "Lead intake: validate, deduplicate and encrypt contact details."},
    )
    _register_components(spec)
    operations = _operations()
    paths: dict[str, dict[str, Any]] = {}
    rules: dict[str, str] = {}
    for rule in sorted(app.url_map.iter_rules(), key=lambda rule: rule.rule):
        if is_static_files(rule):
            continue  # files (scripts, styles, images), not operations
        operation = operations.pop(rule.endpoint, None)
        if operation is None:
            raise DocumentError(f"{rule.endpoint} ({rule.rule}) has no words in api/openapi.py.")
        methods = documented_methods(rule)
        if len(methods) != 1:
            raise DocumentError(f"{rule.rule}: one operation per rule, not {methods}.")
        path = openapi_path(rule.rule)
        rules.setdefault(path, rule.rule)
        paths.setdefault(path, {})[methods[0].lower()] = _operation(app, rule, operation)
    if operations:
        raise DocumentError(f"Words for endpoints the app does not route: {sorted(operations)}.")
    for path, path_operations in paths.items():
        spec.path(path=path, parameters=_path_parameters(rules[path]), operations=path_operations)
    return spec.to_dict()
