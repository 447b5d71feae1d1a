"""Domain exceptions that carry their HTTP status, and the one renderer of RFC 9457 problems."""

from __future__ import annotations

import logging
from collections.abc import Mapping
from typing import Any

from flask import Flask, Response, g, json
from sqlalchemy.exc import DBAPIError, OperationalError
from sqlalchemy.exc import TimeoutError as PoolTimeoutError
from werkzeug.exceptions import HTTPException, InternalServerError, TooManyRequests

log = logging.getLogger(__name__)

PROBLEM_MEDIA_TYPE = "application/problem+json"
PROBLEM_TYPE_BASE = "urn:leadapp:problem:"
# Seconds a client should wait after a 503; http/ratelimit.py sets the header.
RETRY_AFTER_UNAVAILABLE = "5"

FieldErrors = Mapping[str, list[str]]

# Bounds on what a problem echoes back, however much a client sent (contract: "Hostile
# clients"): every known field's errors, but at most MAX_UNKNOWN_NAMED made-up names (unknown
# or repeated fields and arguments), each name cut to MAX_NAME_CHARS, and the whole document
# within MAX_PROBLEM_BYTES.
MAX_PROBLEM_BYTES = 16 * 1024
MAX_UNKNOWN_NAMED = 20
MAX_NAME_CHARS = 64
MAX_DETAIL_CHARS = 1024
UNKNOWN_FIELD_MESSAGE = "Unknown field."  # marshmallow's, for RAISE schemas
REPEATED_ARGUMENT_MESSAGE = "Give this argument once."
ECHO_MESSAGES = frozenset({UNKNOWN_FIELD_MESSAGE, REPEATED_ARGUMENT_MESSAGE})


class Problem(Exception):
    """An error that is answered with a problem document; subclasses set the status.

    A subclass names its status, title and slug in its class line (`class NotFound(Problem,
    status=404, title="Not Found", slug="not-found")`) or as class attributes.
    """

    status = 500
    title = "Internal Server Error"
    slug: str | None = None

    def __init_subclass__(
        cls,
        *,
        status: int | None = None,
        title: str | None = None,
        slug: str | None = None,
        **kwargs: Any,
    ) -> None:
        """Take the status, title and slug given in the class line."""
        super().__init_subclass__(**kwargs)
        for name, value in (("status", status), ("title", title), ("slug", slug)):
            if value is not None:
                setattr(cls, name, value)

    def __init__(
        self,
        detail: str,
        *,
        errors: FieldErrors | None = None,
        headers: Mapping[str, str] | None = None,
    ) -> None:
        super().__init__(detail)
        self.detail = detail
        self.errors = dict(errors) if errors is not None else None
        self.headers = dict(headers or {})

    @property
    def type(self) -> str:
        """The problem type URI: a LeadApp URN for domain problems, else about:blank."""
        return PROBLEM_TYPE_BASE + self.slug if self.slug else "about:blank"


class BadRequest(Problem, status=400, title="Bad Request", slug="malformed-body"):
    """The body is not strict JSON or not a JSON object."""


class Unauthorized(Problem, status=401, title="Unauthorized", slug="unauthorized"):
    """A bearer key was required, or the one given is unknown or revoked."""

    def __init__(self, detail: str) -> None:
        super().__init__(detail, headers={"WWW-Authenticate": 'Bearer realm="leadapp"'})


class Forbidden(Problem, status=403, title="Forbidden", slug="forbidden"):
    """The client may not do this (blocked address, or a field reserved to API keys)."""


class NotFound(Problem, status=404, title="Not Found", slug="not-found"):
    """No such resource."""


class DuplicateLead(Problem, status=409, title="Duplicate lead", slug="duplicate-lead"):
    """A lead with the same email, phone or IP address already exists."""


class UnsupportedMediaType(
    Problem, status=415, title="Unsupported Media Type", slug="unsupported-media-type"
):
    """The body is not declared as JSON."""


class ValidationFailed(Problem, status=422, title="Validation failed", slug="validation-failed"):
    """One or more fields are invalid; `errors` maps each to its messages."""


class ServiceUnavailable(
    Problem, status=503, title="Service Unavailable", slug="service-unavailable"
):
    """A backing service (the database) can't be reached right now."""


def _cut(text: str, limit: int) -> str:
    """A text of at most `limit` characters, marked with an ellipsis when cut."""
    return text if len(text) <= limit else text[: limit - 1] + "…"


def _is_echo(messages: object) -> bool:
    """Whether an entry only says that the client sent a name it should not have."""
    return isinstance(messages, list) and bool(messages) and set(messages) <= ECHO_MESSAGES


def bound_field_errors(errors: Mapping[str, object]) -> tuple[dict[str, object], int]:
    """The errors to show, and how many unknown or repeated names were left out.

    Known fields keep every message; made-up names (at any depth) share one budget of
    MAX_UNKNOWN_NAMED, in sorted order so the answer is stable.
    """
    budget = [MAX_UNKNOWN_NAMED]
    omitted = [0]

    def bound(level: Mapping[str, object]) -> dict[str, object]:
        kept: dict[str, object] = {}
        for name in sorted(level, key=lambda key: (_is_echo(level[key]), str(key))):
            messages = level[name]
            shown = _cut(str(name), MAX_NAME_CHARS)
            if _is_echo(messages):
                if budget[0] == 0 or shown in kept:
                    omitted[0] += 1
                    continue
                budget[0] -= 1
            elif isinstance(messages, Mapping):
                messages = bound(messages)
            kept[shown] = messages
        return kept

    return bound(errors), omitted[0]


def describe_fields(errors: Mapping[str, object]) -> str:
    """A sentence-ready list of the fields in `errors`, known ones first, at most
    MAX_UNKNOWN_NAMED names in all, each cut short."""
    ordered = sorted(errors, key=lambda name: (_is_echo(errors[name]), name))
    listed = ", ".join(_cut(name, MAX_NAME_CHARS) for name in ordered[:MAX_UNKNOWN_NAMED])
    more = len(ordered) - MAX_UNKNOWN_NAMED
    return f"{listed} and {more} more" if more > 0 else listed


def _bounded_body(body: dict[str, object], errors: FieldErrors | None) -> bytes:
    """Serialize a problem, bounded: capped errors, a cut detail, at most MAX_PROBLEM_BYTES."""
    body["detail"] = _cut(str(body["detail"]), MAX_DETAIL_CHARS)
    if errors is None:
        return json.dumps(body).encode()
    shown, omitted = bound_field_errors(errors)
    while True:
        body["errors"] = shown
        if omitted:
            body["errors_omitted"] = omitted
        encoded = json.dumps(body).encode()
        if len(encoded) <= MAX_PROBLEM_BYTES or not shown:
            return encoded
        # Only long messages get here: drop entries from the end until the document fits.
        shown = dict(list(shown.items())[:-1])
        omitted += 1


def problem_response(
    status: int,
    title: str,
    detail: str,
    *,
    type_: str = "about:blank",
    errors: FieldErrors | None = None,
    headers: Mapping[str, str] | None = None,
) -> Response:
    """Render one RFC 9457 problem document."""
    body: dict[str, object] = {"type": type_, "title": title, "status": status, "detail": detail}
    payload = _bounded_body(body, errors)
    response = Response(payload, status=status, mimetype=PROBLEM_MEDIA_TYPE)
    for name, value in (headers or {}).items():
        response.headers[name] = value
    return response


def _render_problem(error: Problem) -> Response:
    """Render a domain problem."""
    return problem_response(
        error.status,
        error.title,
        error.detail,
        type_=error.type,
        errors=error.errors,
        headers=error.headers,
    )


def _render_http_exception(error: HTTPException) -> Response:
    """Render Werkzeug's own errors (404, 405, 413, 429, ...) as problems, keeping their headers."""
    if isinstance(error, InternalServerError):
        return _render_unexpected(error.original_exception or error)
    status = error.code or 500
    headers = {
        name: value
        for name, value in error.get_headers()
        if name.lower() not in ("content-type", "content-length")
    }
    detail = error.description or error.name
    if isinstance(error, TooManyRequests):
        # Flask-Limiter's description is the bare limit ("5 per 1 minute").
        detail = f"Too many requests: the limit is {detail}. Wait before trying again."
    return problem_response(status, error.name, detail, headers=headers)


def _render_database_error(error: DBAPIError | PoolTimeoutError) -> Response:
    """A database that can't be reached, is locked or is read-only is a 503, not a 500."""
    log.warning(
        "database unavailable: %s (request %s)",
        type(getattr(error, "orig", None) or error).__name__,
        g.get("request_id", "-"),
    )
    return _render_problem(
        ServiceUnavailable("The database is unavailable right now; try again shortly.")
    )


def _render_unexpected(error: BaseException) -> Response:
    """Anything unexpected: log it with the request id, answer with a generic 500."""
    request_id = g.get("request_id", "-")
    log.error("unhandled error (request %s)", request_id, exc_info=error)
    return problem_response(
        500,
        "Internal Server Error",
        f"An unexpected error occurred. Quote request id {request_id} when reporting it.",
    )


def _is_unavailable(error: DBAPIError) -> bool:
    """Whether a database error means 'unavailable' rather than a bug."""
    return isinstance(error, OperationalError) or error.connection_invalidated


def _render_dbapi_error(error: DBAPIError) -> Response:
    """Route database errors to 503 or 500."""
    if _is_unavailable(error):
        return _render_database_error(error)
    return _render_unexpected(error)


def render_error(error: BaseException) -> Response:
    """The problem document any error is answered with, as the handlers below render it.

    For a blueprint that shows problems in another form (api/hosted.py's HTML pages) and
    must first know the status, words and headers every other path would answer with.
    """
    if isinstance(error, Problem):
        return _render_problem(error)
    if isinstance(error, HTTPException):
        return _render_http_exception(error)
    if isinstance(error, DBAPIError):
        return _render_dbapi_error(error)
    if isinstance(error, PoolTimeoutError):
        return _render_database_error(error)
    return _render_unexpected(error)


def register_error_handlers(app: Flask) -> None:
    """Make every error, expected or not, an RFC 9457 problem."""
    app.register_error_handler(Problem, _render_problem)
    app.register_error_handler(HTTPException, _render_http_exception)
    app.register_error_handler(DBAPIError, _render_dbapi_error)
    # Every pooled connection busy for pool_timeout seconds: the database is saturated.
    app.register_error_handler(PoolTimeoutError, _render_database_error)
    app.register_error_handler(Exception, _render_unexpected)
