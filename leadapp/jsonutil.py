"""Strict JSON (request bodies, challenge payloads): anything not plain RFC 8259 JSON is refused."""

from __future__ import annotations

import json
import math
from typing import Any

# At most this many nested arrays/objects: 32 is accepted, 33 is refused.
MAX_DEPTH = 32
# No field of a lead is a number, so a long literal can only be noise or an attack: Python's
# int() refuses more than 4,300 digits (ValueError) and is quadratic below that.
MAX_NUMBER_CHARS = 100


class StrictJSONError(ValueError):
    """The body is not strict JSON; the message says why, without echoing the body."""


def _refuse_constant(name: str) -> None:
    """Reject NaN, Infinity and -Infinity, which Python's json accepts by default."""
    raise StrictJSONError(f"{name} is not valid JSON.")


def _check_number_length(literal: str) -> None:
    """Refuse a number literal too long to convert cheaply (and never reach int()'s limit)."""
    if len(literal) > MAX_NUMBER_CHARS:
        raise StrictJSONError(f"A JSON number is longer than {MAX_NUMBER_CHARS} characters.")


def _parse_int(literal: str) -> int:
    """An integer literal, bounded in length."""
    _check_number_length(literal)
    return int(literal)


def _parse_float(literal: str) -> float:
    """A fraction or exponent literal, bounded in length and finite (1e999 is not a float)."""
    _check_number_length(literal)
    value = float(literal)
    if not math.isfinite(value):
        raise StrictJSONError("A JSON number is out of range.")
    return value


def _unique_object(pairs: list[tuple[str, Any]]) -> dict[str, Any]:
    """Build an object, refusing duplicate keys (which would silently shadow each other)."""
    obj = dict(pairs)
    if len(obj) != len(pairs):
        raise StrictJSONError("Duplicate key in JSON object.")
    return obj


def _check_strings(value: Any, depth: int = 0) -> None:
    """Refuse lone surrogates (unencodable text) and more than MAX_DEPTH nested containers."""
    if isinstance(value, str):
        try:
            value.encode("utf-8")
        except UnicodeEncodeError:
            raise StrictJSONError("JSON string contains a lone surrogate.") from None
        return
    if not isinstance(value, dict | list):
        return
    depth += 1
    if depth > MAX_DEPTH:
        raise StrictJSONError(f"JSON is nested more than {MAX_DEPTH} levels deep.")
    if isinstance(value, dict):
        for key, item in value.items():
            _check_strings(key, depth)
            _check_strings(item, depth)
    else:
        for item in value:
            _check_strings(item, depth)


def parse_strict_json(body: bytes) -> Any:
    """Decode UTF-8 and parse JSON strictly, raising StrictJSONError for anything else."""
    try:
        text = body.decode("utf-8")
    except UnicodeDecodeError:
        raise StrictJSONError("Body is not valid UTF-8.") from None
    try:
        value = json.loads(
            text,
            parse_constant=_refuse_constant,
            parse_int=_parse_int,
            parse_float=_parse_float,
            object_pairs_hook=_unique_object,
        )
    except RecursionError:
        raise StrictJSONError("JSON is nested too deeply.") from None
    except json.JSONDecodeError as error:
        raise StrictJSONError(f"Malformed JSON: {error.msg} at position {error.pos}.") from None
    _check_strings(value)
    return value
