"""Pipeline step 4: on views that take a key, `Authorization: Bearer <key>` becomes g.api_key.

Authentication is opt-in per view: `accepts_api_key` marks a view that may be called with a
key (POST /leads), `require_api_key` one that needs it (the admin API). On every other
endpoint (/healthz, /readyz, /openapi.json, the pages, their assets, a 404) the header is
ignored, so a balancer or client that always sends one never sees a 401 there.
"""

from __future__ import annotations

from collections.abc import Callable
from functools import wraps
from typing import Any, TypeVar

from flask import current_app, g, request

from leadapp.errors import Unauthorized
from leadapp.http import auth_failures
from leadapp.services import apikeys

F = TypeVar("F", bound=Callable[..., Any])
MARK = "leadapp_accepts_api_key"


def accepts_api_key(view: F) -> F:
    """Mark a view as one whose callers may authenticate (the header is read for it)."""
    setattr(view, MARK, True)
    return view


def _view_accepts_key() -> bool:
    """Whether the endpoint this request was routed to takes an API key."""
    view = current_app.view_functions.get(request.endpoint or "")
    return bool(getattr(view, MARK, False))


def authenticate_request() -> None:
    """Resolve the bearer key into g.api_key; a bad key is 401 (and counted), never anonymous."""
    g.api_key = None
    header = request.headers.get("Authorization")
    if header is None or not _view_accepts_key():
        return
    auth_failures.refuse_locked_out_clients()
    scheme, _, key = header.partition(" ")
    key = key.strip()
    if scheme.lower() != "bearer" or not key:
        auth_failures.record_failure()
        raise Unauthorized("Send the API key as: Authorization: Bearer <key>.")
    identity = apikeys.authenticate(key)
    if identity is None:
        auth_failures.record_failure()
        raise Unauthorized("The API key is unknown or revoked.")
    g.api_key = identity


def require_api_key(view: F) -> F:
    """Let only requests with a valid API key reach the view."""

    @wraps(view)
    def wrapper(*args: Any, **kwargs: Any) -> Any:
        if g.get("api_key") is None:
            raise Unauthorized("This endpoint needs an API key: Authorization: Bearer <key>.")
        return view(*args, **kwargs)

    return accepts_api_key(wrapper)  # type: ignore[return-value]
