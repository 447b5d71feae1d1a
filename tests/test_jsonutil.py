"""Strict JSON parsing: what plain json.loads lets through must be refused."""

from __future__ import annotations

import pytest

from leadapp.jsonutil import StrictJSONError, parse_strict_json


@pytest.mark.parametrize(
    ("body", "expected"),
    [
        (b'{"a": 1}', {"a": 1}),
        (b"[]", []),
        ('{"name": "Zoë"}'.encode(), {"name": "Zoë"}),
        (b'{"s": "\\ud83d\\ude00"}', {"s": "\U0001f600"}),  # a proper surrogate pair
        (b'{"a": [[[[1]]]]}', {"a": [[[[1]]]]}),
    ],
)
def test_strict_json_accepted(body: bytes, expected: object) -> None:
    assert parse_strict_json(body) == expected


@pytest.mark.parametrize(
    ("body", "reason"),
    [
        (b'{"a": NaN}', "NaN"),
        (b'{"a": Infinity}', "Infinity"),
        (b'{"a": -Infinity}', "-Infinity"),
        (b'{"a": 1, "a": 2}', "Duplicate key"),
        (b'{"a": {"b": 1, "b": 1}}', "Duplicate key"),
        (b'{"a": "\xff"}', "UTF-8"),
        (b'{"a": "\xed\xa0\x80"}', "UTF-8"),  # an encoded surrogate is not UTF-8
        (b'{"a": "\\ud800"}', "surrogate"),
        (b'{"\\udc00": 1}', "surrogate"),
        (b"[" * 5000 + b"]" * 5000, "nested"),
        (b"[" * 40 + b"]" * 40, "nested"),
        (b"", "Malformed"),
        (b"{", "Malformed"),
        (b"{'a': 1}", "Malformed"),
        (b'{"a": 1,}', "Malformed"),
        (b'\xef\xbb\xbf{"a": 1}', "Malformed"),
    ],
)
def test_strict_json_refused(body: bytes, reason: str) -> None:
    with pytest.raises(StrictJSONError, match=reason):
        parse_strict_json(body)


def nest(levels: int) -> bytes:
    """`levels` nested arrays."""
    return b"[" * levels + b"]" * levels


def test_nesting_boundary_matches_the_docs() -> None:
    assert parse_strict_json(nest(32)) is not None  # README: refused when deeper than 32
    with pytest.raises(StrictJSONError, match="more than 32"):
        parse_strict_json(nest(33))
    with pytest.raises(StrictJSONError, match="more than 32"):
        parse_strict_json(b'{"a":' * 33 + b"1" + b"}" * 33)


@pytest.mark.parametrize(
    "body",
    [b"9" * 5000, b"[" + b"1" * 4301 + b"]", b"1e999999", b"[-1e400]", b"0." + b"1" * 200],
)
def test_numbers_beyond_reason_are_strict_json_errors(body: bytes) -> None:
    with pytest.raises(StrictJSONError, match="number"):
        parse_strict_json(body)


@pytest.mark.parametrize(
    ("body", "expected"), [(b"12", 12), (b"-0.5", -0.5), (b"1e308", 1e308), (b"1e-400", 0.0)]
)
def test_ordinary_numbers_still_parse(body: bytes, expected: float) -> None:
    assert parse_strict_json(body) == expected
