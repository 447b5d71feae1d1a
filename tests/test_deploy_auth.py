"""Authentication only where it means something, and a limit on failed authentications.

An `Authorization` header is read only by views that take a key; failed authentications
are counted per client IP on the rate-limit storage (so across processes with Redis).
"""

from __future__ import annotations

import time
from pathlib import Path

import pytest
from flask import Flask

from tests.support.apps import create_api_key
from tests.support.builders import lead_payload
from tests.support.client import bearer
from tests.support.deployment import served
from tests.support.processes import flask_command
from tests.support.services import REDIS_URL, redis_problem, require_service

KEYLESS_PATHS = [
    "/healthz",
    "/readyz",
    "/openapi.json",
    "/",
    "/admin",
    "/assets/form.js",
    "/assets/style.css",
]
BAD_HEADERS = [
    {"Authorization": "Bearer lak_not-a-real-key"},
    {"Authorization": "Basic dXNlcjpwYXNz"},
    {"Authorization": ""},
]


@pytest.mark.parametrize("path", KEYLESS_PATHS)
@pytest.mark.parametrize("headers", BAD_HEADERS)
def test_authorization_is_ignored_where_no_key_is_needed(
    app: Flask, path: str, headers: dict[str, str]
) -> None:
    response = app.test_client().get(path, headers=headers)
    assert response.status_code == 200, response.get_data(as_text=True)
    assert "WWW-Authenticate" not in response.headers


def test_an_unknown_path_with_a_bad_key_is_404_not_401(app: Flask) -> None:
    response = app.test_client().get("/nowhere", headers=BAD_HEADERS[0])
    assert response.status_code == 404


SOME_LEAD = "/leads/00000000-0000-0000-0000-000000000000"


@pytest.mark.parametrize(
    ("method", "path"),
    [("POST", "/leads"), ("GET", "/leads"), ("GET", SOME_LEAD), ("DELETE", SOME_LEAD)],
)
def test_views_that_take_a_key_still_refuse_a_bad_one(app: Flask, method: str, path: str) -> None:
    response = app.test_client().open(
        path, method=method, json=lead_payload(1), headers=BAD_HEADERS[0]
    )
    assert response.status_code == 401
    assert response.headers["WWW-Authenticate"].startswith("Bearer")


def failing(app: Flask, ip: str):
    """A request with an unknown key from `ip`."""
    return app.test_client().get("/leads", headers=BAD_HEADERS[0], environ_base={"REMOTE_ADDR": ip})


def test_eleventh_authentication_from_an_address_is_429_even_with_a_good_key(
    make_app, ratelimit_storage: str
) -> None:
    app = make_app(RATELIMIT_STORAGE_URI=ratelimit_storage)
    key = create_api_key(app)
    client = app.test_client()
    statuses = [failing(app, "203.0.113.60").status_code for _ in range(10)]
    assert statuses == [401] * 10
    for headers in (BAD_HEADERS[0], bearer(key), BAD_HEADERS[1]):
        locked = client.get("/leads", headers=headers, environ_base={"REMOTE_ADDR": "203.0.113.60"})
        assert locked.status_code == 429, headers
        assert locked.mimetype == "application/problem+json"
        assert 0 < int(locked.headers["Retry-After"]) <= 60
    # Its anonymous requests are not affected, nor is another address's key.
    anonymous = client.post(
        "/leads", json=lead_payload(1), environ_base={"REMOTE_ADDR": "203.0.113.60"}
    )
    assert anonymous.status_code == 201
    other = client.get("/leads", headers=bearer(key), environ_base={"REMOTE_ADDR": "203.0.113.61"})
    assert other.status_code == 200
    # Nor are keyless endpoints, with or without the header.
    health = client.get(
        "/healthz", headers=BAD_HEADERS[0], environ_base={"REMOTE_ADDR": "203.0.113.60"}
    )
    assert health.status_code == 200


def test_the_lockout_ends_with_its_window(make_app) -> None:
    app = make_app(LEADAPP_RATELIMIT_AUTH_FAILURES="2 per 2 seconds")
    key = create_api_key(app)
    client = app.test_client()
    assert [failing(app, "203.0.113.70").status_code for _ in range(3)] == [401, 401, 429]
    time.sleep(2.2)
    response = client.get(
        "/leads", headers=bearer(key), environ_base={"REMOTE_ADDR": "203.0.113.70"}
    )
    assert response.status_code == 200


def test_successful_authentications_are_not_counted(make_app) -> None:
    app = make_app(LEADAPP_RATELIMIT_AUTH_FAILURES="2 per minute")
    key = create_api_key(app)
    client = app.test_client()
    for _ in range(5):
        ok = client.get("/leads", headers=bearer(key), environ_base={"REMOTE_ADDR": "203.0.113.80"})
        assert ok.status_code == 200


# --- the real server ---------------------------------------------------------------------


@pytest.mark.slow
@pytest.mark.redis
def test_failure_limit_is_shared_by_two_processes_on_redis(
    tmp_path: Path, test_keys: dict[str, str]
) -> None:
    """Two `python -m leadapp.server` processes, one Redis: 10 failures in all, then 429."""
    require_service("Redis", redis_problem())
    import redis

    redis.Redis.from_url(REDIS_URL).flushdb()
    with served(tmp_path, test_keys, count=2, LEADAPP_RATELIMIT_STORAGE_URI=REDIS_URL) as servers:
        key = flask_command(servers[0].env, "apikeys", "create", "partner").stdout.split()[-1]
        visitor = "127.0.0.90"
        unknown = BAD_HEADERS[0]
        # Alternate between the processes: each sees only 5 of the 10 failures.
        statuses = [
            servers[n % 2].request("GET", "/leads", headers=unknown, source_ip=visitor).status
            for n in range(10)
        ]
        assert statuses == [401] * 10
        locked = [
            server.request("GET", "/leads", headers=headers, source_ip=visitor)
            for server in servers
            for headers in (unknown, bearer(key))
        ]
        assert [answer.status for answer in locked] == [429, 429, 429, 429]
        assert all(answer.is_problem for answer in locked)
        retry_after = [answer.retry_after() for answer in locked]
        assert all(value is not None and 0 < value <= 60 for value in retry_after)
        # Anonymous intake from the same address, and keys from elsewhere, go on.
        anonymous = servers[1].request("POST", "/leads", lead_payload(1), source_ip=visitor)
        assert anonymous.status == 201
        health = servers[0].request("GET", "/healthz", headers=unknown, source_ip=visitor)
        assert health.status == 200
        elsewhere = servers[1].request("GET", "/leads", headers=bearer(key), source_ip="127.0.0.91")
        assert elsewhere.status == 200
        print(
            f"auth-failure limit across 2 processes: 10 failures alternating -> {statuses}; "
            f"then {[a.status for a in locked]} with Retry-After {retry_after}; "
            f"anonymous POST /leads {anonymous.status}; other address {elsewhere.status}"
        )


@pytest.mark.slow
def test_real_server_ignores_authorization_on_keyless_endpoints(
    tmp_path: Path, test_keys: dict[str, str]
) -> None:
    with served(tmp_path, test_keys) as (server,):
        for path in KEYLESS_PATHS:
            for headers in BAD_HEADERS:
                answer = server.request("GET", path, headers=headers)
                assert answer.status == 200, (path, headers, answer.status)
        assert server.request("GET", "/leads", headers=BAD_HEADERS[0]).status == 401
