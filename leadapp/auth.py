"""Authentication of API keys and the IP blocklist, run before any other request work."""

from __future__ import annotations

from collections.abc import Callable
from functools import wraps
from typing import Any, TypeVar

from flask import Flask, g, request

from leadapp.clientip import client_address
from leadapp.errors import Forbidden, Unauthorized
from leadapp.services import apikeys, blocklist
from leadapp.ttlcache import TTLCache

F = TypeVar("F", bound=Callable[..., Any])


def refuse_blocked_clients() -> None:
    """403 for a client in a blocked network, before anything else is done."""
    if blocklist.is_blocked(client_address()):
        raise Forbidden("Requests from your network are blocked.")


def authenticate_request() -> None:
    """Resolve `Authorization: Bearer <key>` into g.api_key; a bad key is 401, never anonymous."""
    g.api_key = None
    header = request.headers.get("Authorization")
    if header is None:
        return
    scheme, _, key = header.partition(" ")
    key = key.strip()
    if scheme.lower() != "bearer" or not key:
        raise Unauthorized("Send the API key as: Authorization: Bearer <key>.")
    identity = apikeys.authenticate(key)
    if identity is None:
        raise Unauthorized("The API key is unknown or revoked.")
    g.api_key = identity


def require_api_key(view: F) -> F:
    """Let only requests with a valid API key reach the view."""

    @wraps(view)
    def wrapper(*args: Any, **kwargs: Any) -> Any:
        if g.get("api_key") is None:
            raise Unauthorized("This endpoint needs an API key: Authorization: Bearer <key>.")
        return view(*args, **kwargs)

    return wrapper  # type: ignore[return-value]


def register_auth(app: Flask) -> None:
    """Install the caches and the hooks (after the request id, before the rate limiter)."""
    ttl = app.config["LEADAPP_CACHE_SECONDS"]
    app.extensions[apikeys.CACHE_EXTENSION] = TTLCache(ttl)
    app.extensions[blocklist.CACHE_EXTENSION] = TTLCache(ttl, maxsize=1)
    app.before_request(refuse_blocked_clients)
    app.before_request(authenticate_request)
