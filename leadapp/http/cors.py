"""Pipeline, on the way out: CORS for POST /leads, only for the origins in LEADAPP_CORS_ORIGINS."""

from __future__ import annotations

from flask import Response, current_app, request

CORS_PATH = "/leads"
PREFLIGHT_MAX_AGE = "600"


def add_cors_headers(response: Response) -> Response:
    """Allow the request's origin when it is configured (the browser refuses all others)."""
    origins = current_app.config["LEADAPP_CORS_ORIGINS"]
    if not origins or request.path != CORS_PATH:
        return response
    response.vary.add("Origin")
    origin = request.headers.get("Origin")
    if origin not in origins:
        return response
    response.headers["Access-Control-Allow-Origin"] = origin
    response.headers["Access-Control-Expose-Headers"] = "Location, Retry-After, X-Request-ID"
    if request.method == "OPTIONS":
        response.headers["Access-Control-Allow-Methods"] = "POST"
        response.headers["Access-Control-Allow-Headers"] = "Content-Type, X-Request-ID"
        response.headers["Access-Control-Max-Age"] = PREFLIGHT_MAX_AGE
    return response
