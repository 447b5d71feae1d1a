"""Request parsing shared by the API views: strict JSON bodies and schema loading."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any
from urllib.parse import parse_qsl

from flask import request
from marshmallow import Schema, ValidationError
from werkzeug.exceptions import RequestEntityTooLarge

from leadapp.errors import (
    REPEATED_ARGUMENT_MESSAGE,
    BadRequest,
    UnsupportedMediaType,
    ValidationFailed,
    describe_fields,
)
from leadapp.jsonutil import StrictJSONError, parse_strict_json


def _is_json_mimetype(mimetype: str) -> bool:
    """application/json or any +json type."""
    return mimetype == "application/json" or (
        mimetype.startswith("application/") and mimetype.endswith("+json")
    )


def json_object_body(max_bytes: int | None = None) -> dict[str, Any]:
    """The request body as a JSON object, or a 415/413/400 problem.

    `max_bytes` raises this request's limit above MAX_CONTENT_LENGTH (PUT /forms/<slug>).
    """
    if not _is_json_mimetype(request.mimetype):
        raise UnsupportedMediaType("Send the body as JSON with Content-Type: application/json.")
    if max_bytes is not None:
        request.max_content_length = max_bytes
    body = request.get_data(cache=False)  # raises 413 past the limit
    try:
        value = parse_strict_json(body)
    except StrictJSONError as error:
        raise BadRequest(str(error)) from None
    if not isinstance(value, dict):
        raise BadRequest("The body must be a JSON object.")
    return value


URLENCODED = "application/x-www-form-urlencoded"
# The no-JavaScript path (contract v3): at most this many members, within MAX_CONTENT_LENGTH.
MAX_URLENCODED_MEMBERS = 100


def urlencoded_pairs() -> list[tuple[str, str]]:
    """The body's (name, value) pairs in order, repeats kept; or a 413/400 problem.

    The body stays cached on the request, so an error page can refill the form from it.
    """
    body = request.get_data(cache=True)  # raises 413 past MAX_CONTENT_LENGTH
    try:
        text = body.decode("utf-8")
        pairs = parse_qsl(text, keep_blank_values=True, encoding="utf-8", errors="strict")
    except UnicodeDecodeError:
        raise BadRequest("The form's data is not valid UTF-8.") from None
    if len(pairs) > MAX_URLENCODED_MEMBERS:
        raise RequestEntityTooLarge(
            f"The form sent more than {MAX_URLENCODED_MEMBERS} members; send fewer."
        )
    return pairs


def load_or_422(schema: Schema, data: Mapping[str, Any]) -> dict[str, Any]:
    """Validate with a schema, turning its messages into a 422 problem (bounded by errors.py)."""
    try:
        return schema.load(data)
    except ValidationError as error:
        messages = (
            error.messages if isinstance(error.messages, dict) else {"_schema": error.messages}
        )
        raise ValidationFailed(
            "The request has invalid fields: " + describe_fields(messages) + ".",
            errors=messages,
        ) from None


def query_args(schema: Schema) -> dict[str, Any]:
    """Validate the query string with a schema; a repeated argument is a 422."""
    repeated = {
        name: [REPEATED_ARGUMENT_MESSAGE]
        for name, values in request.args.lists()
        if len(values) > 1
    }
    if repeated:
        raise ValidationFailed(
            "The query has repeated arguments: " + describe_fields(repeated) + ".",
            errors=repeated,
        )
    return load_or_422(schema, request.args.to_dict())
