"""Strict JSON parsing of request bodies: anything not plain RFC 8259 JSON is refused."""

from __future__ import annotations

import json
from typing import Any

MAX_DEPTH = 32


class StrictJSONError(ValueError):
    """The body is not strict JSON; the message says why, without echoing the body."""


def _refuse_constant(name: str) -> None:
    """Reject NaN, Infinity and -Infinity, which Python's json accepts by default."""
    raise StrictJSONError(f"{name} is not valid JSON.")


def _unique_object(pairs: list[tuple[str, Any]]) -> dict[str, Any]:
    """Build an object, refusing duplicate keys (which would silently shadow each other)."""
    obj = dict(pairs)
    if len(obj) != len(pairs):
        raise StrictJSONError("Duplicate key in JSON object.")
    return obj


def _check_strings(value: Any, depth: int = 0) -> None:
    """Refuse lone surrogates (unencodable text) and nesting deeper than MAX_DEPTH."""
    if depth > MAX_DEPTH:
        raise StrictJSONError("JSON is nested too deeply.")
    if isinstance(value, str):
        try:
            value.encode("utf-8")
        except UnicodeEncodeError:
            raise StrictJSONError("JSON string contains a lone surrogate.") from None
    elif isinstance(value, dict):
        for key, item in value.items():
            _check_strings(key, depth + 1)
            _check_strings(item, depth + 1)
    elif isinstance(value, list):
        for item in value:
            _check_strings(item, depth + 1)


def parse_strict_json(body: bytes) -> Any:
    """Decode UTF-8 and parse JSON strictly, raising StrictJSONError for anything else."""
    try:
        text = body.decode("utf-8")
    except UnicodeDecodeError:
        raise StrictJSONError("Body is not valid UTF-8.") from None
    try:
        value = json.loads(text, parse_constant=_refuse_constant, object_pairs_hook=_unique_object)
    except RecursionError:
        raise StrictJSONError("JSON is nested too deeply.") from None
    except json.JSONDecodeError as error:
        raise StrictJSONError(f"Malformed JSON: {error.msg} at position {error.pos}.") from None
    _check_strings(value)
    return value
