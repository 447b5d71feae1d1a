"""Proof of work as a client does it: solve a GET /challenge by brute force, encode it."""

from __future__ import annotations

import base64
import hashlib
import json
from typing import Any

from flask.testing import FlaskClient


def solve(challenge: dict[str, Any]) -> int:
    """The number n with sha256(salt + n) == challenge, by brute force as the form does."""
    salt = challenge["salt"].encode()
    for number in range(challenge["maxnumber"] + 1):
        if hashlib.sha256(salt + str(number).encode()).hexdigest() == challenge["challenge"]:
            return number
    raise AssertionError("challenge has no solution")


def encode_solution(challenge: dict[str, Any], number: int, **overrides: Any) -> str:
    """The `challenge` member for a solved challenge (base64 of the ALTCHA payload JSON)."""
    payload = {
        "algorithm": challenge["algorithm"],
        "challenge": challenge["challenge"],
        "number": number,
        "salt": challenge["salt"],
        "signature": challenge["signature"],
        **overrides,
    }
    return base64.b64encode(json.dumps(payload).encode()).decode()


def solved(client: FlaskClient) -> str:
    """Fetch a challenge from the app and return its encoded solution."""
    challenge = client.get("/challenge").get_json()
    return encode_solution(challenge, solve(challenge))
