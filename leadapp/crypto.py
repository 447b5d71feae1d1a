"""The keyring: MultiFernet encryption of personal data and HMAC-SHA256 blind indexes.

Key generation lives here too: `keys generate` and the development keys that `make run`
writes once into the instance folder.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import hmac
import json
import logging
import os
from collections.abc import Sequence
from pathlib import Path

from cryptography.fernet import Fernet, InvalidToken, MultiFernet
from flask import Flask, current_app

from leadapp.config import ConfigError

log = logging.getLogger(__name__)

DEV_KEYS_FILE = "dev-keys.json"


def generate_encryption_key() -> str:
    """Return a fresh Fernet key."""
    return Fernet.generate_key().decode("ascii")


def generate_blind_index_key() -> str:
    """Return a fresh 256-bit blind-index key, URL-safe base64 like the Fernet keys."""
    return Fernet.generate_key().decode("ascii")


def development_keys(instance_path: Path) -> dict[str, str]:
    """Read the development keys from the instance folder, generating them on first use."""
    path = instance_path / DEV_KEYS_FILE
    if path.exists():
        return json.loads(path.read_text(encoding="utf-8"))
    keys = {
        "encryption_key": generate_encryption_key(),
        "blind_index_key": generate_blind_index_key(),
    }
    instance_path.mkdir(parents=True, exist_ok=True)
    # O_EXCL: two processes starting at once must not both write (and disagree on) the keys.
    try:
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    except FileExistsError:
        return json.loads(path.read_text(encoding="utf-8"))
    with os.fdopen(fd, "w", encoding="utf-8") as handle:
        json.dump(keys, handle)
    log.warning(
        "Generated development keys in %s. Set LEADAPP_ENCRYPTION_KEYS and "
        "LEADAPP_BLIND_INDEX_KEY for any real deployment.",
        path,
    )
    return keys


class InvalidKeyError(ConfigError):
    """A configured key is malformed."""


def _decode_key(raw: str, name: str) -> bytes:
    """Decode a URL-safe base64 key of at least 32 bytes."""
    try:
        key = base64.urlsafe_b64decode(raw.encode("ascii"))
    except (binascii.Error, UnicodeEncodeError, ValueError):
        raise InvalidKeyError(f"{name} is not URL-safe base64") from None
    if len(key) < 32:
        raise InvalidKeyError(f"{name} must decode to at least 32 bytes")
    return key


class Keyring:
    """Encrypts and decrypts field values and computes their blind indexes.

    Built once per app: key parsing and HMAC key schedules happen here, not per request.
    """

    def __init__(self, encryption_keys: Sequence[str], blind_index_key: str) -> None:
        if not encryption_keys:
            raise InvalidKeyError("at least one encryption key is required")
        try:
            fernets = [Fernet(key) for key in encryption_keys]
        except (ValueError, binascii.Error):
            raise InvalidKeyError(
                "LEADAPP_ENCRYPTION_KEYS holds a key that is not a Fernet key"
            ) from None
        self._newest = fernets[0]
        self._fernet = MultiFernet(fernets)
        self._master = _decode_key(blind_index_key, "LEADAPP_BLIND_INDEX_KEY")
        self._macs: dict[str, hmac.HMAC] = {}

    def _mac(self, domain: str) -> hmac.HMAC:
        """The keyed HMAC of one domain (a field, "log", "cursor"), derived on first use.

        One derived key per domain (domain separation): equal strings in different
        fields never share an index value. Deriving twice in a race is harmless.
        """
        mac = self._macs.get(domain)
        if mac is None:
            derived = hmac.digest(
                self._master, b"leadapp/blind-index/v1/" + domain.encode(), "sha256"
            )
            mac = self._macs[domain] = hmac.new(derived, digestmod=hashlib.sha256)
        return mac

    def encrypt(self, plaintext: str) -> str:
        """Encrypt a string under the newest key; the result is an ASCII Fernet token."""
        return self._newest.encrypt(plaintext.encode("utf-8")).decode("ascii")

    def decrypt(self, token: str) -> str:
        """Decrypt a token made under any configured key."""
        try:
            return self._fernet.decrypt(token.encode("ascii")).decode("utf-8")
        except InvalidToken:
            raise InvalidToken("stored value does not decrypt under any configured key") from None

    def rotate(self, token: str) -> str:
        """Re-encrypt a token under the newest key (keeping its original timestamp)."""
        return self._fernet.rotate(token.encode("ascii")).decode("ascii")

    def is_current(self, token: str) -> bool:
        """Whether the token was encrypted under the newest key."""
        try:
            self._newest.decrypt(token.encode("ascii"))
        except InvalidToken:
            return False
        return True

    def blind_index(self, field: str, normalized_value: str) -> bytes:
        """Return the 32-byte keyed HMAC of a normalized value for the given field."""
        mac = self._mac(field).copy()
        mac.update(normalized_value.encode("utf-8"))
        return mac.digest()

    def sign(self, data: bytes) -> bytes:
        """A 16-byte MAC proving this service issued `data` (used for pagination cursors)."""
        mac = self._mac("cursor").copy()
        mac.update(data)
        return mac.digest()[:16]

    def pseudonym(self, value: str) -> str:
        """A short keyed hash for logs: groups one client's lines without revealing it."""
        return self.blind_index("log", value)[:8].hex()


EXTENSION_NAME = "leadapp.keyring"


def init_keyring(app: Flask) -> Keyring:
    """Build the app's keyring from its configuration and register it on the app.

    A key the configuration leaves empty (development only: config.py refuses production
    without both) comes from the development keys in the instance folder.
    """
    encryption_keys = app.config["LEADAPP_ENCRYPTION_KEYS"]
    blind_index_key = app.config["LEADAPP_BLIND_INDEX_KEY"]
    if not encryption_keys or not blind_index_key:
        dev_keys = development_keys(Path(app.instance_path))
        encryption_keys = encryption_keys or [dev_keys["encryption_key"]]
        blind_index_key = blind_index_key or dev_keys["blind_index_key"]
        app.config["LEADAPP_ENCRYPTION_KEYS"] = encryption_keys
        app.config["LEADAPP_BLIND_INDEX_KEY"] = blind_index_key
    keyring = Keyring(encryption_keys, blind_index_key)
    app.extensions[EXTENSION_NAME] = keyring
    return keyring


def current_keyring() -> Keyring:
    """The keyring of the app handling the current request or CLI command."""
    return current_app.extensions[EXTENSION_NAME]
