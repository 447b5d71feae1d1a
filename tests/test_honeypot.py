"""The honeypot: an anonymous `website` gets a success-shaped answer and stores nothing."""

from __future__ import annotations

import uuid
from collections.abc import Callable

import pytest
from flask import Flask
from sqlalchemy import func, select

from leadapp.extensions import db
from leadapp.models import Lead, SpamCount
from tests.support.apps import create_api_key
from tests.support.builders import lead_payload
from tests.support.client import bearer, post_lead


def counts(app: Flask) -> tuple[int, int]:
    """(stored leads, today's honeypot hits)."""
    with app.app_context():
        leads = db.session.scalar(select(func.count()).select_from(Lead))
        hits = db.session.scalar(
            select(func.coalesce(func.sum(SpamCount.count), 0)).where(SpamCount.kind == "honeypot")
        )
    return leads, hits


def test_hit_looks_like_a_success_and_stores_nothing(app: Flask) -> None:
    client = app.test_client()
    real = post_lead(client, lead_payload(), ip="203.0.113.1")
    hit = post_lead(client, lead_payload(website="http://spam.example"), ip="203.0.113.2")
    assert hit.status_code == 201
    body = hit.get_json()
    assert hit.headers["Location"] == f"/leads/{body['id']}"
    uuid.UUID(body["id"])
    assert body.keys() == real.get_json().keys()
    assert set(hit.headers.keys()) == set(real.headers.keys())
    assert body["ip_address"] == "203.0.113.2"
    assert "website" not in body
    assert counts(app) == (1, 1)
    key = create_api_key(app)
    assert client.get(f"/leads/{body['id']}", headers=bearer(key)).status_code == 404


@pytest.mark.parametrize(
    "body",
    [
        {"website": "x"},
        {"website": "x", "name": 5, "email": "nope", "phone": [], "unknown": 1},
        {"website": "x", "ip_address": "1.2.3.4"},
        {"website": " ", "attribution": {"page_url": "javascript:alert(1)"}},
        {**lead_payload(), "website": "x", "consent": "yes"},
    ],
)
def test_hit_with_invalid_fields_still_gets_the_success(app: Flask, body: dict) -> None:
    response = post_lead(app.test_client(), body)
    assert response.status_code == 201, response.get_json()
    assert counts(app) == (0, 1)


def test_hit_needs_no_challenge_and_no_consent(make_app: Callable[..., Flask]) -> None:
    app = make_app(LEADAPP_CHALLENGE=True, LEADAPP_CONSENT_TEXT="I agree.")
    response = post_lead(app.test_client(), lead_payload(website="x"))
    assert response.status_code == 201
    assert counts(app) == (0, 1)


def test_hits_count_against_the_rate_limit(make_app: Callable[..., Flask]) -> None:
    app = make_app(LEADAPP_RATELIMIT_LEADS="2 per minute")
    client = app.test_client()
    assert post_lead(client, lead_payload(website="x")).status_code == 201
    assert post_lead(client, lead_payload(website="x")).status_code == 201
    limited = post_lead(client, lead_payload())
    assert limited.status_code == 429
    assert "Retry-After" in limited.headers
    assert counts(app) == (0, 2)


def test_empty_website_is_ignored(app: Flask) -> None:
    response = post_lead(app.test_client(), lead_payload(website=""))
    assert response.status_code == 201
    assert counts(app) == (1, 0)


def test_api_key_callers_website_is_ignored(app: Flask) -> None:
    key = create_api_key(app)
    response = app.test_client().post(
        "/leads", json=lead_payload(website="their form's field"), headers=bearer(key)
    )
    assert response.status_code == 201
    assert counts(app) == (1, 0)


@pytest.mark.parametrize("website", [5, None, ["x"], {"a": "b"}, True])
def test_website_of_another_type_is_422(app: Flask, website: object) -> None:
    response = post_lead(app.test_client(), lead_payload(website=website))
    assert response.status_code == 422
    assert list(response.get_json()["errors"]) == ["website"]
    assert counts(app) == (0, 0)


def test_hit_with_an_idempotency_key_remembers_nothing(app: Flask) -> None:
    client = app.test_client()
    headers = {"Idempotency-Key": "k-1"}
    body = lead_payload()
    assert post_lead(client, {**body, "website": "x"}, headers=headers).status_code == 201
    real = post_lead(client, body, headers=headers)
    assert real.status_code == 201
    assert "Idempotency-Replayed" not in real.headers
    with app.app_context():
        assert (
            db.session.scalar(select(func.count()).where(Lead.idempotency_key_hash.is_not(None)))
            == 1
        )
