"""Hostile bodies and queries (contract "Hostile clients"): numbers, nesting, amplification."""

from __future__ import annotations

import json

import pytest
from flask import Flask
from flask.testing import FlaskClient

from leadapp.errors import MAX_PROBLEM_BYTES, MAX_UNKNOWN_NAMED
from tests.support.builders import lead_payload
from tests.support.client import bearer

PROBLEM = "application/problem+json"
HUGE_INTEGER = "9" * 5000
HUGE_NUMBERS = [
    HUGE_INTEGER,
    "-" + HUGE_INTEGER,
    "1e999999",
    "-1e400",
    "1" + "0" * 400 + ".5",
    "0." + "1" * 5000,
    "1" * 4301 + "e1",
]


def post_raw(client: FlaskClient, body: str, ip: str = "203.0.113.9"):
    """POST a raw JSON text to /leads from one anonymous client address."""
    return client.post(
        "/leads", data=body, content_type="application/json", environ_base={"REMOTE_ADDR": ip}
    )


def valid_body_with(number: str) -> list[str]:
    """A valid lead with the number placed in every kind of position in the body."""
    lead = json.dumps(lead_payload())[1:-1]
    return [
        number,
        f"[{number}]",
        f'{{"name": "Ada", "email": "ada@example.com", "phone": {number}}}',
        f'{{"name": {number}, "email": "ada@example.com", "phone": "+44 20 7946 0958"}}',
        f'{{{lead}, "extra": {number}}}',
        f'{{{lead}, "extra": {{"deep": [1, 2, {{"x": [{number}]}}]}}}}',
    ]


@pytest.mark.parametrize("number", HUGE_NUMBERS, ids=lambda n: n[:12])
def test_a_number_of_any_length_is_400_or_422_never_500(
    client: FlaskClient, app: Flask, number: str
) -> None:
    for n, body in enumerate(valid_body_with(number)):
        response = post_raw(client, body, ip=f"203.0.113.{n + 10}")
        assert response.status_code in (400, 422), (body[:80], response.get_data(as_text=True))
        assert response.mimetype == PROBLEM
        assert number[:50] not in response.get_data(as_text=True)  # never echoed


def test_an_ordinary_number_in_a_string_field_is_still_422(client: FlaskClient) -> None:
    response = post_raw(client, json.dumps(lead_payload(phone=442079460958)))
    assert response.status_code == 422
    assert "phone" in response.get_json()["errors"]


def nested(levels: int) -> dict:
    """A valid lead whose unknown member `x` holds `levels` nested arrays (the lead object
    itself is one more level)."""
    inner: list = []
    for _ in range(levels - 1):
        inner = [inner]
    return lead_payload(x=inner)


def test_nesting_boundary_is_32_levels(client: FlaskClient) -> None:
    at_limit = post_raw(client, json.dumps(nested(31)), ip="203.0.113.30")  # 32 levels in all
    assert at_limit.status_code == 422  # parsed: only the unknown field is wrong
    assert list(at_limit.get_json()["errors"]) == ["x"]
    over = post_raw(client, json.dumps(nested(32)), ip="203.0.113.31")  # 33 levels
    assert over.status_code == 400
    assert "32" in over.get_json()["detail"]


def assert_bounded(response, status: int = 422) -> dict:
    """A problem no larger than 16 KiB, naming at most 20 made-up names; return its body."""
    assert response.status_code == status
    assert response.mimetype == PROBLEM
    assert len(response.get_data()) <= MAX_PROBLEM_BYTES
    return response.get_json()


def test_1500_unknown_members_name_at_most_20_and_say_how_many_more(
    client: FlaskClient,
) -> None:
    payload = lead_payload(email="not-an-email")
    payload.update({f"a{n:04d}": 0 for n in range(1500)})  # sorted before "email"
    raw = json.dumps(payload, separators=(",", ":"))
    assert len(raw) < 16 * 1024
    body = assert_bounded(post_raw(client, raw))
    unknown = [name for name in body["errors"] if name.startswith("a")]
    assert len(unknown) == MAX_UNKNOWN_NAMED
    assert body["errors_omitted"] == 1500 - MAX_UNKNOWN_NAMED
    assert "email" in body["errors"]  # every known field's error is still named
    assert body["detail"].startswith("The request has invalid fields: email, a0000, ")
    assert f"and {1500 + 1 - MAX_UNKNOWN_NAMED} more" in body["detail"]


def test_long_unknown_names_are_cut(client: FlaskClient) -> None:
    payload = lead_payload()
    payload["z" * 15000] = 1
    body = assert_bounded(post_raw(client, json.dumps(payload)))
    (name,) = body["errors"]
    assert len(name) <= 64 and name.endswith("…")
    assert len(body["detail"]) <= 1024


def test_20000_unknown_query_arguments(client: FlaskClient, api_key: str) -> None:
    query = "&".join(f"arg{n}=1" for n in range(20000))
    body = assert_bounded(client.get(f"/leads?{query}", headers=bearer(api_key)))
    assert len(body["errors"]) == MAX_UNKNOWN_NAMED
    assert body["errors_omitted"] == 20000 - MAX_UNKNOWN_NAMED


def test_20000_repeated_query_arguments(client: FlaskClient, api_key: str) -> None:
    query = "&".join(f"arg{n // 2}=1" for n in range(20000))
    body = assert_bounded(client.get(f"/leads?{query}", headers=bearer(api_key)))
    assert len(body["errors"]) == MAX_UNKNOWN_NAMED
    assert body["errors_omitted"] == 10000 - MAX_UNKNOWN_NAMED
    same = "&".join("limit=1" for _ in range(20000))
    body = assert_bounded(client.get(f"/leads?{same}", headers=bearer(api_key)))
    assert list(body["errors"]) == ["limit"]


@pytest.mark.parametrize(
    "limit",
    ["1_0", "٥", "۵", "５", "１０", " 5 ", "5 ", "+5", "-0", "5.0", "0x5", "", "9" * 30],
)
def test_query_integers_are_ascii_digits_only(client: FlaskClient, api_key: str, limit: str):
    response = client.get("/leads", query_string={"limit": limit}, headers=bearer(api_key))
    assert response.status_code == 422, response.get_json()
    assert "limit" in response.get_json()["errors"]


@pytest.mark.parametrize(("limit", "expected"), [("5", 200), ("05", 200), ("100", 200)])
def test_ascii_query_integers_still_work(
    client: FlaskClient, api_key: str, limit: str, expected: int
) -> None:
    response = client.get("/leads", query_string={"limit": limit}, headers=bearer(api_key))
    assert response.status_code == expected
