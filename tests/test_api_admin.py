"""The admin API: keyset pagination, exact lookups, read and erase, audit, auth."""

from __future__ import annotations

import uuid

import pytest
from flask import Flask
from flask.testing import FlaskClient

from tests.support.apps import create_api_key
from tests.support.builders import e164_for, lead_payload
from tests.support.client import bearer

TOTAL = 12


@pytest.fixture
def seeded(app: Flask, api_key: str) -> list[dict]:
    """TOTAL leads posted by a partner, oldest first."""
    client = app.test_client()
    created = []
    for n in range(TOTAL):
        body = lead_payload(n, ip_address=f"198.51.100.{n + 1}")
        response = client.post("/leads", json=body, headers=bearer(api_key))
        assert response.status_code == 201
        created.append(response.get_json())
    return created


def get(client: FlaskClient, key: str, path: str):
    """GET with the key."""
    return client.get(path, headers=bearer(key))


def test_pages_newest_first_without_gaps_or_repeats(
    client, api_key: str, seeded: list[dict]
) -> None:
    seen, cursor, pages = [], None, 0
    while True:
        path = "/leads?limit=5" + (f"&cursor={cursor}" if cursor else "")
        body = get(client, api_key, path).get_json()
        seen += body["items"]
        pages += 1
        cursor = body["next_cursor"]
        if cursor is None:
            break
    assert pages == 3
    assert [lead["id"] for lead in seen] == [lead["id"] for lead in reversed(seeded)]
    assert seen[0] == seeded[-1]


def test_default_limit_is_50(client, api_key: str, seeded: list[dict]) -> None:
    body = get(client, api_key, "/leads").get_json()
    assert len(body["items"]) == TOTAL and body["next_cursor"] is None


@pytest.mark.parametrize(
    ("query", "field"),
    [
        ("limit=0", "limit"),
        ("limit=101", "limit"),
        ("limit=abc", "limit"),
        ("limit=5.5", "limit"),
        ("limit=1&limit=2", "limit"),
        ("cursor=forged", "cursor"),
        ("cursor=", "cursor"),
        ("email=not-an-email", "email"),
        ("phone=12345", "phone"),
        ("colour=red", "colour"),
    ],
)
def test_bad_query_is_422_never_clamped(
    client, api_key: str, seeded: list[dict], query: str, field: str
) -> None:
    response = get(client, api_key, f"/leads?{query}")
    assert response.status_code == 422, response.get_json()
    assert response.mimetype == "application/problem+json"
    assert field in response.get_json()["errors"]


def test_tampered_cursor_is_refused(client, api_key: str, seeded: list[dict]) -> None:
    cursor = get(client, api_key, "/leads?limit=2").get_json()["next_cursor"]
    payload, _, signature = cursor.partition(".")
    tampered = payload[:-2] + ("AA" if payload[-2:] != "AA" else "BB") + "." + signature
    assert get(client, api_key, f"/leads?cursor={tampered}").status_code == 422


def test_find_by_email_and_phone_normalized_like_post(
    client, api_key: str, seeded: list[dict]
) -> None:
    target = seeded[3]
    by_email = get(client, api_key, "/leads?email=LEAD3@EXAMPLE.COM").get_json()["items"]
    assert by_email == [target]
    by_phone = get(client, api_key, "/leads?phone=%2B44%20(20)%207000-0003").get_json()["items"]
    assert [lead["phone"] for lead in by_phone] == [e164_for(3)]
    both = get(
        client, api_key, f"/leads?email=lead3@example.com&phone={e164_for(4).replace('+', '%2B')}"
    )
    assert both.get_json()["items"] == []
    assert get(client, api_key, "/leads?email=nobody@example.com").get_json() == {
        "items": [],
        "next_cursor": None,
    }


def test_get_one_and_404s(client, api_key: str, seeded: list[dict]) -> None:
    lead = seeded[0]
    assert get(client, api_key, f"/leads/{lead['id']}").get_json() == lead
    assert get(client, api_key, f"/leads/{uuid.uuid4()}").status_code == 404
    for bad in ["not-a-uuid", "1", "%00"]:
        response = get(client, api_key, f"/leads/{bad}")
        assert response.status_code == 404
        assert response.mimetype == "application/problem+json"


def test_erase_frees_email_phone_and_ip(client, api_key: str, seeded: list[dict]) -> None:
    lead = seeded[5]
    response = client.delete(f"/leads/{lead['id']}", headers=bearer(api_key))
    assert response.status_code == 204 and response.data == b""
    assert client.delete(f"/leads/{lead['id']}", headers=bearer(api_key)).status_code == 404
    assert get(client, api_key, f"/leads/{lead['id']}").status_code == 404
    again = client.post(
        "/leads", json=lead_payload(5, ip_address=lead["ip_address"]), headers=bearer(api_key)
    )
    assert again.status_code == 201


@pytest.mark.parametrize(
    ("method", "path"),
    [("GET", "/leads"), ("GET", f"/leads/{uuid.uuid4()}"), ("DELETE", f"/leads/{uuid.uuid4()}")],
)
@pytest.mark.parametrize("headers", [{}, {"Authorization": "Bearer wrong"}])
def test_admin_needs_a_valid_key(client, method: str, path: str, headers: dict) -> None:
    response = client.open(path, method=method, headers=headers)
    assert response.status_code == 401
    assert response.headers["WWW-Authenticate"].startswith("Bearer")
    assert response.mimetype == "application/problem+json"


def test_reads_and_erasures_are_audited_without_personal_data(
    app: Flask, client, api_key: str, seeded: list[dict]
) -> None:
    get(client, api_key, "/leads?limit=2")
    get(client, api_key, f"/leads/{seeded[0]['id']}")
    get(client, api_key, "/leads?email=lead1@example.com")
    client.delete(f"/leads/{seeded[2]['id']}", headers=bearer(api_key))
    output = app.test_cli_runner().invoke(args=["audit", "list"]).output
    lines = output.strip().splitlines()
    assert [line.split()[3] for line in lines] == ["erase", "search", "read", "list"]
    assert all("partner" in line for line in lines)
    assert seeded[2]["id"] in lines[0] and seeded[0]["id"] in lines[2]
    assert seeded[-1]["id"] in lines[3] and seeded[-2]["id"] in lines[3]
    for lead in seeded:
        assert lead["email"] not in output and lead["name"] not in output


def test_a_second_key_sees_the_same_leads(app: Flask, client, seeded: list[dict]) -> None:
    other = create_api_key(app, "operator")
    assert len(get(client, other, "/leads?limit=100").get_json()["items"]) == TOTAL
