"""The hosted page of each form, `GET /f/<slug>`, and the no-JavaScript path of `POST /f/<slug>`.

Both are server-rendered with Jinja2 (autoescaping on; templates in leadapp/web/templates/) and
work with JavaScript off: a real `<form method="post" action="/f/<slug>">`. A form-encoded post
is mapped to the body the JSON path takes (`lead_body`) and handed to the same intake service;
its outcome is a 303 to the form's `success_url`, the thanks page, or the form again with the
problem's words, each message beside its field and the values refilled (never the honeypot).
Every error on these paths, the pipeline's too (blocklist 403, rate-limit 429), becomes such a
page through `error_page`, from the problem document errors.py would answer with.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping
from pathlib import Path
from typing import Any

from flask import Blueprint, Response, render_template, request
from werkzeug.exceptions import HTTPException

from leadapp.api.parsing import URLENCODED, urlencoded_pairs
from leadapp.api.responses import DATABASE, responds
from leadapp.errors import (
    REPEATED_ARGUMENT_MESSAGE,
    DuplicateLead,
    Problem,
    ValidationFailed,
    describe_fields,
    render_error,
)
from leadapp.schemas.attribution import AttributionSchema
from leadapp.schemas.form import CONTROL_BUT_LINE_BREAKS
from leadapp.services import forms, intake
from leadapp.services.forms import Form

TEMPLATES = Path(__file__).resolve().parent.parent / "web" / "templates"

bp = Blueprint("hosted", __name__, template_folder=TEMPLATES)

HTML = "text/html; charset=utf-8"
PERSON = ("name", "email", "phone")
ATTRIBUTION = tuple(AttributionSchema().fields)  # source, utm_*, page_url, referrer
HONEYPOT = "website"
DEFAULT = forms.DEFAULT_FORM
# The views of the form's page: GET /f/<slug>, and GET / for the default form.
PAGE_ENDPOINTS = frozenset({"hosted.page", "hosted.default_page"})
CHALLENGE = "challenge"
TRUE = frozenset({"on", "true", "1"})
# A number field's value as a plain decimal; longer strings are left for validation to refuse.
DECIMAL = re.compile(r"[+-]?[0-9]{1,20}(?:\.[0-9]{1,20})?", re.ASCII)
REFILL_MAX_CHARS = 10_000
LABELS = {
    "name": "Full name",
    "email": "Email address",
    "phone": "Phone number",
    "submit": "Send my details",
    "thanks": "Thank you, we have your details.",
}
# The error pages' own words where the problem's would not help a person.
NEEDS_JAVASCRIPT = (
    "This form asks your browser to solve a small puzzle against spam, which needs "
    "JavaScript. Please switch JavaScript on and send the form again."
)
CUSTOM_TYPES = {"text": "text", "number": "number", "date": "date", "url": "url"}


# --- From the post to the JSON path's body -------------------------------------------------


def _number(text: str) -> Any:
    """A decimal string as a number; anything else as sent (validation says why)."""
    trimmed = text.strip()
    if not trimmed:
        return None
    if DECIMAL.fullmatch(trimmed):
        return float(trimmed) if "." in trimmed else int(trimmed)
    return text


def _custom_values(form: Form, members: Mapping[str, str]) -> dict[str, Any]:
    """The form's custom values by name: a checkbox is true when sent with on, true or 1."""
    values: dict[str, Any] = {}
    for definition in form.fields:
        name, kind = definition["name"], definition["type"]
        value = members.get(name)
        if kind == "checkbox":
            values[name] = value in TRUE
        elif value is not None:
            values[name] = _number(value) if kind == "number" else value
    return {name: value for name, value in values.items() if value is not None}


def _known(form: Form) -> frozenset[str]:
    """Every member name the post of this form is read for."""
    custom = (definition["name"] for definition in form.fields)
    return frozenset((*PERSON, *ATTRIBUTION, HONEYPOT, CHALLENGE, "consent", *custom))


def lead_body(form: Form, pairs: Iterable[tuple[str, str]]) -> dict[str, Any]:
    """The JSON path's body from the post's members (contract v3, "The no-JavaScript path").

    Other members (a button's name, `ip_address`) are ignored; a known member sent twice
    is a 422 beside its field (a bot's honeypot hit is answered as a success first).
    """
    known = _known(form)
    members: dict[str, str] = {}
    repeated: set[str] = set()
    for name, value in pairs:
        if name not in known:
            continue
        if name in members:
            repeated.add(name)
        else:
            members[name] = value
    if repeated and not members.get(HONEYPOT):
        custom = {definition["name"] for definition in form.fields}
        errors = {
            (f"fields.{name}" if name in custom else name): [REPEATED_ARGUMENT_MESSAGE]
            for name in sorted(repeated)
        }
        raise ValidationFailed(
            "The form sent some fields twice: " + describe_fields(errors) + ".", errors=errors
        )
    body: dict[str, Any] = {
        name: members[name] for name in (*PERSON, HONEYPOT, CHALLENGE) if name in members
    }
    if "consent" in members:
        body["consent"] = members["consent"] in TRUE
    attribution = {name: members[name] for name in ATTRIBUTION if members.get(name, "").strip()}
    if attribution:
        body["attribution"] = attribution
    custom_values = _custom_values(form, members)
    if custom_values:
        body["fields"] = custom_values
    return body


def _is_success_look(duplicate: DuplicateLead) -> bool:
    """A duplicate by email or phone looks like a success; an IP-only conflict does not."""
    return bool(set(duplicate.errors or {}) - {"ip_address"})


def submit_urlencoded(form: Form, caller: intake.Caller) -> Response:
    """The no-JavaScript path: the same intake as JSON; 303 to success_url, or the thanks page."""
    body = lead_body(form, urlencoded_pairs())
    try:
        intake.submit(body, caller, form)
    except DuplicateLead as duplicate:
        if not _is_success_look(duplicate):
            raise
    if form.success_url:
        return Response(b"", 303, {"Location": form.success_url}, content_type=HTML)
    return _html(render_template("hosted/thanks.html", form=form, labels=_labels(form)), 200)


# --- The pages ------------------------------------------------------------------------------


def _labels(form: Form) -> dict[str, str]:
    """The form's texts, English for those it does not set."""
    return {**LABELS, **form.labels}


def _html(text: str, status: int) -> Response:
    """An HTML page."""
    return Response(text, status, content_type=HTML)


def _clean(value: str) -> str:
    """A value fit to refill an input: no control characters but line breaks, bounded."""
    return CONTROL_BUT_LINE_BREAKS.sub("", value)[:REFILL_MAX_CHARS]


def _query_attribution() -> dict[str, str]:
    """The attribution of the page's own query (first value of each known member)."""
    return {
        name: _clean(request.args[name])
        for name in ATTRIBUTION
        if request.args.get(name, "").strip()
    }


def _custom_inputs(form: Form) -> list[dict[str, Any]]:
    """Each custom field with the input a person expects for its type."""
    inputs = []
    for definition in form.fields:
        kind = definition["type"]
        inputs.append(
            {
                **definition,
                "id": f"field-{definition['name']}",
                "key": f"fields.{definition['name']}",
                "input_type": CUSTOM_TYPES.get(kind),
            }
        )
    return inputs


def _json_endpoint(form: Form) -> str:
    """Where the page's script posts JSON: `POST /leads` is the default form's own path."""
    return "/leads" if form.slug == DEFAULT else f"/f/{form.slug}"


def _leaves_frame(form: Form) -> bool:
    """Whether the form, shown in a frame, is sent from the top window (`target="_top"`).

    Only when it has a success_url: the 303 would otherwise land that page inside the frame,
    which the other site may refuse to be framed in (mautic #3087). The browser says where the
    page will be shown in `Sec-Fetch-Dest`; one that does not say keeps the frame.
    """
    return bool(form.success_url) and request.headers.get("Sec-Fetch-Dest") == "iframe"


def render_form_page(
    form: Form,
    *,
    status: int = 200,
    values: Mapping[str, str] | None = None,
    attribution: Mapping[str, str] | None = None,
    checked: frozenset[str] = frozenset(),
    problem: Mapping[str, Any] | None = None,
) -> Response:
    """The form's page: empty (GET), or refilled with the problem's messages beside fields."""
    errors: dict[str, Any] = dict((problem or {}).get("errors") or {})
    custom = _custom_inputs(form)
    shown = {*PERSON, "consent", *(field["key"] for field in custom)}
    others = [
        f"{name}: {' '.join(map(str, messages))}"
        for name, messages in errors.items()
        if name not in shown and name != CHALLENGE
    ]
    text = render_template(
        "hosted/form.html",
        form=form,
        labels=_labels(form),
        consent_text=forms.consent_text(form),
        challenge=forms.challenge_required(form),
        custom=custom,
        values=values or {},
        checked=checked,
        attribution=attribution if attribution is not None else _query_attribution(),
        problem=problem,
        errors=errors,
        others=others,
        needs_javascript=CHALLENGE in errors,
        needs_javascript_text=NEEDS_JAVASCRIPT,
        json_endpoint=_json_endpoint(form),
        frame_origins=forms.frame_origins(form),
        leave_frame=_leaves_frame(form),
    )
    return _html(text, status)


@bp.get("/f/<slug>")
@responds(200, 404, *DATABASE)
def page(slug: str) -> Response:
    """The form's hosted page; it works with JavaScript off."""
    return render_form_page(forms.require_form(slug))


# `GET /` serves what `GET /f/default` serves: the same view, its slug given by the rule.
bp.add_url_rule(
    "/", endpoint="default_page", view_func=page, methods=["GET"], defaults={"slug": DEFAULT}
)


# --- Errors as pages ------------------------------------------------------------------------


def wants_page() -> bool:
    """Whether this request is answered with HTML pages: the hosted page or a form post."""
    if request.endpoint in PAGE_ENDPOINTS:
        return True
    return request.endpoint == "forms.create_form_lead" and request.mimetype == URLENCODED


def _refill(form: Form) -> tuple[dict[str, str], dict[str, str], frozenset[str]]:
    """What the post sent, to show again: values, attribution, checked boxes (no honeypot)."""
    try:
        pairs = urlencoded_pairs()
    except (Problem, HTTPException):
        return {}, {}, frozenset()
    checkboxes = {"consent"} | {
        definition["name"] for definition in form.fields if definition["type"] == "checkbox"
    }
    values: dict[str, str] = {}
    for name, value in pairs:
        values.setdefault(name, value)
    known = _known(form) - {HONEYPOT, CHALLENGE}
    refilled = {name: _clean(value) for name, value in values.items() if name in known}
    attribution = {name: refilled.pop(name) for name in ATTRIBUTION if name in refilled}
    checked = frozenset(name for name in checkboxes if values.get(name) in TRUE)
    return refilled, attribution, checked


def _live_form() -> Form | None:
    """The form the URL names, when it can be read."""
    try:
        return forms.get_form((request.view_args or {}).get("slug", ""))
    except Exception:  # the database may be the very error being shown
        return None


def error_page(error: Exception) -> Response:
    """Any error on a page path as an HTML page: the problem's status, headers and words.

    Elsewhere (the JSON paths of the same blueprint) the problem document itself.
    """
    problem_response = render_error(error)
    if not wants_page():
        return problem_response
    problem = problem_response.get_json(silent=True) or {}
    form = _live_form() if problem_response.status_code != 404 else None
    if form is None:
        response = _html(
            render_template("hosted/error.html", problem=problem),
            problem_response.status_code,
        )
    else:
        values, attribution, checked = (
            _refill(form) if request.method == "POST" else ({}, _query_attribution(), frozenset())
        )
        response = render_form_page(
            form,
            status=problem_response.status_code,
            values=values,
            attribution=attribution,
            checked=checked,
            problem=problem,
        )
    for name, value in problem_response.headers.items():
        if name.lower() not in ("content-type", "content-length"):
            response.headers[name] = value
    return response


bp.register_error_handler(Exception, error_page)
