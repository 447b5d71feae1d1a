"""Double opt-in: what a confirmation link shows, the one confirmation, and expiry.

A link's token is looked up by its SHA-256 (services/opt_in_links.py). Confirming is one
conditional UPDATE (`… WHERE opt_in_token_hash = :h AND opt_in_status = 'pending'`): under any
number of concurrent posts exactly one changes the row, and only that one releases what the
lead held back (arrival.lead_confirmed) in the same transaction. A lead is past its window
when it is older than LEADAPP_OPT_IN_DAYS: its link answers 410 until the hourly pass (or
`leads purge`) erases it, without a `lead.erased` webhook (it was never announced).
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from datetime import datetime, timedelta

from flask import Flask, current_app
from sqlalchemy import ColumnElement, bindparam, select, update

from leadapp.errors import NotFound, Problem
from leadapp.extensions import db
from leadapp.models.lead import Lead
from leadapp.services import arrival, forms
from leadapp.services.apikeys import ApiKeyIdentity
from leadapp.services.forms import Form
from leadapp.services.leads import erase_in_batches
from leadapp.services.opt_in_links import CONFIRMED, PENDING, token_hash
from leadapp.timeutil import as_utc, utcnow
from leadapp.wording import plural

log = logging.getLogger(__name__)

EXPIRY_ACTOR = ApiKeyIdentity(id=0, name="opt-in expiry")
EXPIRY_BATCH = 500

_LEADS = Lead.__table__
_CONFIRM = (
    update(_LEADS)
    .where(
        _LEADS.c.opt_in_token_hash == bindparam("token_hash"),
        _LEADS.c.opt_in_status == PENDING,
        _LEADS.c.created_at >= bindparam("cutoff"),
    )
    .values(
        opt_in_status=CONFIRMED,
        opt_in_confirmed_at=bindparam("now"),
        opt_in_address=bindparam("address"),
    )
    # The whole row, decrypted: what the lead sets off is built from it, as at intake.
    .returning(*_LEADS.c)
)
_FIND = select(_LEADS.c.opt_in_status, _LEADS.c.created_at, _LEADS.c.form).where(
    _LEADS.c.opt_in_token_hash == bindparam("token_hash")
)


def _unconfirmed(cutoff: datetime) -> ColumnElement[bool]:
    """The leads left unconfirmed past their window."""
    return (_LEADS.c.opt_in_status == PENDING) & (_LEADS.c.created_at < cutoff)


class LinkUnknown(NotFound):
    """No lead has this link: never issued, replaced by a newer one, or its lead erased."""


class LinkExpired(Problem, status=410, title="Gone", slug="confirmation-link-expired"):
    """The link's lead was not confirmed within LEADAPP_OPT_IN_DAYS."""


@dataclass(frozen=True)
class LinkState:
    """What a link stands for: its lead's opt-in status and form, and whether this confirmed it."""

    status: str
    form: Form | None
    confirmed_now: bool = False


def opt_in_days() -> float:
    """LEADAPP_OPT_IN_DAYS: how long a lead may stay unconfirmed."""
    return float(current_app.config["LEADAPP_OPT_IN_DAYS"])


def expiry_cutoff(now: datetime) -> datetime:
    """Unconfirmed leads created before this instant are past their window."""
    return now - timedelta(days=opt_in_days())


def _state(digest: bytes, cutoff: datetime) -> LinkState:
    """The link's state as stored now, or LinkUnknown (404) / LinkExpired (410)."""
    with db.engine.connect() as connection:
        row = connection.execute(_FIND, {"token_hash": digest}).first()
    if row is None:
        raise LinkUnknown("This confirmation link is not known (or no longer).")
    if row.opt_in_status == PENDING and as_utc(row.created_at) < cutoff:
        raise LinkExpired(
            "This confirmation link has expired: the address was not confirmed in time."
        )
    return LinkState(row.opt_in_status, forms.latest_form(row.form))


def link_state(token: str) -> LinkState:
    """What GET /confirm/<token> shows: pending (the button) or already confirmed; 404, 410."""
    return _state(token_hash(token), expiry_cutoff(utcnow()))


def confirm(token: str, address: str) -> LinkState:
    """Confirm the link's lead once, keeping `address` (the client's) as evidence.

    Exactly one of any number of concurrent posts confirms and queues the lead's
    `lead.created` webhooks and mails; the others (and later posts) get the state as it
    is, "confirmed", and queue nothing. 404 for an unknown link, 410 for an expired one.
    """
    digest = token_hash(token)
    now = utcnow()
    cutoff = expiry_cutoff(now)
    with db.engine.begin() as connection:
        row = connection.execute(
            _CONFIRM, {"token_hash": digest, "cutoff": cutoff, "now": now, "address": address}
        ).first()
        if row is not None:
            arrival.lead_confirmed(connection, row._mapping)
    if row is not None:
        return LinkState(CONFIRMED, forms.latest_form(row.form), confirmed_now=True)
    return _state(digest, cutoff)


def expire_unconfirmed(now: datetime | None = None, *, batch_size: int = EXPIRY_BATCH) -> int:
    """Erase every lead left unconfirmed past LEADAPP_OPT_IN_DAYS; return how many.

    As DELETE /leads/<id> erases (email, phone and IP free again, pending mails cancelled,
    audited as `expire`), but with no `lead.erased` webhook. The DELETE repeats the
    condition, so a lead confirmed meanwhile stays.
    """
    return erase_in_batches(
        _unconfirmed(expiry_cutoff(now or utcnow())),
        EXPIRY_ACTOR,
        "expire",
        batch_size=batch_size,
        announce=False,
    )


def expiry_job(app: Flask) -> None:
    """The outbox worker's periodic job: erase the leads left unconfirmed."""
    with app.app_context():
        erased = expire_unconfirmed()
        if erased:
            log.info(
                "double opt-in: erased %s unconfirmed for %s",
                plural(erased, "lead"),
                plural(opt_in_days(), "day"),
            )
