"""Idempotency keys: replays, reuse with another body, malformed keys, window, erasure, races."""

from __future__ import annotations

import json
import uuid
from collections import Counter
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from datetime import timedelta

import pytest
from flask import Flask
from sqlalchemy import func, select, update

from leadapp.extensions import db
from leadapp.models import Lead
from leadapp.services import idempotency
from tests.support.apps import create_api_key
from tests.support.builders import lead_payload
from tests.support.client import bearer, post_lead
from tests.support.servers import ThreadedServer

PARALLEL = 20


def count(app: Flask, model: type) -> int:
    """Rows of one model."""
    with app.app_context():
        return db.session.scalar(select(func.count()).select_from(model))


def remembered_keys(app: Flask) -> int:
    """Leads that hold an idempotency key."""
    with app.app_context():
        return db.session.scalar(select(func.count()).where(Lead.idempotency_key_hash.is_not(None)))


def test_replay_returns_the_original_201(app: Flask) -> None:
    client = app.test_client()
    body = lead_payload()
    first = post_lead(client, body, headers={"Idempotency-Key": "order-42"})
    assert first.status_code == 201
    assert "Idempotency-Replayed" not in first.headers
    again = post_lead(client, body, headers={"Idempotency-Key": "order-42"})
    assert again.status_code == 201
    assert again.headers["Idempotency-Replayed"] == "true"
    assert again.headers["Location"] == first.headers["Location"]
    assert again.get_json() == first.get_json()
    assert count(app, Lead) == 1


def test_replay_body_is_the_original_even_after_resubmissions(app: Flask) -> None:
    client = app.test_client()
    body = lead_payload()
    first = post_lead(client, body, headers={"Idempotency-Key": "k"}).get_json()
    assert post_lead(client, body, ip="203.0.113.99").status_code == 409  # a resubmission
    again = post_lead(client, body, headers={"Idempotency-Key": "k"}).get_json()
    assert again == first


def test_body_is_compared_after_normalization(app: Flask) -> None:
    client = app.test_client()
    body = lead_payload(5, attribution={"utm_source": "news"})
    post_lead(client, body, headers={"Idempotency-Key": "k"})
    same = {
        **body,
        "name": f"  {body['name']} ",
        "email": body["email"].replace("example.com", "EXAMPLE.com"),
        "phone": "+44 (20) 7000-0005",
        "attribution": {"utm_source": " news ", "utm_term": ""},
    }
    again = post_lead(client, same, headers={"Idempotency-Key": "k"})
    assert again.status_code == 201
    assert again.headers.get("Idempotency-Replayed") == "true"


def test_empty_attribution_is_the_same_as_none(app: Flask) -> None:
    client = app.test_client()
    body = lead_payload()
    post_lead(client, body, headers={"Idempotency-Key": "k"})
    again = post_lead(
        client, {**body, "attribution": {"referrer": ""}}, headers={"Idempotency-Key": "k"}
    )
    assert again.headers.get("Idempotency-Replayed") == "true"


def test_same_key_with_another_body_is_422(app: Flask) -> None:
    client = app.test_client()
    post_lead(client, lead_payload(), headers={"Idempotency-Key": "k"})
    response = post_lead(client, lead_payload(), headers={"Idempotency-Key": "k"})
    assert response.status_code == 422
    problem = response.get_json()
    assert problem["type"] == "urn:leadapp:problem:idempotency-key-reused"
    assert problem["errors"]
    assert count(app, Lead) == 1


def test_a_conflict_on_the_key_alone_is_422(app: Flask) -> None:
    # A partner's two different people (no IP named): only the key's unique index refuses.
    client = app.test_client()
    headers = {**bearer(create_api_key(app)), "Idempotency-Key": "k"}
    assert client.post("/leads", json=lead_payload(), headers=headers).status_code == 201
    response = client.post("/leads", json=lead_payload(), headers=headers)
    assert response.status_code == 422, response.get_json()
    assert response.get_json()["type"] == "urn:leadapp:problem:idempotency-key-reused"
    assert count(app, Lead) == 1


def test_different_attribution_is_a_different_body(app: Flask) -> None:
    client = app.test_client()
    body = lead_payload()
    post_lead(client, body, headers={"Idempotency-Key": "k"})
    other = {**body, "attribution": {"utm_campaign": "other"}}
    assert post_lead(client, other, headers={"Idempotency-Key": "k"}).status_code == 422


@pytest.mark.parametrize(
    "key",
    ["", " ", "has space", "tab\tinside", "x" * 256, "caf\u00e9", "\x7f", "new\nline"],
)
def test_malformed_key_is_400(app: Flask, key: str) -> None:
    client = app.test_client()
    environ = {"REMOTE_ADDR": "203.0.113.1", "HTTP_IDEMPOTENCY_KEY": key}
    response = client.post(
        "/leads",
        data=json.dumps(lead_payload()),
        content_type="application/json",
        environ_base=environ,
    )
    assert response.status_code == 400, response.get_json()
    assert response.mimetype == "application/problem+json"
    assert count(app, Lead) == 0


def test_two_key_headers_are_400(app: Flask) -> None:
    response = app.test_client().post(
        "/leads",
        json=lead_payload(),
        headers=[("Idempotency-Key", "a"), ("Idempotency-Key", "b")],
    )
    assert response.status_code == 400


def test_longest_and_oddest_visible_keys_are_fine(app: Flask) -> None:
    client = app.test_client()
    for n, key in enumerate(["x" * 255, "!\"#$%&'()*+,-./:;<=>?@[\\]^_`{|}~"]):
        response = post_lead(
            client, lead_payload(), ip=f"203.0.113.{n + 1}", headers={"Idempotency-Key": key}
        )
        assert response.status_code == 201


def test_keys_are_scoped_to_the_caller(app: Flask) -> None:
    client = app.test_client()
    a = post_lead(client, lead_payload(), ip="203.0.113.1", headers={"Idempotency-Key": "k"})
    b = post_lead(client, lead_payload(), ip="203.0.113.2", headers={"Idempotency-Key": "k"})
    assert (a.status_code, b.status_code) == (201, 201)
    first, second = create_api_key(app, "one"), create_api_key(app, "two")
    for key in (first, second):
        response = client.post(
            "/leads", json=lead_payload(), headers={**bearer(key), "Idempotency-Key": "k"}
        )
        assert response.status_code == 201
        assert "Idempotency-Replayed" not in response.headers
    assert count(app, Lead) == 4


def test_refused_requests_are_not_remembered(app: Flask) -> None:
    client = app.test_client()
    body = lead_payload()
    bad = post_lead(client, {**body, "phone": "nope"}, headers={"Idempotency-Key": "k"})
    assert bad.status_code == 422
    good = post_lead(client, body, headers={"Idempotency-Key": "k"})
    assert good.status_code == 201
    assert "Idempotency-Replayed" not in good.headers


def test_erasure_forgets_the_key(app: Flask) -> None:
    client = app.test_client()
    key = create_api_key(app)
    headers = {**bearer(key), "Idempotency-Key": "k"}
    body = lead_payload()
    first = client.post("/leads", json=body, headers=headers).get_json()
    assert client.delete(f"/leads/{first['id']}", headers=bearer(key)).status_code == 204
    assert remembered_keys(app) == 0
    again = client.post("/leads", json=body, headers=headers)
    assert again.status_code == 201
    assert "Idempotency-Replayed" not in again.headers
    assert again.get_json()["id"] != first["id"]


def test_keys_are_remembered_for_24_hours_only(app: Flask) -> None:
    client = app.test_client()
    headers = {**bearer(create_api_key(app)), "Idempotency-Key": "k"}
    body = lead_payload()
    first = client.post("/leads", json=body, headers=headers).get_json()
    with app.app_context():
        db.session.execute(
            update(Lead).values(created_at=Lead.created_at - timedelta(hours=24, seconds=1))
        )
        db.session.commit()
    # Past the window the same body no longer replays: it is a duplicate now.
    assert client.post("/leads", json=body, headers=headers).status_code == 409
    # And the key may create a new lead: the old lead keeps nothing of it.
    fresh = client.post("/leads", json=lead_payload(), headers=headers)
    assert fresh.status_code == 201
    assert "Idempotency-Replayed" not in fresh.headers
    assert fresh.get_json()["id"] != first["id"]
    assert remembered_keys(app) == 1


def test_the_periodic_sweep_clears_only_expired_keys(app: Flask) -> None:
    client = app.test_client()
    headers = {**bearer(create_api_key(app))}
    old = [
        post_lead(client, lead_payload(n), headers={**headers, "Idempotency-Key": f"old-{n}"})
        for n in range(3)
    ]
    young = post_lead(client, lead_payload(9), headers={**headers, "Idempotency-Key": "young"})
    assert all(r.status_code == 201 for r in [*old, young])
    old_ids = [r.get_json()["id"] for r in old]
    with app.app_context():
        db.session.execute(
            update(Lead)
            .where(Lead.id.in_([uuid.UUID(i) for i in old_ids]))
            .values(created_at=Lead.created_at - timedelta(hours=24, seconds=1))
        )
        db.session.commit()
        # Two batches and a last, short one: every expired key, whatever the batch size.
        assert idempotency.sweep_expired(batch_size=2) == 3
        assert idempotency.sweep_expired(batch_size=2) == 0
    assert remembered_keys(app) == 1
    # The leads stay; only the key's MACs went, so the young key still replays.
    assert count(app, Lead) == 4
    again = post_lead(client, lead_payload(9), headers={**headers, "Idempotency-Key": "young"})
    assert again.status_code == 201 and again.headers["Idempotency-Replayed"] == "true"


def test_the_record_holds_no_plaintext(app: Flask) -> None:
    client = app.test_client()
    key = "secret-order-ada@example.com"
    post_lead(client, lead_payload(email="ada@example.com"), headers={"Idempotency-Key": key})
    with app.app_context():
        row = db.session.execute(select(Lead)).scalar_one()
    assert len(row.idempotency_key_hash) == 32 and len(row.idempotency_body_hash) == 32
    assert key.encode() not in row.idempotency_key_hash + row.idempotency_body_hash


@pytest.fixture
def race_app(make_app: Callable[..., Flask]) -> Flask:
    """An app whose anonymous limit does not interfere with the race."""
    return make_app(LEADAPP_RATELIMIT_LEADS="1000 per minute")


@pytest.mark.parametrize("caller", ["api_key", "anonymous"])
def test_concurrent_requests_with_one_key_create_one_lead(race_app: Flask, caller: str) -> None:
    headers = {"Idempotency-Key": "retry-storm"}
    if caller == "api_key":
        headers.update(bearer(create_api_key(race_app)))
    body = lead_payload()
    with ThreadedServer(race_app, threads=8) as server, ThreadPoolExecutor(PARALLEL) as pool:
        results = list(
            pool.map(
                lambda _n: server.request("POST", "/leads", body, headers=headers),
                range(PARALLEL),
            )
        )
    statuses = Counter(answer.status for answer in results)
    assert statuses == Counter({201: PARALLEL}), [a.body for a in results if a.status != 201]
    assert len({answer.body["id"] for answer in results}) == 1
    assert len({answer.headers["location"] for answer in results}) == 1
    replayed = [answer.headers.get("idempotency-replayed") for answer in results]
    assert replayed.count(None) == 1 and replayed.count("true") == PARALLEL - 1
    assert count(race_app, Lead) == 1
    assert remembered_keys(race_app) == 1
