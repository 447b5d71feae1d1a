"""Proof of work: GET /challenge, and every way a solution can be refused (each counted as spam)."""

from __future__ import annotations

import base64
import json
import time
from collections.abc import Callable
from datetime import UTC, datetime, timedelta

import altcha
import pytest
from flask import Flask
from sqlalchemy import func, select

from leadapp.extensions import db
from leadapp.models import Lead, SpamCount
from leadapp.services import challenge as challenge_service
from tests.support.apps import create_api_key
from tests.support.builders import lead_payload
from tests.support.challenges import encode_solution, solve, solved
from tests.support.client import bearer, post_lead

OPEN_LIMIT = "1000 per minute"


@pytest.fixture
def pow_app(make_app: Callable[..., Flask]) -> Flask:
    """An app with the challenge on and a rate limit that stays out of the way."""
    return make_app(LEADAPP_CHALLENGE=True, LEADAPP_RATELIMIT_LEADS=OPEN_LIMIT)


def spam_count(app: Flask, kind: str = "challenge") -> int:
    """Today's spam count of a kind."""
    with app.app_context():
        return db.session.scalar(
            select(func.coalesce(func.sum(SpamCount.count), 0)).where(SpamCount.kind == kind)
        )


def lead_count(app: Flask) -> int:
    """Stored leads."""
    with app.app_context():
        return db.session.scalar(select(func.count()).select_from(Lead))


def test_challenge_shape_and_cache_policy(make_app: Callable[..., Flask]) -> None:
    # Answered whatever the setting, so a client may always solve one.
    response = make_app().test_client().get("/challenge")
    assert response.status_code == 200
    assert response.headers["Cache-Control"] == "no-store"
    body = response.get_json()
    assert set(body) == {"algorithm", "challenge", "maxnumber", "salt", "signature"}
    assert body["algorithm"] == "SHA-256"
    assert 0 < body["maxnumber"] <= 1_000_000
    number = solve(body)
    import hashlib

    assert hashlib.sha256((body["salt"] + str(number)).encode()).hexdigest() == body["challenge"]


def test_each_challenge_is_fresh(pow_app: Flask) -> None:
    client = pow_app.test_client()
    first, second = client.get("/challenge").get_json(), client.get("/challenge").get_json()
    assert first["salt"] != second["salt"]


def test_solved_challenge_creates_the_lead_and_is_never_stored(pow_app: Flask) -> None:
    client = pow_app.test_client()
    started = time.perf_counter()
    solution = solved(client)
    print(f"solved a challenge in Python in {time.perf_counter() - started:.3f} s")
    response = post_lead(client, lead_payload(challenge=solution))
    assert response.status_code == 201, response.get_json()
    assert "challenge" not in response.get_json()
    assert spam_count(pow_app) == 0


def test_a_solution_is_accepted_once_even_by_another_process(
    make_app: Callable[..., Flask],
) -> None:
    first = make_app(LEADAPP_CHALLENGE=True, LEADAPP_RATELIMIT_LEADS=OPEN_LIMIT)
    # A second app on the same database: its own engine, pool and memory, like a process.
    second = make_app(LEADAPP_CHALLENGE=True, LEADAPP_RATELIMIT_LEADS=OPEN_LIMIT)
    solution = solved(first.test_client())
    ok = post_lead(first.test_client(), lead_payload(challenge=solution), ip="203.0.113.1")
    assert ok.status_code == 201
    for app, ip in ((first, "203.0.113.2"), (second, "203.0.113.3")):
        again = post_lead(app.test_client(), lead_payload(challenge=solution), ip=ip)
        assert again.status_code == 422
        assert "already used" in again.get_json()["errors"]["challenge"][0]
    assert lead_count(first) == 1
    assert spam_count(first) == 2


def _fresh(app: Flask) -> dict:
    """One challenge from the app."""
    return app.test_client().get("/challenge").get_json()


def _forged(app: Flask, **options) -> dict:
    """A challenge made with altcha directly (the app's key unless hmac_key is given)."""
    with app.app_context():
        key = options.pop("hmac_key", None) or challenge_service._hmac_key()
    made = altcha.create_challenge_v1(
        algorithm="SHA-256",
        max_number=options.pop("max_number", 1000),
        hmac_key=key,
        expires=options.pop("expires", datetime.now(UTC) + timedelta(minutes=10)),
    )
    return {
        "algorithm": made.algorithm,
        "challenge": made.challenge,
        "maxnumber": made.max_number,
        "salt": made.salt,
        "signature": made.signature,
    }


def _b64(value: object) -> str:
    """base64 of JSON."""
    return base64.b64encode(json.dumps(value).encode()).decode()


def hostile_solutions(app: Flask) -> dict[str, str]:
    """Every kind of bad solution, by name."""
    good = _fresh(app)
    number = solve(good)
    other_key = _forged(app, hmac_key=b"not the app's key at all, 32 byt")
    expired = _forged(app, expires=datetime.now(UTC) - timedelta(seconds=1))
    longer = dict(good, salt=good["salt"].replace("expires=", "expires=9"))
    return {
        "wrong number": encode_solution(good, (number + 1) % (good["maxnumber"] + 1)),
        "forged with another key": encode_solution(other_key, solve(other_key)),
        "signature of another challenge": encode_solution(
            good, number, signature=_fresh(app)["signature"]
        ),
        "expiry extended": encode_solution(longer, number),
        "expired": encode_solution(expired, solve(expired)),
        "not base64": "!!!not base64!!!",
        "base64 of not JSON": base64.b64encode(b"\xff\xfe{").decode(),
        "a JSON list": _b64(["algorithm", "challenge", "number", "salt", "signature"]),
        "a JSON string": _b64("solved"),
        "missing member": _b64({k: v for k, v in good.items() if k != "signature"}),
        "extra member": encode_solution(good, number, admin=True),
        "number as string": encode_solution(good, str(number)),
        "number as bool": encode_solution(good, True),
        "number as float": encode_solution(good, float(number)),
        "negative number": encode_solution(good, -1),
        "number beyond maxnumber": encode_solution(good, 10**7),
        "huge number": base64.b64encode(
            json.dumps({**good, "number": 0})
            .replace('"number": 0', '"number": ' + "9" * 5000)
            .encode()
        ).decode(),
        "weak algorithm": encode_solution(good, number, algorithm="SHA-1"),
        "salt not a string": encode_solution(good, number, salt=123),
        "empty string": "",
    }


def test_every_hostile_solution_is_422_and_counted_as_spam(pow_app: Flask) -> None:
    solutions = hostile_solutions(pow_app)
    client = pow_app.test_client()
    for n, (name, solution) in enumerate(solutions.items()):
        response = post_lead(client, lead_payload(challenge=solution), ip=f"203.0.113.{n + 1}")
        assert response.status_code == 422, (name, response.get_json())
        assert list(response.get_json()["errors"]) == ["challenge"], name
    assert lead_count(pow_app) == 0
    assert spam_count(pow_app) == len(solutions)


@pytest.mark.parametrize("value", [None, 5, {"number": 1}, ["x"], True])
def test_challenge_of_the_wrong_type_is_422(pow_app: Flask, value: object) -> None:
    response = post_lead(pow_app.test_client(), lead_payload(challenge=value))
    assert response.status_code == 422
    assert list(response.get_json()["errors"]) == ["challenge"]
    assert spam_count(pow_app) == 1


def test_missing_solution_is_422(pow_app: Flask) -> None:
    response = post_lead(pow_app.test_client(), lead_payload())
    assert response.status_code == 422
    assert "GET /challenge" in response.get_json()["errors"]["challenge"][0]
    assert spam_count(pow_app) == 1


def test_field_errors_and_challenge_errors_are_reported_together(pow_app: Flask) -> None:
    response = post_lead(pow_app.test_client(), lead_payload(phone="nope"))
    assert set(response.get_json()["errors"]) == {"phone", "challenge"}


def test_a_valid_solution_is_not_used_up_by_a_request_with_field_errors(pow_app: Flask) -> None:
    client = pow_app.test_client()
    solution = solved(client)
    assert post_lead(client, lead_payload(phone="nope", challenge=solution)).status_code == 422
    assert post_lead(client, lead_payload(challenge=solution)).status_code == 201


def test_api_key_callers_need_no_challenge(pow_app: Flask) -> None:
    key = create_api_key(pow_app)
    client = pow_app.test_client()
    response = client.post("/leads", json=lead_payload(), headers=bearer(key))
    assert response.status_code == 201
    garbage = client.post("/leads", json=lead_payload(challenge="junk"), headers=bearer(key))
    assert garbage.status_code == 201
    assert spam_count(pow_app) == 0


def test_with_the_challenge_off_the_member_is_ignored(app: Flask) -> None:
    response = post_lead(app.test_client(), lead_payload(challenge="anything at all"))
    assert response.status_code == 201
    assert app.test_client().get("/form-settings").get_json()["challenge"] is False


def test_form_settings_say_the_challenge_is_on(pow_app: Flask) -> None:
    assert pow_app.test_client().get("/form-settings").get_json()["challenge"] is True


def test_idempotent_replay_needs_no_fresh_challenge(pow_app: Flask) -> None:
    client = pow_app.test_client()
    body = lead_payload(challenge=solved(client))
    headers = {"Idempotency-Key": "form-submit-1"}
    first = post_lead(client, body, headers=headers)
    assert first.status_code == 201
    replay = post_lead(client, {**body, "challenge": "stale"}, headers=headers)
    assert replay.status_code == 201
    assert replay.headers["Idempotency-Replayed"] == "true"
    assert replay.get_json() == first.get_json()


def test_verifying_a_solution_is_cheap(pow_app: Flask) -> None:
    client = pow_app.test_client()
    solutions = [solved(client) for _ in range(30)]
    with pow_app.app_context():
        started = time.perf_counter()
        verified = [challenge_service.verify(solution) for solution in solutions]
        verify_each = (time.perf_counter() - started) / len(solutions)
        started = time.perf_counter()
        for solution in verified:
            challenge_service.use(solution)
        use_each = (time.perf_counter() - started) / len(verified)
    print(f"\nverify: {verify_each * 1e6:.0f} µs each; marking used: {use_each * 1e3:.2f} ms each")
    assert verify_each < 0.005
