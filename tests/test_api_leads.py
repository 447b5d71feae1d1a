"""POST /leads through the Flask test client: every status the contract lists."""

from __future__ import annotations

import json
import uuid
from datetime import datetime

import pytest
from flask import Flask
from flask.testing import FlaskClient
from sqlalchemy import func, select

from leadapp import create_app
from leadapp.extensions import db
from leadapp.models import Lead
from tests.support.builders import e164_for, lead_payload, phone_for
from tests.support.client import PROBLEM_JSON, post_lead


def lead_count(app: Flask) -> int:
    """How many leads are stored."""
    with app.app_context():
        return db.session.scalar(select(func.count()).select_from(Lead))


def assert_problem(response, status: int) -> dict:
    """The response is an RFC 9457 problem with this status; return its body."""
    assert response.status_code == status, response.get_data(as_text=True)
    assert response.mimetype == PROBLEM_JSON
    body = response.get_json()
    assert {"type", "title", "status", "detail"} <= body.keys()
    assert body["status"] == status
    assert response.headers["X-Request-ID"]
    return body


def test_created(client: FlaskClient, app: Flask) -> None:
    response = post_lead(client, lead_payload(1, name="  Ada Lovelace ", email="Ada@Example.COM"))
    assert response.status_code == 201
    body = response.get_json()
    assert response.headers["Location"] == f"/leads/{body['id']}"
    uuid.UUID(body["id"])
    assert body["name"] == "Ada Lovelace"
    assert body["email"] == "Ada@example.com"
    assert body["phone"] == e164_for(1)
    assert body["ip_address"] == "203.0.113.1"
    assert body["created_at"].endswith("Z")
    datetime.fromisoformat(body["created_at"])
    assert "Retry-After" not in response.headers
    assert lead_count(app) == 1


def test_created_lead_reads_back_decrypted(client: FlaskClient, app: Flask) -> None:
    created = post_lead(client, lead_payload(2)).get_json()
    with app.app_context():
        lead = db.session.get(Lead, uuid.UUID(created["id"]))
        assert (lead.name, lead.email, lead.phone, lead.ip_address) == (
            created["name"],
            created["email"],
            created["phone"],
            "203.0.113.1",
        )


def test_ipv4_mapped_client_is_stored_as_ipv4(client: FlaskClient) -> None:
    response = post_lead(client, lead_payload(3), ip="::ffff:203.0.113.9")
    assert response.get_json()["ip_address"] == "203.0.113.9"


@pytest.mark.parametrize(
    ("second", "fields"),
    [
        ({"email": "ADA@example.com"}, ["email"]),
        ({"email": "ada@EXAMPLE.com"}, ["email"]),
        ({"phone": "+44 (20) 7000-0001"}, ["phone"]),
        ({"phone": "+44.20.7000.0001"}, ["phone"]),
        ({"email": "ada@example.com", "phone": "+442070000001"}, ["email", "phone"]),
    ],
)
def test_duplicate_email_or_phone_is_409_naming_every_field(
    client: FlaskClient, app: Flask, second: dict, fields: list[str]
) -> None:
    assert (
        post_lead(client, lead_payload(1, email="ada@example.com"), ip="203.0.113.1").status_code
        == 201
    )
    body = assert_problem(post_lead(client, lead_payload(2, **second), ip="203.0.113.2"), 409)
    assert sorted(body["errors"]) == sorted(fields)
    assert lead_count(app) == 1


def test_duplicate_ip_and_all_three(client: FlaskClient, app: Flask) -> None:
    first = lead_payload(1)
    assert post_lead(client, first, ip="203.0.113.1").status_code == 201
    body = assert_problem(post_lead(client, lead_payload(2), ip="203.0.113.1"), 409)
    assert list(body["errors"]) == ["ip_address"]
    body = assert_problem(post_lead(client, first, ip="203.0.113.1"), 409)
    assert sorted(body["errors"]) == ["email", "ip_address", "phone"]
    # The problem never shows the other person's data.
    assert first["name"] not in json.dumps(body)
    assert lead_count(app) == 1


def test_plus_tags_and_dots_are_different_addresses(client: FlaskClient) -> None:
    assert (
        post_lead(client, lead_payload(1, email="ann@example.com"), ip="203.0.113.1").status_code
        == 201
    )
    assert (
        post_lead(client, lead_payload(2, email="ann+x@example.com"), ip="203.0.113.2").status_code
        == 201
    )
    assert (
        post_lead(client, lead_payload(3, email="a.nn@example.com"), ip="203.0.113.3").status_code
        == 201
    )


@pytest.mark.parametrize(
    ("body", "fields"),
    [
        ({}, ["email", "name", "phone"]),
        (lead_payload(1, name="   "), ["name"]),
        (lead_payload(1, name=None), ["name"]),
        (lead_payload(1, name=42), ["name"]),
        (lead_payload(1, name="x" * 101), ["name"]),
        (lead_payload(1, name="Ada\u0000"), ["name"]),
        (lead_payload(1, email="not-an-email"), ["email"]),
        (lead_payload(1, email=["a@example.com"]), ["email"]),
        (lead_payload(1, phone=4402079460958), ["phone"]),
        (lead_payload(1, phone="+1 650 CALL NOW"), ["phone"]),
        (lead_payload(1, phone="020 7946 0958"), ["phone"]),
        (lead_payload(1, phone="+44 20 7946 0958 ext 2"), ["phone"]),
        (lead_payload(1, extra="x"), ["extra"]),
        (
            {"name": "", "email": "", "phone": "", "admin": True},
            ["admin", "email", "name", "phone"],
        ),
    ],
)
def test_validation_is_422_naming_every_field(
    client: FlaskClient, app: Flask, body: dict, fields: list[str]
) -> None:
    problem = assert_problem(post_lead(client, body), 422)
    assert sorted(problem["errors"]) == fields
    for messages in problem["errors"].values():
        assert messages and all(isinstance(m, str) and m for m in messages)
    assert lead_count(app) == 0


def test_default_region_reads_national_numbers(make_app) -> None:
    app = make_app(LEADAPP_DEFAULT_REGION="GB")
    response = post_lead(app.test_client(), lead_payload(1, phone="020 7946 0958"))
    assert response.status_code == 201
    assert response.get_json()["phone"] == "+442079460958"


@pytest.mark.parametrize(
    "raw",
    [
        b'{"name": "Ada", "email": "ada@example.com", "phone": NaN}',
        b'{"name": "Ada", "name": "Eve", "email": "ada@example.com", "phone": "+442079460958"}',
        b'{"name": "Ada\xff", "email": "ada@example.com", "phone": "+442079460958"}',
        b'{"name": "Ada\\ud800", "email": "ada@example.com", "phone": "+442079460958"}',
        b"[" * 3000 + b"]" * 3000,
        b"[]",
        b'"a string"',
        b"null",
        b"",
        b"{not json",
    ],
)
def test_malformed_body_is_400(client: FlaskClient, app: Flask, raw: bytes) -> None:
    assert_problem(post_lead(client, raw), 400)
    assert lead_count(app) == 0


@pytest.mark.parametrize("content_type", ["text/plain", "application/x-www-form-urlencoded", None])
def test_non_json_content_type_is_415(client: FlaskClient, content_type: str | None) -> None:
    response = client.post("/leads", data=json.dumps(lead_payload(1)), content_type=content_type)
    assert_problem(response, 415)


def test_json_with_charset_is_accepted(client: FlaskClient) -> None:
    response = post_lead(client, lead_payload(1), content_type="application/json; charset=utf-8")
    assert response.status_code == 201


def test_body_over_16_kib_is_413(client: FlaskClient, app: Flask) -> None:
    body = json.dumps(lead_payload(1, name="x" * (17 * 1024)))
    assert_problem(post_lead(client, body), 413)
    assert lead_count(app) == 0


def test_ip_address_without_api_key_is_403(client: FlaskClient, app: Flask) -> None:
    assert_problem(post_lead(client, lead_payload(1, ip_address="198.51.100.7")), 403)
    assert lead_count(app) == 0


def test_sixth_anonymous_post_in_a_minute_is_429(client: FlaskClient) -> None:
    statuses = [post_lead(client, lead_payload(n), ip="203.0.113.50").status_code for n in range(6)]
    # The first is created, the next four are duplicates of its IP: they count too.
    assert statuses == [201, 409, 409, 409, 409, 429]
    response = post_lead(client, lead_payload(99), ip="203.0.113.50")
    body = assert_problem(response, 429)
    assert int(response.headers["Retry-After"]) > 0
    assert body["detail"]
    # Another client is not affected.
    assert post_lead(client, lead_payload(100), ip="203.0.113.51").status_code == 201


def test_ipv6_clients_are_limited_per_64(client: FlaskClient) -> None:
    statuses = [
        post_lead(client, lead_payload(n), ip=f"2001:db8:1:2::{n + 1:x}").status_code
        for n in range(6)
    ]
    assert statuses == [201] * 5 + [429]
    assert post_lead(client, lead_payload(50), ip="2001:db8:1:3::1").status_code == 201


@pytest.mark.parametrize(
    ("method", "path", "status"),
    [("GET", "/nowhere", 404), ("PUT", "/leads", 405), ("GET", "/healthz", 200)],
)
def test_werkzeug_errors_are_problems(
    client: FlaskClient, method: str, path: str, status: int
) -> None:
    response = client.open(path, method=method)
    if status == 200:
        assert response.get_json() == {"status": "ok"}
    else:
        assert_problem(response, status)


def test_request_id_is_echoed_when_sane(client: FlaskClient) -> None:
    assert (
        client.get("/healthz", headers={"X-Request-ID": "abc-123"}).headers["X-Request-ID"]
        == "abc-123"
    )
    for offered in ["bad id", "x" * 129, "<script>", "id;drop"]:
        generated = client.get("/healthz", headers={"X-Request-ID": offered}).headers[
            "X-Request-ID"
        ]
        assert generated != offered and len(generated) == 32


def test_unexpected_error_is_generic_500_with_request_id(
    client: FlaskClient, monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    from leadapp.services import leads

    def explode(*args, **kwargs):
        raise RuntimeError("secret internals")

    monkeypatch.setattr(leads, "create_lead", explode)
    response = post_lead(client, lead_payload(1), headers={"X-Request-ID": "req-500"})
    body = assert_problem(response, 500)
    assert "req-500" in body["detail"]
    assert "secret internals" not in response.get_data(as_text=True)
    assert "req-500" in caplog.text


def test_database_unavailable_is_503(tmp_path) -> None:
    app = create_app({"SQLALCHEMY_DATABASE_URI": f"sqlite:///{tmp_path}/missing-dir/db.sqlite3"})
    response = post_lead(app.test_client(), lead_payload(1))
    body = assert_problem(response, 503)
    assert response.headers["Retry-After"]
    assert "sqlite" not in body["detail"].lower()


def test_phone_factory_gives_valid_distinct_numbers() -> None:
    assert phone_for(1) != phone_for(2)
