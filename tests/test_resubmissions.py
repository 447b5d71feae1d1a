"""Resubmissions: every 409 by email or phone is counted, exactly; and conceal mode."""

from __future__ import annotations

from collections import Counter
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from typing import Any

import pytest
from flask import Flask
from flask.testing import FlaskClient
from sqlalchemy import func, select
from werkzeug.test import TestResponse

from leadapp.extensions import db
from leadapp.models import Lead
from tests.support.apps import create_api_key
from tests.support.builders import lead_payload, phone_for
from tests.support.client import bearer, post_lead
from tests.support.servers import ThreadedServer

DUPLICATES = 15


def stored(app: Flask) -> dict[str, tuple[int, object]]:
    """Each stored lead's email -> (resubmissions, last_resubmitted_at)."""
    with app.app_context():
        return {
            lead.email: (lead.resubmissions, lead.last_resubmitted_at)
            for lead in db.session.scalars(select(Lead))
        }


def post_status(server: ThreadedServer, item: tuple[dict, str]) -> int:
    """POST one (body, source ip) to a live server; its status."""
    return server.request("POST", "/leads", item[0], source_ip=item[1]).status


def resubmit(client: FlaskClient, field: str) -> tuple[dict[str, Any], TestResponse, TestResponse]:
    """Post lead 1, then lead 2 with its `field` from another address: lead 1, both answers."""
    original = lead_payload(1)
    first = post_lead(client, original, ip="203.0.113.1")
    second = post_lead(client, lead_payload(2, **{field: original[field]}), ip="203.0.113.2")
    return original, first, second


def lead_count(app: Flask) -> int:
    """Stored leads."""
    with app.app_context():
        return db.session.scalar(select(func.count()).select_from(Lead))


def test_a_409_by_email_counts_and_stamps(app: Flask) -> None:
    client = app.test_client()
    original, _, refused = resubmit(client, "email")
    assert refused.status_code == 409
    count, at = stored(app)[original["email"]]
    assert count == 1 and at is not None
    assert lead_count(app) == 1  # nothing of the refused request is stored
    key = create_api_key(app)
    lead = client.get("/leads", headers=bearer(key)).get_json()["items"][0]
    assert lead["resubmissions"] == 1
    assert lead["last_resubmitted_at"].endswith("Z")
    assert lead["phone"] != phone_for(2)


def test_every_lead_it_conflicts_with_is_counted(app: Flask) -> None:
    client = app.test_client()
    a, b = lead_payload(1), lead_payload(2)
    post_lead(client, a, ip="203.0.113.1")
    post_lead(client, b, ip="203.0.113.2")
    response = post_lead(
        client, lead_payload(3, email=a["email"], phone=b["phone"]), ip="203.0.113.3"
    )
    assert set(response.get_json()["errors"]) == {"email", "phone"}
    counts = stored(app)
    assert counts[a["email"]][0] == 1 and counts[b["email"]][0] == 1


def test_an_ip_only_conflict_changes_nothing(app: Flask) -> None:
    client = app.test_client()
    post_lead(client, lead_payload(1), ip="203.0.113.1")
    response = post_lead(client, lead_payload(2), ip="203.0.113.1")
    assert list(response.get_json()["errors"]) == ["ip_address"]
    assert list(stored(app).values()) == [(0, None)]


def test_validation_failures_are_not_resubmissions(app: Flask) -> None:
    client = app.test_client()
    original = lead_payload(1)
    post_lead(client, original, ip="203.0.113.1")
    post_lead(client, {**original, "phone": "nope"}, ip="203.0.113.2")
    assert list(stored(app).values()) == [(0, None)]


@pytest.fixture
def race_app(make_app: Callable[..., Flask]) -> Flask:
    """An app whose anonymous limit does not interfere with the race."""
    return make_app(LEADAPP_RATELIMIT_LEADS="1000 per minute")


def test_concurrent_duplicates_are_counted_exactly(race_app: Flask) -> None:
    original = lead_payload(1)
    requests = [
        (lead_payload(100 + n, email=original["email"].upper()), f"127.0.3.{n + 2}")
        for n in range(DUPLICATES)
    ]
    with ThreadedServer(race_app, threads=8) as server:
        assert server.request("POST", "/leads", original, source_ip="127.0.3.1").status == 201
        with ThreadPoolExecutor(max_workers=DUPLICATES) as pool:
            statuses = Counter(
                pool.map(
                    lambda item: (
                        server.request("POST", "/leads", item[0], source_ip=item[1]).status
                    ),
                    requests,
                )
            )
    assert statuses == Counter({409: DUPLICATES})
    assert stored(race_app)[original["email"]][0] == DUPLICATES


def test_a_race_for_a_new_lead_counts_every_loser(race_app: Flask) -> None:
    body = lead_payload(7)
    requests = [({**body, "phone": phone_for(200 + n)}, f"127.0.4.{n + 2}") for n in range(16)]
    with ThreadedServer(race_app, threads=8) as server, ThreadPoolExecutor(max_workers=16) as pool:
        statuses = Counter(
            pool.map(
                lambda item: post_status(server, item),
                requests,
            )
        )
    assert statuses == Counter({201: 1, 409: 15})
    assert stored(race_app)[body["email"]][0] == 15


@pytest.fixture
def conceal_app(make_app: Callable[..., Flask]) -> Flask:
    """An app that hides from anonymous callers whether an email or phone is known."""
    return make_app(LEADAPP_DUPLICATES_ANONYMOUS="conceal")


def test_conceal_answers_a_known_email_like_a_success(conceal_app: Flask) -> None:
    client = conceal_app.test_client()
    original, real, probe = resubmit(client, "email")
    assert probe.status_code == 201
    body = probe.get_json()
    assert probe.headers["Location"] == f"/leads/{body['id']}"
    assert body["id"] != real.get_json()["id"]
    assert body["email"] == original["email"]
    assert body.keys() == real.get_json().keys()
    assert set(probe.headers.keys()) == set(real.headers.keys())
    assert lead_count(conceal_app) == 1
    assert stored(conceal_app)[original["email"]][0] == 1
    key = create_api_key(conceal_app)
    assert client.get(f"/leads/{body['id']}", headers=bearer(key)).status_code == 404


def test_conceal_by_phone_too(conceal_app: Flask) -> None:
    client = conceal_app.test_client()
    _, _, probe = resubmit(client, "phone")
    assert probe.status_code == 201
    assert lead_count(conceal_app) == 1


def test_conceal_keeps_409_for_the_callers_own_ip(conceal_app: Flask) -> None:
    client = conceal_app.test_client()
    other = lead_payload(1)
    post_lead(client, other, ip="203.0.113.9")
    post_lead(client, lead_payload(2), ip="203.0.113.1")
    # After a lead of its own, the caller gets the same 409 whether the email is known or not.
    unknown = post_lead(client, lead_payload(3), ip="203.0.113.1")
    known = post_lead(client, lead_payload(4, email=other["email"]), ip="203.0.113.1")
    assert unknown.status_code == known.status_code == 409
    assert unknown.get_json() == known.get_json()
    assert list(known.get_json()["errors"]) == ["ip_address"]
    assert stored(conceal_app)[other["email"]][0] == 1  # still counted


def test_conceal_does_not_apply_to_api_key_callers(conceal_app: Flask) -> None:
    client = conceal_app.test_client()
    original = lead_payload(1)
    post_lead(client, original, ip="203.0.113.1")
    key = create_api_key(conceal_app)
    response = client.post(
        "/leads", json=lead_payload(2, email=original["email"]), headers=bearer(key)
    )
    assert response.status_code == 409
    assert list(response.get_json()["errors"]) == ["email"]


def test_reveal_is_the_default(app: Flask) -> None:
    _, _, probe = resubmit(app.test_client(), "email")
    assert probe.status_code == 409
    assert list(probe.get_json()["errors"]) == ["email"]


def test_conceal_decoy_carries_consent_like_a_real_lead(make_app: Callable[..., Flask]) -> None:
    app = make_app(LEADAPP_DUPLICATES_ANONYMOUS="conceal", LEADAPP_CONSENT_TEXT="I agree.")
    client = app.test_client()
    original = lead_payload(1, consent=True, attribution={"utm_source": "news"})
    real = post_lead(client, original, ip="203.0.113.1").get_json()
    decoy = post_lead(
        client,
        {
            **lead_payload(2, email=original["email"]),
            "consent": True,
            "attribution": {"utm_source": "news"},
        },
        ip="203.0.113.2",
    ).get_json()
    assert decoy["consent"] == {"given_at": decoy["created_at"], "text": "I agree."}
    assert decoy["attribution"] == real["attribution"]
    assert decoy["ip_address"] == "203.0.113.2"
    assert lead_count(app) == 1
