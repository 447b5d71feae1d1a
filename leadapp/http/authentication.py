"""Pipeline step 4: an `Authorization: Bearer <key>` header becomes g.api_key, or a 401."""

from __future__ import annotations

from collections.abc import Callable
from functools import wraps
from typing import Any, TypeVar

from flask import g, request

from leadapp.errors import Unauthorized
from leadapp.services import apikeys

F = TypeVar("F", bound=Callable[..., Any])


def authenticate_request() -> None:
    """Resolve the bearer key into g.api_key; a bad key is 401, never anonymous."""
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
