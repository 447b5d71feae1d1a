"""Security headers on every response, CORS for the intake endpoints from allowed origins only."""

from __future__ import annotations

import pytest
from flask import Flask
from sqlalchemy import text

from leadapp.extensions import db
from tests.support.apps import build_app, dispose_app
from tests.support.builders import lead_payload

ALLOWED = "https://landing.example"


@pytest.mark.parametrize("path", ["/healthz", "/nowhere", "/leads"])
def test_security_headers_everywhere(client, path: str) -> None:
    response = client.get(path)
    csp = response.headers["Content-Security-Policy"]
    assert "frame-ancestors 'none'" in csp and "script-src 'self'" in csp
    assert "unsafe-inline" not in csp
    assert response.headers["X-Content-Type-Options"] == "nosniff"
    assert response.headers["Referrer-Policy"] == "no-referrer"
    assert response.headers["Cache-Control"] == "no-store"


@pytest.fixture
def cors_app(make_app) -> Flask:
    """An app that lets one landing-page origin post leads."""
    return make_app(LEADAPP_CORS_ORIGINS=[ALLOWED, "https://other.example"])


def test_preflight_from_an_allowed_origin(cors_app: Flask) -> None:
    response = cors_app.test_client().options(
        "/leads",
        headers={
            "Origin": ALLOWED,
            "Access-Control-Request-Method": "POST",
            "Access-Control-Request-Headers": "content-type",
        },
    )
    assert response.status_code in (200, 204)
    assert response.headers["Access-Control-Allow-Origin"] == ALLOWED
    assert "POST" in response.headers["Access-Control-Allow-Methods"]
    assert "Content-Type" in response.headers["Access-Control-Allow-Headers"]
    assert "Origin" in response.headers["Vary"]


def test_post_from_an_allowed_origin_exposes_location(cors_app: Flask) -> None:
    response = cors_app.test_client().post(
        "/leads", json=lead_payload(1), headers={"Origin": ALLOWED}
    )
    assert response.status_code == 201
    assert response.headers["Access-Control-Allow-Origin"] == ALLOWED
    assert "Location" in response.headers["Access-Control-Expose-Headers"]


@pytest.mark.parametrize("origin", ["https://evil.example", "null", "https://landing.example.evil"])
def test_other_origins_get_no_cors_headers(cors_app: Flask, origin: str) -> None:
    client = cors_app.test_client()
    preflight = client.options(
        "/leads", headers={"Origin": origin, "Access-Control-Request-Method": "POST"}
    )
    assert "Access-Control-Allow-Origin" not in preflight.headers
    post = client.post("/leads", json=lead_payload(2), headers={"Origin": origin})
    assert "Access-Control-Allow-Origin" not in post.headers


def test_no_cors_without_configuration(client) -> None:
    response = client.options(
        "/leads", headers={"Origin": ALLOWED, "Access-Control-Request-Method": "POST"}
    )
    assert "Access-Control-Allow-Origin" not in response.headers


def test_admin_endpoints_are_never_cors_enabled(cors_app: Flask) -> None:
    response = cors_app.test_client().get(
        "/leads/00000000-0000-0000-0000-000000000000", headers={"Origin": ALLOWED}
    )
    assert "Access-Control-Allow-Origin" not in response.headers


def test_waitress_bounds_the_body_too(live_server) -> None:
    """Bodies past the app's 16 KiB are the app's 413 problem; waitress caps buffering."""
    big = lead_payload(1, name="x" * (20 * 1024))
    answer = live_server.request("POST", "/leads", big)
    assert answer.status == 413
    assert answer.headers["content-type"] == "application/problem+json"
    assert answer.body["status"] == 413


def test_a_cross_origin_form_may_send_an_idempotency_key_and_see_a_replay(cors_app: Flask) -> None:
    client = cors_app.test_client()
    preflight = client.options(
        "/leads",
        headers={
            "Origin": ALLOWED,
            "Access-Control-Request-Method": "POST",
            "Access-Control-Request-Headers": "content-type, idempotency-key",
        },
    )
    assert "Idempotency-Key" in preflight.headers["Access-Control-Allow-Headers"]
    headers = {"Origin": ALLOWED, "Idempotency-Key": "form-submit-1"}
    first = client.post("/leads", json=lead_payload(3), headers=headers)
    again = client.post("/leads", json=lead_payload(3), headers=headers)
    assert (first.status_code, again.status_code) == (201, 201)
    assert again.headers["Idempotency-Replayed"] == "true"
    assert "Idempotency-Replayed" in again.headers["Access-Control-Expose-Headers"]


@pytest.mark.parametrize("path", ["/challenge", "/form-settings"])
def test_a_cross_origin_form_may_read_the_bot_defence_settings(cors_app: Flask, path: str) -> None:
    response = cors_app.test_client().get(path, headers={"Origin": ALLOWED})
    assert response.status_code == 200
    assert response.headers["Access-Control-Allow-Origin"] == ALLOWED


def test_the_admin_api_is_not_readable_cross_origin(cors_app: Flask) -> None:
    response = cors_app.test_client().get("/leads", headers={"Origin": ALLOWED})
    assert "Access-Control-Allow-Origin" not in response.headers


def test_cors_on_a_database_outage_is_site_wide_only_and_never_500(tmp_path) -> None:
    """When the forms cannot be read, the way out allows LEADAPP_CORS_ORIGINS only."""
    app = build_app(f"sqlite:///{tmp_path / 'outage.sqlite3'}", LEADAPP_CORS_ORIGINS=[ALLOWED])
    try:
        with app.app_context():
            db.session.execute(text("DROP TABLE forms"))
            db.session.commit()
        client = app.test_client()
        for path, method in [("/f/shop", "POST"), ("/leads", "POST"), ("/challenge", "GET")]:
            for origin, expected in [(ALLOWED, ALLOWED), ("https://shop.example", None)]:
                preflight = client.options(
                    path, headers={"Origin": origin, "Access-Control-Request-Method": method}
                )
                assert preflight.status_code == 200, (path, origin)
                assert preflight.headers.get("Access-Control-Allow-Origin") == expected
        answer = client.get("/challenge", headers={"Origin": ALLOWED})
        assert answer.status_code == 200
        assert answer.headers["Access-Control-Allow-Origin"] == ALLOWED
        settings = client.get("/f/shop/settings", headers={"Origin": ALLOWED})
        assert settings.status_code == 503
        assert settings.headers["Access-Control-Allow-Origin"] == ALLOWED
    finally:
        dispose_app(app)
