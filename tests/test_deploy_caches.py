"""No request waits on a cache refresh: expired entries are served while one thread reloads."""

from __future__ import annotations

import threading
import time

from flask import Flask

from leadapp import create_app
from leadapp.services import apikeys
from leadapp.services.apikeys import ApiKeyIdentity, hash_key
from leadapp.services.caches import APIKEY_CACHE, BLOCKLIST_CACHE
from leadapp.ttlcache import TTLCache
from tests.support.waiting import black_hole

TTL = 0.2


def test_expired_value_is_served_while_one_thread_reloads() -> None:
    cache: TTLCache[str, int] = TTLCache(ttl=TTL)
    cache.put("k", 1)
    time.sleep(TTL * 1.5)
    release = threading.Event()
    calls: list[int] = []

    def slow_load() -> int:
        calls.append(1)
        release.wait(timeout=10)
        return 2

    started = time.monotonic()
    answers = [cache.get_or_refresh("k", slow_load) for _ in range(50)]
    assert time.monotonic() - started < 0.5
    assert answers == [1] * 50
    assert len(calls) == 1  # one reload, however many callers
    release.set()
    deadline = time.monotonic() + 5
    while cache.get_or_refresh("k", slow_load) != 2 and time.monotonic() < deadline:
        time.sleep(0.01)
    assert cache.get_or_refresh("k", slow_load) == 2


def settled(cache: TTLCache) -> None:
    """Wait until no background reload is running."""
    deadline = time.monotonic() + 5
    while cache._refreshing and time.monotonic() < deadline:
        time.sleep(0.01)


def test_a_failed_reload_keeps_the_value_and_none_forgets_it() -> None:
    cache: TTLCache[str, int] = TTLCache(ttl=TTL)
    cache.put("k", 1)
    time.sleep(TTL * 1.5)

    def broken() -> int:
        raise OSError("database gone")

    assert cache.get_or_refresh("k", broken) == 1
    settled(cache)
    assert cache.get_or_refresh("k", broken) == 1
    settled(cache)
    assert cache.get_or_refresh("k", lambda: None) == 1  # served once more, then forgotten
    settled(cache)
    assert "k" not in cache._entries


def hung_database_app(port: int) -> Flask:
    """An app whose PostgreSQL accepts connections and never answers (connect timeout 5 s)."""
    return create_app(
        {
            "TESTING": True,
            "SQLALCHEMY_DATABASE_URI": f"postgresql+psycopg://leadapp@127.0.0.1:{port}/leadapp",
            "LEADAPP_CACHE_SECONDS": TTL,
        }
    )


def test_healthz_does_not_wait_for_a_hung_database_to_refresh_the_blocklist() -> None:
    with black_hole() as port:
        app = hung_database_app(port)
        app.extensions[BLOCKLIST_CACHE].put("networks", ())
        time.sleep(TTL * 1.5)  # expired: the next request triggers a reload
        client = app.test_client()
        timings = []
        for _ in range(5):
            started = time.monotonic()
            assert client.get("/healthz").status_code == 200
            timings.append(time.monotonic() - started)
        assert max(timings) < 1.0, timings


def test_a_known_key_is_not_held_up_by_a_hung_database() -> None:
    with black_hole() as port:
        app = hung_database_app(port)
        key = "lak_known"
        identity = ApiKeyIdentity(id=1, name="partner")
        app.extensions[APIKEY_CACHE].put(hash_key(key), identity)
        time.sleep(TTL * 1.5)
        with app.test_request_context("/leads"):
            started = time.monotonic()
            assert apikeys.authenticate(key) == identity
            assert time.monotonic() - started < 1.0


def test_unknown_keys_cannot_evict_known_ones(make_app) -> None:
    app = make_app()
    cache = app.extensions[APIKEY_CACHE]
    known = hash_key("lak_known")
    cache.put(known, ApiKeyIdentity(id=1, name="partner"))
    with app.test_request_context("/leads"):
        for n in range(cache.maxsize + 10):
            assert apikeys.authenticate(f"lak_random_{n}") is None
    assert list(cache._entries) == [known]


def test_a_value_idle_past_two_periods_is_reloaded_before_it_is_served() -> None:
    """A revoked key (or a new block) must not be honoured once more after a long idle time."""
    cache: TTLCache[str, int] = TTLCache(ttl=TTL)
    assert cache.get_or_refresh("key", lambda: 1) == 1
    time.sleep(TTL * 2.5)
    assert cache.get_or_refresh("key", lambda: None) is None  # revoked: answered now, not later
    assert cache.get_or_refresh("key", lambda: 2) == 2
