"""What a stored lead sets off, in the transaction that stores it: webhooks and mail.

One place decides what a new lead queues, so the intake path and a double opt-in's
confirmation (which releases what the pending lead held back) queue the same things.
"""

from __future__ import annotations

from collections.abc import Mapping
from types import MappingProxyType
from typing import Any

from sqlalchemy import Connection

from leadapp.outbox import queue as outbox
from leadapp.outbox.events import LEAD_CREATED
from leadapp.services import opt_in_links
from leadapp.services.mail import queue_lead_mails
from leadapp.services.opt_in_links import Link


def routing(row: Mapping[str, Any]) -> Mapping[str, Any]:
    """The lead's routing facts for the outbox's channels, read-only, from its row: its form."""
    return MappingProxyType({"form": row["form"]})


def lead_stored(connection: Connection, row: Mapping[str, Any], link: Link | None = None) -> None:
    """Queue what a newly stored lead (its row as inserted, plaintext) sets off.

    A lead of a double opt-in form (`link`: its confirmation link) gets its confirmation
    mail only; what a lead sets off waits for `lead_confirmed`.
    """
    if link is not None:
        opt_in_links.queue_link(connection, row, link)
        return
    _announce(connection, row)


def lead_confirmed(connection: Connection, row: Mapping[str, Any]) -> None:
    """Queue what a confirmed double opt-in lead (its row, plaintext) sets off, held till now."""
    _announce(connection, row)


def _announce(connection: Connection, row: Mapping[str, Any]) -> None:
    """The lead counts: its `lead.created` webhooks, its notifications and autoresponse."""
    outbox.publish(connection, LEAD_CREATED, row["id"], routing(row))
    queue_lead_mails(connection, row)
