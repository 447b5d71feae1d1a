"""Rate limits on POST /leads, on in-memory storage and on Redis."""

from __future__ import annotations

import threading
import time
from pathlib import Path

import pytest
from flask import Flask

from leadapp.extensions import limiter
from leadapp.http import memory_storage
from tests.support.apps import put_form
from tests.support.builders import lead_payload
from tests.support.client import post_lead
from tests.support.deployment import served


@pytest.fixture
def limited_app(make_app, ratelimit_storage: str) -> Flask:
    """The default anonymous limit on the parametrized storage."""
    return make_app(RATELIMIT_STORAGE_URI=ratelimit_storage)


def test_sixth_post_in_a_minute_is_429_whatever_the_outcomes(limited_app: Flask) -> None:
    statuses = [
        post_lead(limited_app, lead_payload(1), ip="203.0.113.10").status_code,  # created
        post_lead(limited_app, lead_payload(2), ip="203.0.113.10").status_code,  # duplicate IP
        post_lead(
            limited_app, lead_payload(3, email="bad"), ip="203.0.113.10"
        ).status_code,  # invalid
        post_lead(
            limited_app, lead_payload(4, name=None), ip="203.0.113.10"
        ).status_code,  # invalid
        post_lead(limited_app, lead_payload(1), ip="203.0.113.10").status_code,  # duplicate
    ]
    assert statuses == [201, 409, 422, 422, 409]
    response = post_lead(limited_app, lead_payload(6), ip="203.0.113.10")
    assert response.status_code == 429
    assert response.mimetype == "application/problem+json"
    assert 0 < int(response.headers["Retry-After"]) <= 60
    assert response.headers["X-RateLimit-Limit"] == "5"
    assert response.headers["X-RateLimit-Remaining"] == "0"
    assert post_lead(limited_app, lead_payload(7), ip="203.0.113.11").status_code == 201


def test_posts_to_every_form_count_together(limited_app: Flask) -> None:
    put_form(limited_app, "webinar")
    paths = ["/leads", "/f/webinar", "/f/default", "/leads", "/f/webinar"]
    statuses = [
        post_lead(limited_app, lead_payload(n), ip="203.0.113.20", path=path).status_code
        for n, path in enumerate(paths)
    ]
    assert statuses == [201, 409, 409, 409, 409]  # the IP is taken after the first
    for path in ("/f/webinar", "/leads", "/f/default"):
        refused = post_lead(limited_app, lead_payload(9), ip="203.0.113.20", path=path)
        assert refused.status_code == 429, path
        assert refused.headers["X-RateLimit-Remaining"] == "0"


def test_hourly_limit_applies_too(make_app, ratelimit_storage: str) -> None:
    app = make_app(
        RATELIMIT_STORAGE_URI=ratelimit_storage,
        LEADAPP_RATELIMIT_LEADS="100 per minute;3 per hour",
    )
    statuses = [post_lead(app, lead_payload(n), ip="203.0.113.20").status_code for n in range(4)]
    assert statuses[-1] == 429 and 429 not in statuses[:3]


def test_other_endpoints_are_not_limited(limited_app: Flask) -> None:
    client = limited_app.test_client()
    for _ in range(10):
        assert (
            client.get("/healthz", environ_base={"REMOTE_ADDR": "203.0.113.30"}).status_code == 200
        )


def test_unreachable_redis_fails_open_to_memory_never_500(make_app) -> None:
    """Policy: with Redis down, each process limits in memory; /readyz reports the outage."""
    app = make_app(RATELIMIT_STORAGE_URI="redis://127.0.0.1:1/0")
    client = app.test_client()
    statuses = [post_lead(app, lead_payload(n), ip="203.0.113.40").status_code for n in range(6)]
    assert statuses == [201, 409, 409, 409, 409, 429]
    ready = client.get("/readyz")
    assert ready.status_code == 503
    assert "rate-limit storage" in ready.get_json()["detail"]


# --- the real server (`python -m leadapp.server`, as `make run` serves it) ----------------


@pytest.mark.slow
def test_real_server_limits_each_address_and_says_when_to_retry(
    tmp_path: Path, test_keys: dict[str, str], ratelimit_storage: str
) -> None:
    with served(tmp_path, test_keys, LEADAPP_RATELIMIT_STORAGE_URI=ratelimit_storage) as (server,):
        statuses = [
            server.request("POST", "/leads", lead_payload(n), source_ip="127.0.0.30").status
            for n in range(5)
        ]
        assert statuses == [201, 409, 409, 409, 409]  # one lead per address, then duplicates
        limited = server.request("POST", "/leads", lead_payload(6), source_ip="127.0.0.30")
        assert limited.status == 429 and limited.is_problem
        assert 0 < (limited.retry_after() or 0) <= 60
        assert limited.headers["x-ratelimit-limit"] == "5"
        assert limited.headers["x-ratelimit-remaining"] == "0"
        other = server.request("POST", "/leads", lead_payload(7), source_ip="127.0.0.31")
        assert other.status == 201 and other.body["ip_address"] == "127.0.0.31"


def test_embedded_storage_counts_without_a_thread_per_hit(make_app) -> None:
    """memory:// is limits' MemoryStorage minus its 10 ms timer thread after every hit."""
    app = make_app(LEADAPP_RATELIMIT_INTEGRATIONS="1000 per minute")
    assert isinstance(limiter.storage, memory_storage.SweptMemoryStorage)
    post_lead(app, lead_payload(0), ip="203.0.113.30")
    started_before = threading.active_count()
    names_before = {thread.ident for thread in threading.enumerate()}
    statuses = [post_lead(app, lead_payload(n), ip=f"203.0.113.{n}").status_code for n in (31, 32)]
    statuses += [post_lead(app, lead_payload(n), ip="203.0.113.33").status_code for n in (33, 34)]
    assert statuses == [201, 201, 201, 409]
    new_threads = {thread.ident for thread in threading.enumerate()} - names_before
    assert not new_threads, f"{len(new_threads)} threads started ({started_before} before)"


def test_embedded_storage_sweeps_expired_keys() -> None:
    storage = memory_storage.SweptMemoryStorage()
    storage.timer.join()  # MemoryStorage's one timer from its constructor
    storage.incr("short", expiry=0.01)
    storage.incr("long", expiry=60)
    time.sleep(0.02)
    storage.incr("other", expiry=60)  # sweep not due yet: the expired key stays in memory
    assert "short" in storage.expirations
    storage._next_sweep = time.monotonic()  # as if SWEEP_SECONDS had passed
    storage.incr("other", expiry=60)  # due: swept inline, by this hit
    assert "short" not in storage.expirations
    assert storage.get("long") == 1 and storage.get("other") == 2
    assert not storage.timer.is_alive()


def test_on_redis_a_counted_request_costs_no_expiry_lookup_once_the_window_is_known(
    make_app, private_redis
) -> None:
    """The window's end is read once per window; each request reads only its count."""
    app = make_app(RATELIMIT_STORAGE_URI=private_redis.fresh())
    client = private_redis.client()
    statuses = [post_lead(app, lead_payload(n), ip=f"203.0.113.{40 + n}").status_code for n in (0,)]
    client.config_resetstat()
    responses = [post_lead(app, lead_payload(1), ip="203.0.113.40") for _ in range(3)]
    statuses += [response.status_code for response in responses]
    stats = client.info("commandstats")
    assert statuses == [201, 409, 409, 409]
    assert [r.headers["X-RateLimit-Remaining"] for r in responses] == ["3", "2", "1"]
    assert len({r.headers["X-RateLimit-Reset"] for r in responses}) == 1
    assert "cmdstat_ttl" not in stats, stats  # the first request's lookup is remembered
    assert stats["cmdstat_get"]["calls"] == 3  # the count, once per request
