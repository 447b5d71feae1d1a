"""Pipeline, on the way out: CORS for the public form endpoints, per form.

A page on another origin posts leads to /f/<slug> (or /leads, the default form's) and reads
/f/<slug>/settings, /form-settings and /challenge; nothing else is readable cross-origin.
Each form allows its own `origins` and LEADAPP_CORS_ORIGINS (services/forms.py decides);
/challenge serves every form, so it allows the origins of every live form. The forms come
from the per-process cache, so a request costs no query once its form is cached.
"""

from __future__ import annotations

import logging
from collections.abc import Callable

from flask import Response, request
from sqlalchemy.exc import SQLAlchemyError

from leadapp.services import forms

log = logging.getLogger(__name__)

ALLOWED_HEADERS = "Content-Type, Idempotency-Key, X-Request-ID"
EXPOSED_HEADERS = "Location, Retry-After, X-Request-ID, Idempotency-Replayed"
PREFLIGHT_MAX_AGE = "600"


def _default_form() -> forms.Form | None:
    """POST /leads and GET /form-settings are the default form's."""
    return forms.default_form()


def _named_form() -> forms.Form | None:
    """The live form the URL names, or None."""
    return forms.get_form((request.view_args or {}).get("slug", ""))


# Each CORS endpoint by its URL rule: the method a page on another origin may use, and the
# form whose origins decide (None: any live form's).
CORS_ENDPOINTS: dict[str, tuple[str, Callable[[], forms.Form | None] | None]] = {
    "/leads": ("POST", _default_form),
    "/form-settings": ("GET", _default_form),
    "/f/<slug>": ("POST", _named_form),
    "/f/<slug>/settings": ("GET", _named_form),
    "/challenge": ("GET", None),
}


def _allows(
    origin: str, find_form: Callable[[], forms.Form | None] | None, response: Response
) -> bool | None:
    """Whether the endpoint's form allows `origin`; None when the URL names no live form."""
    if response.status_code == 503:
        # The database (or the limiter's storage) is out: its answer is readable by the
        # site-wide origins, without a second wait on the database here.
        return forms.site_allows_origin(origin)
    if find_form is None:
        return forms.any_form_allows_origin(origin)
    form = find_form()
    if form is None:
        return None
    return forms.allows_origin(form, origin)


def add_cors_headers(response: Response) -> Response:
    """Allow the request's origin when the endpoint's form allows it (the browser refuses others).

    An unknown form (a 404, or a preflight naming no form) gets no CORS header at all.
    """
    rule = request.url_rule
    endpoint = CORS_ENDPOINTS.get(rule.rule) if rule is not None else None
    if endpoint is None or response.status_code == 404:
        return response
    method, find_form = endpoint
    if request.method not in (method, "OPTIONS"):
        return response
    origin = request.headers.get("Origin")
    try:
        allowed = origin is not None and _allows(origin, find_form, response)
    except SQLAlchemyError as error:
        # The form could not be read (a preflight on a database outage): the site-wide
        # origins only, rather than a 500 from the way out.
        log.warning("cors: form unreadable (%s); site-wide origins only", type(error).__name__)
        allowed = origin is not None and forms.site_allows_origin(origin)
    if allowed is None:
        return response
    # This step is Vary's one owner: appended, not merged through `response.vary`, which
    # parses and rewrites the header on every response of the intake path.
    response.headers.add("Vary", "Origin")
    if not allowed:
        return response
    response.headers["Access-Control-Allow-Origin"] = origin
    response.headers["Access-Control-Expose-Headers"] = EXPOSED_HEADERS
    if request.method == "OPTIONS":
        response.headers["Access-Control-Allow-Methods"] = method
        response.headers["Access-Control-Allow-Headers"] = ALLOWED_HEADERS
        response.headers["Access-Control-Max-Age"] = PREFLIGHT_MAX_AGE
    return response
