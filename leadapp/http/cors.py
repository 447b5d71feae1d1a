"""Pipeline, on the way out: CORS for the intake endpoints, only for LEADAPP_CORS_ORIGINS.

A landing page on another origin posts to /leads and, for the bot defence, reads
/form-settings and /challenge; nothing else is readable cross-origin.
"""

from __future__ import annotations

from flask import Response, current_app, request

# The intake endpoints a landing page on another origin may use, and their methods.
CORS_METHODS = {"/leads": "POST", "/challenge": "GET", "/form-settings": "GET"}
ALLOWED_HEADERS = "Content-Type, Idempotency-Key, X-Request-ID"
EXPOSED_HEADERS = "Location, Retry-After, X-Request-ID, Idempotency-Replayed"
PREFLIGHT_MAX_AGE = "600"


def add_cors_headers(response: Response) -> Response:
    """Allow the request's origin when it is configured (the browser refuses all others)."""
    origins = current_app.config["LEADAPP_CORS_ORIGINS"]
    method = CORS_METHODS.get(request.path)
    if not origins or method is None or request.method not in (method, "OPTIONS"):
        return response
    response.vary.add("Origin")
    origin = request.headers.get("Origin")
    if origin not in origins:
        return response
    response.headers["Access-Control-Allow-Origin"] = origin
    response.headers["Access-Control-Expose-Headers"] = EXPOSED_HEADERS
    if request.method == "OPTIONS":
        response.headers["Access-Control-Allow-Methods"] = method
        response.headers["Access-Control-Allow-Headers"] = ALLOWED_HEADERS
        response.headers["Access-Control-Max-Age"] = PREFLIGHT_MAX_AGE
    return response
