"""Pipeline step 3: a client in a blocked network is refused with 403 before anything else."""

from __future__ import annotations

from leadapp.errors import Forbidden
from leadapp.http.client import client_address
from leadapp.services import blocklist


def refuse_blocked_clients() -> None:
    """403 for a client whose address is in a blocked network."""
    if blocklist.is_blocked(client_address()):
        raise Forbidden("Requests from your network are blocked.")
