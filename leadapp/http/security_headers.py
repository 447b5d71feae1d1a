"""Pipeline, on the way out: the security headers every response carries, and its cache policy."""

from __future__ import annotations

from flask import Response, request

CONTENT_SECURITY_POLICY = (
    "default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self' data:; "
    "connect-src 'self'; form-action 'self'; base-uri 'none'; object-src 'none'; "
    "frame-ancestors 'none'"
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


def stamp_security_headers(response: Response) -> Response:
    """Add the security headers and, except on static assets, Cache-Control: no-store.

    A header the view set already is kept. The names present are read once: a
    `setdefault` per header would scan the header list twice for each.
    """
    headers = response.headers
    present = {name.lower() for name, _value in headers.items()}
    for name, value in SECURITY_HEADERS.items():
        if name.lower() not in present:
            headers.add(name, value)
    if request.endpoint not in CACHEABLE_ENDPOINTS and "cache-control" not in present:
        headers.add("Cache-Control", "no-store")
    return response
