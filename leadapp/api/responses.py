"""What each view answers, declared on the view: the OpenAPI document is built from these.

A view names the statuses its own code answers with `@responds(...)`, directly under its
route. The statuses the request pipeline adds are declared once, here, beside the step that
adds them, and joined in by `answers()`; no view repeats them. tests/support/observed.py
checks every status the test suite sees against the document built from these.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, TypeVar

from leadapp.extensions import limiter
from leadapp.http.authentication import MARK as TAKES_API_KEY_MARK

F = TypeVar("F", bound=Callable[..., Any])
ATTRIBUTE = "leadapp_responds"

# What the helpers a view calls answer (the view lists these names, not their numbers).
JSON_BODY = (400, 413, 415, 422)  # api/parsing.json_object_body, then the schema's 422
QUERY = (422,)  # api/parsing.query_args
DATABASE = (503,)  # errors.py renders a database that cannot be reached as 503

# Added by the pipeline (http/pipeline.py) to every route: the blocklist gate's 403 (step 3)
# and errors.py's last-resort 500.
EVERY_ROUTE = frozenset({403, 500})
# Added by step 4 (http/authentication.py) to every view that takes an API key: 401 for a
# missing, malformed, unknown or revoked key; 429 once http/auth_failures.py has locked the
# client out; 503 when the key's lookup cannot reach the database.
TAKES_API_KEY = frozenset({401, 429, 503})
# Added by step 5 (Flask-Limiter) to a view with a declared limit: see `rate_limited`.
RATE_LIMITED = frozenset({429})


class UndeclaredView(LookupError):
    """A routed view says nothing about what it answers."""


def _add(view: F, statuses: frozenset[int]) -> F:
    """Record statuses on the view, keeping those recorded before."""
    setattr(view, ATTRIBUTE, getattr(view, ATTRIBUTE, frozenset()) | statuses)
    return view


def responds(*statuses: int) -> Callable[[F], F]:
    """Declare the statuses the view's own code answers (success first, then problems)."""
    if not statuses:
        raise ValueError("A view answers at least one status.")

    def declare(view: F) -> F:
        return _add(view, frozenset(statuses))

    return declare


def rate_limited(
    limit: Callable[[], str], *, methods: list[str], scope: str | None = None
) -> Callable[[F], F]:
    """Flask-Limiter's limit, with the 429 it adds declared where it is added.

    With `scope`, every view decorated with that scope counts against one shared limit.
    """

    def decorate(view: F) -> F:
        if scope is None:
            limited = limiter.limit(limit, methods=methods)(view)
        else:
            limited = limiter.shared_limit(limit, scope=scope, methods=methods)(view)
        return _add(limited, RATE_LIMITED)

    return decorate


def declared(view: Callable[..., Any]) -> frozenset[int]:
    """The statuses recorded on the view by `responds` and `rate_limited`."""
    statuses = getattr(view, ATTRIBUTE, None)
    if not statuses:
        name = getattr(view, "__qualname__", repr(view))
        raise UndeclaredView(f"{name} declares no responses: add @responds(...) under its route.")
    return statuses


def answers(view: Callable[..., Any]) -> frozenset[int]:
    """Every status a request routed to the view can get: its own and the pipeline's."""
    statuses = declared(view) | EVERY_ROUTE
    if getattr(view, TAKES_API_KEY_MARK, False):
        statuses |= TAKES_API_KEY
    return statuses
