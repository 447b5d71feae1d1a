"""Opaque, signed pagination cursors: the keyset position of the last lead on a page.

A cursor of one form's listing (`GET /leads?form=`) also names that form, under the same
signature, so it cannot carry a page of one form on into another's (or into every form's).
"""

from __future__ import annotations

import base64
import binascii
import hmac
import uuid
from dataclasses import dataclass
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


@dataclass(frozen=True)
class Position:
    """Where a page ended: the last lead's (created_at, id), and the form listed (or None)."""

    created_at: datetime
    lead_id: uuid.UUID
    form: str | None = None


def encode_cursor(
    keyring: Keyring, created_at: datetime, lead_id: uuid.UUID, form: str | None = None
) -> str:
    """Encode and sign a (created_at, id) position, and the form listed when there is one."""
    if created_at.tzinfo is None:
        created_at = created_at.replace(tzinfo=UTC)
    text = f"{created_at.astimezone(UTC).isoformat()}|{lead_id}"
    # Without a form the payload is what it was before forms: cursors already handed out
    # keep working. A slug is ASCII without `|`, so the payload splits one way only.
    payload = (text if form is None else f"{text}|{form}").encode("ascii")
    return f"{_b64(payload)}.{_b64(keyring.sign(payload))}"


def decode_cursor(keyring: Keyring, cursor: str) -> Position:
    """Verify and decode a cursor, or raise InvalidCursor."""
    try:
        payload_text, _, signature_text = cursor.partition(".")
        payload, signature = _unb64(payload_text), _unb64(signature_text)
        if not hmac.compare_digest(signature, keyring.sign(payload)):
            raise InvalidCursor("The cursor was not issued by this service.")
        created_text, id_text, *form = payload.decode("ascii").split("|", 2)
        return Position(
            datetime.fromisoformat(created_text), uuid.UUID(id_text), form[0] if form else None
        )
    except (ValueError, binascii.Error, UnicodeDecodeError):
        raise InvalidCursor("The cursor was not issued by this service.") from None
