"""API keys: create (shown once), list, revoke, and authenticate a presented key."""

from __future__ import annotations

import hashlib
import secrets
from dataclasses import dataclass

from sqlalchemy import select

from leadapp.extensions import db
from leadapp.models import ApiKey
from leadapp.models.apikey import API_KEY_NAME_MAX
from leadapp.services.caches import APIKEY_CACHE, get_or_refresh
from leadapp.services.upsert import add_unique
from leadapp.timeutil import utcnow

KEY_PREFIX = "lak_"


class ApiKeyError(ValueError):
    """An API-key command can't be carried out; the message says why."""


@dataclass(frozen=True)
class ApiKeyIdentity:
    """Who an authenticated request is: enough to limit, audit and log, nothing secret."""

    id: int
    name: str


def hash_key(key: str) -> bytes:
    """SHA-256 of a key: keys are 256 random bits, so a fast hash is enough."""
    return hashlib.sha256(key.encode("utf-8")).digest()


def create_api_key(name: str) -> tuple[ApiKey, str]:
    """Create a key with a unique name; return the row and the key, which is never stored."""
    name = name.strip()
    if not name or len(name) > API_KEY_NAME_MAX or not name.isprintable():
        raise ApiKeyError(f"A key name must be 1-{API_KEY_NAME_MAX} printable characters.")
    key = KEY_PREFIX + secrets.token_urlsafe(32)
    api_key = ApiKey(name=name, key_hash=hash_key(key), prefix=key[:12])
    add_unique(api_key, ApiKeyError(f"An API key named {name!r} already exists."))
    return api_key, key


def list_api_keys() -> list[ApiKey]:
    """Every key, oldest first (hashes and prefixes only)."""
    return list(db.session.scalars(select(ApiKey).order_by(ApiKey.id)))


def revoke_api_key(name: str) -> ApiKey:
    """Mark a key revoked; every process refuses it once its cache entry expires."""
    api_key = db.session.scalar(select(ApiKey).where(ApiKey.name == name))
    if api_key is None:
        raise ApiKeyError(f"No API key named {name!r}.")
    if api_key.revoked_at is None:
        api_key.revoked_at = utcnow()
        db.session.commit()
    return api_key


def _lookup(key_hash: bytes) -> ApiKeyIdentity | None:
    """The active key with this hash, from the database."""
    with db.engine.connect() as connection:
        row = connection.execute(
            select(ApiKey.id, ApiKey.name).where(
                ApiKey.key_hash == key_hash, ApiKey.revoked_at.is_(None)
            )
        ).first()
    return ApiKeyIdentity(id=row.id, name=row.name) if row else None


def authenticate(key: str) -> ApiKeyIdentity | None:
    """The identity behind a presented key, or None when it is unknown or revoked.

    Known keys are cached per process for LEADAPP_CACHE_SECONDS and then re-checked in
    the background while the request goes on, so a revocation takes effect everywhere
    within about that time, without a database query per request and without a request
    waiting on a hung database. Unknown keys are not cached: a flood of random keys must
    not evict the known ones (the auth-failure limit bounds their lookups instead).
    """
    key_hash = hash_key(key)
    return get_or_refresh(APIKEY_CACHE, key_hash, lambda: _lookup(key_hash))
