"""Standard Webhooks signing: the endpoint's secret, and the signed headers of one attempt."""

from __future__ import annotations

import base64
import hmac
import os

SECRET_PREFIX = "whsec_"  # noqa: S105  (a prefix, not a secret)
USER_AGENT = "LeadApp"


def new_secret() -> str:
    """A fresh signing secret: `whsec_` + base64 of 32 random bytes."""
    return SECRET_PREFIX + base64.b64encode(os.urandom(32)).decode("ascii")


def sign(secret: str, message_id: str, timestamp: int, body: bytes) -> str:
    """The `webhook-signature` value: `v1,` + base64 HMAC-SHA256 of `id.timestamp.body`."""
    key = base64.b64decode(secret.removeprefix(SECRET_PREFIX))
    signed = f"{message_id}.{timestamp}.".encode() + body
    return "v1," + base64.b64encode(hmac.digest(key, signed, "sha256")).decode("ascii")


def signed_headers(secret: str, message_id: str, body: bytes, now: float) -> dict[str, str]:
    """Every header of one attempt, signed for this attempt's timestamp."""
    timestamp = int(now)
    return {
        "Content-Type": "application/json",
        "User-Agent": USER_AGENT,
        "webhook-id": message_id,
        "webhook-timestamp": str(timestamp),
        "webhook-signature": sign(secret, message_id, timestamp, body),
    }
