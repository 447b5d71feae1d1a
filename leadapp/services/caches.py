"""The per-process caches of slow-changing data (API keys, the blocklist), created per app."""

from __future__ import annotations

from flask import Flask

from leadapp.ttlcache import TTLCache

APIKEY_CACHE = "leadapp.apikey_cache"
BLOCKLIST_CACHE = "leadapp.blocklist_cache"


def init_caches(app: Flask) -> None:
    """Create this app's caches (the factory calls this); entries live LEADAPP_CACHE_SECONDS."""
    ttl = app.config["LEADAPP_CACHE_SECONDS"]
    app.extensions[APIKEY_CACHE] = TTLCache(ttl)
    app.extensions[BLOCKLIST_CACHE] = TTLCache(ttl, maxsize=1)
