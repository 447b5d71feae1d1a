"""CORS for POST /leads: only the origins in LEADAPP_CORS_ORIGINS may post from a browser."""

from __future__ import annotations

from flask import Flask, Response, request

CORS_PATH = "/leads"
PREFLIGHT_MAX_AGE = "600"


def register_cors(app: Flask) -> None:
    """Answer CORS requests to /leads from the configured origins; others get no CORS headers."""
    origins = frozenset(app.config["LEADAPP_CORS_ORIGINS"])
    if not origins:
        return

    def add_cors_headers(response: Response) -> Response:
        """Allow the request's origin when it is configured (the browser refuses all others)."""
        if request.path != CORS_PATH:
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

    app.after_request(add_cors_headers)
