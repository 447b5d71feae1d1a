"""GET /challenge: a fresh proof-of-work challenge, whatever LEADAPP_CHALLENGE says."""

from __future__ import annotations

from flask import Blueprint

from leadapp.api.responses import responds
from leadapp.schemas.bot_defence import ChallengeSchema
from leadapp.services import challenge

bp = Blueprint("challenge", __name__)
challenge_schema = ChallengeSchema()


@bp.get("/challenge")
@responds(200)
def get_challenge():
    """An ALTCHA-compatible challenge; never cached, since each may be solved once."""
    return challenge_schema.dump(challenge.issue()), 200, {"Cache-Control": "no-store"}
