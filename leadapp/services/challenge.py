"""Proof of work (ALTCHA-compatible): issue signed challenges, accept each solution once.

Issuing uses the `altcha` package. Verification parses the submitted payload strictly
first (altcha's own parser trusts the JSON's shape: a list or a non-string salt raises
inside it), checks the expiry and algorithm itself, lets altcha check the hash and
signature, re-checks the signature in constant time, and then records the solution in
the database, whose primary key makes the first use the only one, in every process.
"""

from __future__ import annotations

import base64
import binascii
import hmac
import re
import time
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

import altcha
from sqlalchemy import delete, insert
from sqlalchemy.exc import IntegrityError

from leadapp.crypto import current_keyring
from leadapp.errors import ValidationFailed
from leadapp.extensions import db
from leadapp.jsonutil import StrictJSONError, parse_strict_json
from leadapp.models.challenge import UsedChallenge
from leadapp.timeutil import utcnow

ALGORITHM = "SHA-256"
# A person's browser solves half of this on average; the contract allows up to 1,000,000.
MAX_NUMBER = 100_000
LIFETIME = timedelta(minutes=10)
PAYLOAD_MEMBERS = frozenset({"algorithm", "challenge", "number", "salt", "signature"})
# The ALTCHA widget also reports how long solving took; it is accepted and ignored.
OPTIONAL_MEMBERS = frozenset({"took"})
HEX64 = re.compile(r"[0-9a-f]{64}")
SALT = re.compile(r"[0-9a-f]{24}\?expires=([0-9]{1,12})&")
MESSAGES = {
    "missing": "Solve GET /challenge and send the solution as `challenge`.",
    "malformed": "The challenge solution is malformed.",
    "expired": "The challenge has expired; solve a new one.",
    "wrong": "The challenge solution is wrong.",
    "reused": "This challenge solution was already used; solve a new one.",
}


class ChallengeRefused(ValidationFailed):
    """A missing, malformed, wrong, forged, expired or reused solution (422, errors.challenge)."""

    def __init__(self, reason: str) -> None:
        super().__init__(
            "The proof-of-work challenge was not solved: " + MESSAGES[reason],
            errors={"challenge": [MESSAGES[reason]]},
        )
        self.reason = reason


@dataclass(frozen=True)
class Solution:
    """A verified solution, not yet used: its challenge digest and when it expires."""

    digest: bytes
    expires_at: datetime


def _hmac_key() -> bytes:
    """The signing key: derived from the blind-index key, under a domain of its own."""
    return current_keyring().blind_index("altcha", "challenge-signing-key/v1")


def issue() -> dict[str, object]:
    """A fresh challenge, as the contract spells its members (altcha says maxNumber)."""
    created = altcha.create_challenge_v1(
        algorithm=ALGORITHM,
        max_number=MAX_NUMBER,
        hmac_key=_hmac_key(),
        expires=datetime.now(UTC) + LIFETIME,
    )
    return {
        "algorithm": created.algorithm,
        "challenge": created.challenge,
        "maxnumber": created.max_number,
        "salt": created.salt,
        "signature": created.signature,
    }


def _decode(encoded: str | None) -> dict[str, object]:
    """The payload object, strictly: base64 of a JSON object with exactly the right members."""
    if encoded is None or encoded == "":
        raise ChallengeRefused("missing")
    try:
        raw = base64.b64decode(encoded, validate=True)
        payload = parse_strict_json(raw)
    except (binascii.Error, ValueError, StrictJSONError):
        raise ChallengeRefused("malformed") from None
    if not isinstance(payload, dict):
        raise ChallengeRefused("malformed")
    members = set(payload)
    if not members >= PAYLOAD_MEMBERS or members - PAYLOAD_MEMBERS - OPTIONAL_MEMBERS:
        raise ChallengeRefused("malformed")
    number = payload["number"]
    if (
        payload["algorithm"] != ALGORITHM
        or not isinstance(number, int)
        or isinstance(number, bool)
        or not 0 <= number <= MAX_NUMBER
        or not all(isinstance(payload[name], str) for name in ("challenge", "salt", "signature"))
        or not HEX64.fullmatch(payload["challenge"])  # type: ignore[arg-type]
        or not HEX64.fullmatch(payload["signature"])  # type: ignore[arg-type]
    ):
        raise ChallengeRefused("malformed")
    return payload


def verify(encoded: str | None) -> Solution:
    """Check a submitted solution (not yet marking it used), or raise ChallengeRefused."""
    payload = _decode(encoded)
    salt = SALT.fullmatch(payload["salt"])  # type: ignore[arg-type]
    if salt is None:
        # Every salt this service issues has this shape; a signature can't cover another.
        raise ChallengeRefused("wrong")
    key = _hmac_key()
    valid, _error = altcha.verify_solution_v1(payload, key, check_expires=False)  # type: ignore[arg-type]
    expected = altcha.v1.hmac_hex(ALGORITHM, str(payload["challenge"]).encode(), key)
    if not valid or not hmac.compare_digest(expected, str(payload["signature"])):
        raise ChallengeRefused("wrong")
    expires = int(salt.group(1))
    # Checked after the signature, so "expired" is only ever said of our own challenges.
    if expires < time.time():
        raise ChallengeRefused("expired")
    return Solution(
        digest=bytes.fromhex(str(payload["challenge"])),
        expires_at=datetime.fromtimestamp(expires, UTC),
    )


def use(solution: Solution) -> None:
    """Mark a solution used, or raise ChallengeRefused("reused") if any process already did."""
    table = UsedChallenge.__table__
    try:
        with db.engine.begin() as connection:
            # Expired solutions are refused anyway; their records need not stay.
            connection.execute(delete(table).where(table.c.expires_at < utcnow()))
            connection.execute(
                insert(table).values(challenge=solution.digest, expires_at=solution.expires_at)
            )
    except IntegrityError:
        raise ChallengeRefused("reused") from None
