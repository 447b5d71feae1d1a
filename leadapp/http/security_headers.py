"""Pipeline, on the way out: the security headers every response carries, and its cache policy.

Framing: every page is `frame-ancestors 'none'` with `X-Frame-Options: DENY`, except a form's
hosted page and the thanks and error pages its post answers with (api/hosted.py), which may be
framed by exactly that form's origins and LEADAPP_CORS_ORIGINS; when there are some, they have
no X-Frame-Options (it cannot name origins). Their `form-action` also lets the form be
redirected to its success_url (browsers apply form-action to the redirect).
"""

from __future__ import annotations

import logging
import re
from urllib.parse import urlsplit

from flask import Response, request
from sqlalchemy.exc import SQLAlchemyError

from leadapp.services import forms

log = logging.getLogger(__name__)

POLICY_BASE = (
    "default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self' data:; "
    "connect-src 'self'; "
)
CONTENT_SECURITY_POLICY = POLICY_BASE + (
    "form-action 'self'; base-uri 'none'; object-src 'none'; frame-ancestors 'none'"
)
SECURITY_HEADERS = {
    "Content-Security-Policy": CONTENT_SECURITY_POLICY,
    "X-Content-Type-Options": "nosniff",
    "X-Frame-Options": "DENY",
    "Referrer-Policy": "no-referrer",
    "Cross-Origin-Opener-Policy": "same-origin",
}
# The pages' assets may be cached (send_from_directory sets validators); nothing else may.
CACHEABLE_ENDPOINTS = frozenset({"web.static"})
# A CSP source list that allows nothing.
NO_SOURCE = "'none'"
# The form pages: GET /f/<slug> (and GET /, the default form's) and what a form-encoded
# POST /f/<slug> answers with.
FORM_PAGE_ENDPOINTS = frozenset({"hosted.page", "hosted.default_page", "forms.create_form_lead"})
# What may stand in a CSP source list: an origin, nothing that could end or add a directive.
CSP_ORIGIN = re.compile(
    r"https?://[A-Za-z0-9.\-]+(?::[0-9]{1,5})?|https?://\[[0-9A-Fa-f:.]+\](?::[0-9]{1,5})?"
)


def _sources(origins: list[str]) -> list[str]:
    """The origins fit for a CSP source list, each once, in order."""
    return list(dict.fromkeys(origin for origin in origins if CSP_ORIGIN.fullmatch(origin)))


def _form_page_policy(response: Response) -> tuple[str, bool] | None:
    """The CSP of a form's page and whether it may be framed, or None for other responses."""
    if request.endpoint not in FORM_PAGE_ENDPOINTS or response.mimetype != "text/html":
        return None
    try:
        form = forms.get_form((request.view_args or {}).get("slug", ""))
    except SQLAlchemyError as error:  # the page says the database is down; no framing
        log.warning("forms: form unreadable for its headers (%s)", type(error).__name__)
        return None
    if form is None:
        return None
    ancestors = _sources(forms.frame_origins(form))
    return _policy(form.success_url, ancestors), bool(ancestors)


def _policy(success_url: str | None, ancestors: list[str]) -> str:
    """A page's CSP: its form may post to 'self' and be redirected to success_url's origin."""
    actions = ["'self'"]
    if success_url:
        parts = urlsplit(success_url)
        actions += _sources([f"{parts.scheme}://{parts.netloc}"])
    return POLICY_BASE + (
        f"form-action {' '.join(actions)}; base-uri 'none'; object-src 'none'; "
        f"frame-ancestors {' '.join(ancestors) or NO_SOURCE}"
    )


def redirecting_form_policy(success_url: str | None) -> str:
    """The CSP a view sets on a page whose form's post may be redirected to `success_url`.

    Never framed. Kept by `stamp_security_headers` (a header the view set is kept); used by
    the double opt-in's confirmation page (api/confirm.py), whose form's lead alone knows
    the success_url.
    """
    return _policy(success_url, [])


def stamp_security_headers(response: Response) -> Response:
    """Add the security headers and, except on static assets, Cache-Control: no-store.

    A header the view set already is kept. The names present are read once: a
    `setdefault` per header would scan the header list twice for each.
    """
    headers = response.headers
    present = {name.lower() for name, _value in headers.items()}
    form_page = _form_page_policy(response)
    if form_page is not None:
        policy, framed = form_page
        present.add("content-security-policy")
        headers["Content-Security-Policy"] = policy
        if framed:
            present.add("x-frame-options")
    for name, value in SECURITY_HEADERS.items():
        if name.lower() not in present:
            headers.add(name, value)
    if request.endpoint not in CACHEABLE_ENDPOINTS and "cache-control" not in present:
        headers.add("Cache-Control", "no-store")
    return response
