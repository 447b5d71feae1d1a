"""API keys: the CLI, Bearer authentication and what a key allows on POST /leads."""

from __future__ import annotations

import time

import pytest
from flask import Flask
from flask.testing import FlaskClient
from sqlalchemy import select

from leadapp.extensions import db
from leadapp.models import ApiKey
from tests.support.apps import create_api_key
from tests.support.builders import lead_payload
from tests.support.client import bearer, post_lead


def test_create_prints_the_key_once_alone_on_the_last_line(app: Flask) -> None:
    result = app.test_cli_runner().invoke(args=["apikeys", "create", "acme"])
    assert result.exit_code == 0
    lines = result.output.strip().splitlines()
    key = lines[-1]
    assert key.startswith("lak_") and " " not in key and len(key) > 40
    assert key not in "\n".join(lines[:-1])
    with app.app_context():
        row = db.session.scalar(select(ApiKey).where(ApiKey.name == "acme"))
        assert row is not None
        assert key.encode() not in row.key_hash and len(row.key_hash) == 32


def test_duplicate_name_and_bad_names_are_one_line_errors(app: Flask) -> None:
    runner = app.test_cli_runner()
    assert runner.invoke(args=["apikeys", "create", "acme"]).exit_code == 0
    for name in ["acme", " ", "x" * 65]:
        result = runner.invoke(args=["apikeys", "create", name])
        assert result.exit_code != 0
        assert result.output.startswith("Error: ") and len(result.output.strip().splitlines()) == 1


def test_list_never_shows_the_secret(app: Flask) -> None:
    key = create_api_key(app, "acme")
    output = app.test_cli_runner().invoke(args=["apikeys", "list"]).output
    assert "acme" in output
    assert key not in output and key[12:20] not in output


def test_revoke_unknown_name_is_an_error(app: Flask) -> None:
    result = app.test_cli_runner().invoke(args=["apikeys", "revoke", "nobody"])
    assert result.exit_code != 0 and "No API key named 'nobody'" in result.output


def test_key_lets_a_partner_send_the_visitor_ip(client: FlaskClient, api_key: str) -> None:
    response = post_lead(
        client, lead_payload(1, ip_address="::ffff:198.51.100.7"), headers=bearer(api_key)
    )
    assert response.status_code == 201
    assert response.get_json()["ip_address"] == "198.51.100.7"
    # The visitor's IP, not the partner server's, is the one deduplicated.
    second = post_lead(client, lead_payload(2, ip_address="198.51.100.7"), headers=bearer(api_key))
    assert second.status_code == 409 and list(second.get_json()["errors"]) == ["ip_address"]
    # A partner may leave it out; then no IP is recorded and many leads can come from it.
    for n in (3, 4):
        response = post_lead(client, lead_payload(n), headers=bearer(api_key))
        assert response.status_code == 201 and response.get_json()["ip_address"] is None


@pytest.mark.parametrize(
    "header",
    ["Bearer lak_unknown", "Bearer ", "Basic dXNlcjpwYXNz", "lak_nobearer", "Bearer"],
)
def test_bad_authorization_is_401_never_anonymous(
    client: FlaskClient, app: Flask, header: str
) -> None:
    response = post_lead(client, lead_payload(1), headers={"Authorization": header})
    assert response.status_code == 401
    assert response.mimetype == "application/problem+json"
    assert response.headers["WWW-Authenticate"].startswith("Bearer")


def test_revoked_key_is_refused_within_the_cache_period(make_app) -> None:
    app = make_app(LEADAPP_CACHE_SECONDS=0.5)
    client = app.test_client()
    key = create_api_key(app, "acme")
    assert (
        post_lead(
            client, lead_payload(1, ip_address="198.51.100.1"), headers=bearer(key)
        ).status_code
        == 201
    )
    assert app.test_cli_runner().invoke(args=["apikeys", "revoke", "acme"]).exit_code == 0
    deadline = time.monotonic() + 2
    status = None
    while time.monotonic() < deadline:
        status = post_lead(client, lead_payload(2), headers=bearer(key)).status_code
        if status == 401:
            break
        time.sleep(0.05)
    assert status == 401
    listing = app.test_cli_runner().invoke(args=["apikeys", "list"]).output
    assert "acme" in listing and listing.strip().splitlines()[-1].split()[-2:] != ["-"]


def test_integration_limit_is_per_key(make_app, ratelimit_storage: str) -> None:
    app = make_app(
        LEADAPP_RATELIMIT_INTEGRATIONS="3 per minute", RATELIMIT_STORAGE_URI=ratelimit_storage
    )
    client = app.test_client()
    first, second = create_api_key(app, "one"), create_api_key(app, "two")
    statuses = [
        post_lead(client, lead_payload(n), headers=bearer(first)).status_code for n in range(4)
    ]
    assert statuses == [201, 201, 201, 429]
    assert post_lead(client, lead_payload(10), headers=bearer(second)).status_code == 201
    # Anonymous callers from the partner's address have their own budget.
    assert post_lead(client, lead_payload(11)).status_code == 201
