"""The expiring cache behind the blocklist and API-key lookups, through the calls they make."""

from __future__ import annotations

import time

import pytest

from leadapp.ttlcache import TTLCache


def test_value_is_reused_until_it_is_older_than_two_periods() -> None:
    cache: TTLCache[str, int] = TTLCache(ttl=0.2)
    calls = []

    def load() -> int:
        calls.append(1)
        return len(calls)

    assert cache.get_or_refresh("k", load) == 1
    assert cache.get_or_refresh("k", load) == 1
    assert calls == [1]
    time.sleep(0.45)  # past expiry plus one period: loaded in the caller, not served stale
    assert cache.get_or_refresh("k", load) == 2


def test_failed_load_propagates_and_stale_keeps_the_last_value() -> None:
    cache: TTLCache[str, int] = TTLCache(ttl=0.0)
    assert cache.get_or_refresh("k", lambda: 7) == 7

    def broken() -> int:
        raise ConnectionError

    with pytest.raises(ConnectionError):
        cache.get_or_refresh("k", broken)
    assert cache.stale("k", 0) == 7
    assert cache.stale("missing", 0) == 0


def test_size_is_bounded() -> None:
    cache: TTLCache[int, int] = TTLCache(ttl=60, maxsize=3)
    for key in range(10):
        assert cache.get_or_refresh(key, lambda key=key: key) == key
    assert len(cache._entries) <= 3
