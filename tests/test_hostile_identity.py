"""Deceptive names, look-alike emails and partners' visitors (contract "Hostile clients")."""

from __future__ import annotations

import pytest
from flask import Flask
from flask.testing import FlaskClient

from tests.support.builders import lead_payload
from tests.support.client import bearer

BIDI_FORMATTING = [
    "\u061c",
    "\u200e",
    "\u200f",
    "\u202a",
    "\u202b",
    "\u202c",
    "\u202d",
    "\u202e",
    "\u2066",
    "\u2067",
    "\u2068",
    "\u2069",
]


def post(client: FlaskClient, body: dict, ip: str = "203.0.113.40", **kwargs):
    """POST a lead from one anonymous client address."""
    return client.post("/leads", json=body, environ_base={"REMOTE_ADDR": ip}, **kwargs)


@pytest.mark.parametrize(
    "name", ["\u200b", "\u200b\u200b", "\u200c", "\u200d", "-", "...", "😀", "\u00ad"]
)
def test_a_name_without_a_letter_or_digit_is_422(client: FlaskClient, name: str) -> None:
    response = post(client, lead_payload(name=name))
    assert response.status_code == 422
    assert list(response.get_json()["errors"]) == ["name"]


@pytest.mark.parametrize("char", BIDI_FORMATTING, ids=lambda c: f"U+{ord(c):04X}")
def test_a_name_with_bidirectional_formatting_is_422(client: FlaskClient, char: str) -> None:
    response = post(client, lead_payload(name=f"Ada {char}ecalevoL"))
    assert response.status_code == 422
    assert "bidirectional" in response.get_json()["errors"]["name"][0]


@pytest.mark.parametrize(
    "name", ["محمد\u200cرضا", "क्\u200dष", "R2", "7", "O'Brien-Smith", "Zoë"], ids=str
)
def test_joiners_and_ordinary_names_stay_allowed(client: FlaskClient, name: str) -> None:
    response = post(client, lead_payload(name=name))
    assert response.status_code == 201, response.get_json()
    assert response.get_json()["name"] == name


@pytest.mark.parametrize(
    ("first", "second"),
    [
        ("ada@example.com", "ａｄａ@example.com"),  # fullwidth
        ("office@example.com", "oﬃce@example.com"),  # ffi ligature
        ("ADA@example.com", "ａｄａ@EXAMPLE.com"),
        ("ｏｆｆｉｃｅ@example.com", "Oﬃce@example.com"),
    ],
)
def test_look_alike_emails_are_duplicates(client: FlaskClient, first: str, second: str) -> None:
    assert post(client, lead_payload(email=first), ip="203.0.113.41").status_code == 201
    response = post(client, lead_payload(email=second), ip="203.0.113.42")
    assert response.status_code == 409, response.get_json()
    assert list(response.get_json()["errors"]) == ["email"]


def test_look_alike_email_lookup_finds_the_lead(app: Flask, api_key: str) -> None:
    client = app.test_client()
    created = post(client, lead_payload(email="ａｄａ@example.com")).get_json()
    for query in ("ada@example.com", "ADA@example.com", "ａｄａ@example.com"):
        response = client.get("/leads", query_string={"email": query}, headers=bearer(api_key))
        assert [lead["id"] for lead in response.get_json()["items"]] == [created["id"]], query


@pytest.mark.parametrize(
    "email",
    [
        "\u0430da@example.com",  # a Cyrillic a, then Latin
        "ad\u0430@example.com",
        "p\u0430ypal.support@example.com",
        "\u03bfffice@example.com",  # Greek omicron
        "ada.\u0430\u043d\u044f@example.com",  # Latin and Cyrillic words
    ],
)
def test_a_local_part_mixing_scripts_is_422(client: FlaskClient, email: str) -> None:
    response = post(client, lead_payload(email=email))
    assert response.status_code == 422
    assert "scripts" in response.get_json()["errors"]["email"][0]


@pytest.mark.parametrize(
    "email",
    [
        "\u0430\u043d\u044f@example.com",  # Cyrillic
        "\u03b1\u03b8\u03b7\u03bd\u03ac@example.gr",  # Greek
        "\u0430\u043d\u044f.2024@example.com",  # digits and dots belong to no script
        "やまだ@example.jp",  # hiragana alone
        "用户@例子.广告",
    ],
)
def test_a_local_part_in_one_script_is_fine(client: FlaskClient, email: str) -> None:
    assert post(client, lead_payload(email=email)).status_code == 201


@pytest.mark.parametrize(
    ("network", "address"),
    [
        ("198.51.100.0/24", "198.51.100.77"),
        ("198.51.100.0/24", "::ffff:198.51.100.77"),
        ("2001:db8:1::/48", "2001:db8:1:2::5"),
    ],
)
def test_a_partners_ip_address_in_a_blocked_network_is_403(
    app: Flask, client: FlaskClient, api_key: str, network: str, address: str
) -> None:
    result = app.test_cli_runner().invoke(args=["blocklist", "add", network])
    assert result.exit_code == 0, result.output
    response = client.post("/leads", json=lead_payload(ip_address=address), headers=bearer(api_key))
    assert response.status_code == 403
    assert response.mimetype == "application/problem+json"
    assert "blocked" in response.get_json()["detail"]
    outside = client.post(
        "/leads", json=lead_payload(ip_address="192.0.2.10"), headers=bearer(api_key)
    )
    assert outside.status_code == 201
