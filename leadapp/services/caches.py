"""The per-process caches of slow-changing data (API keys, the blocklist), created per app."""

from __future__ import annotations

from collections.abc import Callable, Hashable
from typing import TypeVar

from flask import Flask, current_app

from leadapp.ttlcache import TTLCache

T = TypeVar("T")

APIKEY_CACHE = "leadapp.apikey_cache"
BLOCKLIST_CACHE = "leadapp.blocklist_cache"


def init_caches(app: Flask) -> None:
    """Create this app's caches (the factory calls this); entries live LEADAPP_CACHE_SECONDS."""
    ttl = app.config["LEADAPP_CACHE_SECONDS"]
    app.extensions[APIKEY_CACHE] = TTLCache(ttl)
    app.extensions[BLOCKLIST_CACHE] = TTLCache(ttl, maxsize=1)


def get_or_refresh(name: str, key: Hashable, load: Callable[[], T]) -> T:
    """The entry of this app's cache `name` for `key`; `load` runs in this app's context.

    It may run in a background thread (TTLCache refreshes expired entries there), which
    has no app context of its own.
    """
    cache = current_app.extensions[name]
    app = current_app._get_current_object()  # type: ignore[attr-defined]

    def load_in_app() -> T:
        with app.app_context():
            return load()

    return cache.get_or_refresh(key, load_in_app)
