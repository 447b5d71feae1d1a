"""Column types: transparent Fernet encryption of personal data."""

from __future__ import annotations

from typing import Any

from sqlalchemy import String
from sqlalchemy.engine import Dialect
from sqlalchemy.types import TypeDecorator

from leadapp.crypto import current_keyring


def fernet_token_length(max_plaintext_bytes: int) -> int:
    """Length of the Fernet token for a plaintext of at most this many bytes.

    A token is base64 of version (1) + timestamp (8) + IV (16) + PKCS7-padded
    ciphertext + HMAC (32).
    """
    padded = (max_plaintext_bytes // 16 + 1) * 16
    raw = 1 + 8 + 16 + padded + 32
    return 4 * ((raw + 2) // 3)


class EncryptedString(TypeDecorator[str]):
    """A string stored as a Fernet token; the keyring is looked up at call time.

    Sized by the longest plaintext in UTF-8 bytes, so the column fits the token.
    Encrypted columns can't be filtered on (every encryption differs): lookups go
    through the blind-index columns.
    """

    impl = String
    cache_ok = True

    def __init__(self, max_plaintext_bytes: int) -> None:
        super().__init__(length=fernet_token_length(max_plaintext_bytes))
        self.max_plaintext_bytes = max_plaintext_bytes

    def process_bind_param(self, value: str | None, dialect: Dialect) -> str | None:
        """Encrypt on the way into the database."""
        if value is None:
            return None
        return current_keyring().encrypt(value)

    def process_result_value(self, value: Any, dialect: Dialect) -> str | None:
        """Decrypt on the way out of the database."""
        if value is None:
            return None
        return current_keyring().decrypt(value)
