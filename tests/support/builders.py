"""Builders of test data: unique, valid leads."""

from __future__ import annotations

import itertools
from typing import Any

_counter = itertools.count(1)


def phone_for(n: int) -> str:
    """A valid London number, distinct for each n below 10,000,000, as a person types it."""
    digits = f"{n:07d}"
    return f"+44 20 7{digits[:3]} {digits[3:]}"


def e164_for(n: int) -> str:
    """The E.164 form of phone_for(n)."""
    return f"+44207{n:07d}"


def lead_payload(n: int | None = None, **overrides: Any) -> dict[str, Any]:
    """A valid POST /leads body, unique in email and phone."""
    n = next(_counter) if n is None else n
    payload = {"name": f"Lead Person {n}", "email": f"lead{n}@example.com", "phone": phone_for(n)}
    payload.update(overrides)
    return payload
