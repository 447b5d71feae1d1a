"""Opaque, signed pagination cursors: the keyset position of the last lead on a page."""

from __future__ import annotations

import base64
import binascii
import hmac
import uuid
from datetime import UTC, datetime

from leadapp.crypto import Keyring


class InvalidCursor(ValueError):
    """The cursor was not issued by this service (or was altered)."""


def _b64(data: bytes) -> str:
    """URL-safe base64 without padding."""
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode("ascii")


def _unb64(text: str) -> bytes:
    """Inverse of _b64."""
    return base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))


def encode_cursor(keyring: Keyring, created_at: datetime, lead_id: uuid.UUID) -> str:
    """Encode and sign a (created_at, id) position."""
    if created_at.tzinfo is None:
        created_at = created_at.replace(tzinfo=UTC)
    payload = f"{created_at.astimezone(UTC).isoformat()}|{lead_id}".encode("ascii")
    return f"{_b64(payload)}.{_b64(keyring.sign(payload))}"


def decode_cursor(keyring: Keyring, cursor: str) -> tuple[datetime, uuid.UUID]:
    """Verify and decode a cursor, or raise InvalidCursor."""
    try:
        payload_text, _, signature_text = cursor.partition(".")
        payload, signature = _unb64(payload_text), _unb64(signature_text)
        if not hmac.compare_digest(signature, keyring.sign(payload)):
            raise InvalidCursor("The cursor was not issued by this service.")
        created_text, _, id_text = payload.decode("ascii").partition("|")
        return datetime.fromisoformat(created_text), uuid.UUID(id_text)
    except (ValueError, binascii.Error, UnicodeDecodeError):
        raise InvalidCursor("The cursor was not issued by this service.") from None
