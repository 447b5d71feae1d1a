"""The digest: each address's notifications held past the hourly cap, one mail per ended hour.

A periodic job of every outbox worker (every minute, so a digest leaves within 5 minutes of
its hour's end). Safe in several workers at once: the held rows are taken with one
`UPDATE … WHERE digest_id IS NULL … RETURNING`, so only one transaction gets each row.
"""

from __future__ import annotations

import logging
import uuid
from datetime import datetime, timedelta

from flask import Flask
from sqlalchemy import delete, select, update

from leadapp.extensions import db
from leadapp.models.mail import DIGEST, NOTIFICATION, Mail, MailCount
from leadapp.services.mail import AUTORESPONSE_WINDOW, hour_start
from leadapp.services.mail_queue import queue_mail
from leadapp.timeutil import utcnow
from leadapp.wording import plural

log = logging.getLogger(__name__)

DIGEST_EVERY_SECONDS = 60.0
# Counts older than this serve no cap any more (the longest window is 24 hours).
COUNTS_KEPT = AUTORESPONSE_WINDOW + timedelta(hours=1)

_MAILS = Mail.__table__
_COUNTS = MailCount.__table__


def send_digests(now: datetime | None = None) -> int:
    """Queue one digest per (address, form, ended hour) with held notifications; how many."""
    now = now or utcnow()
    held = (
        _MAILS.c.kind == NOTIFICATION,
        _MAILS.c.held_hour < hour_start(now),
        _MAILS.c.digest_id.is_(None),
    )
    with db.engine.connect() as connection:
        groups = connection.execute(
            select(_MAILS.c.recipient_bidx, _MAILS.c.form, _MAILS.c.held_hour)
            .where(*held)
            .distinct()
        ).all()
    queued = 0
    for group in groups:
        digest_id = uuid.uuid4()
        with db.engine.begin() as connection:
            rows = connection.execute(
                update(_MAILS)
                .where(
                    *held,
                    _MAILS.c.recipient_bidx == group.recipient_bidx,
                    _MAILS.c.form == group.form,
                    _MAILS.c.held_hour == group.held_hour,
                )
                .values(digest_id=digest_id)
                .returning(_MAILS.c.lead_id, _MAILS.c.recipient, _MAILS.c.created_at)
            ).all()
            if not rows:
                continue  # another worker took them
            rows.sort(key=lambda row: row.created_at)
            queue_mail(
                connection,
                DIGEST,
                group.form,
                # The digest's own id, not one of its leads': erasing a lead it lists leaves
                # it out of the digest (the build skips it) instead of cancelling the digest.
                digest_id,
                rows[0].recipient,
                lead_ids=",".join(str(row.lead_id) for row in rows),
                mail_id=digest_id,
            )
            queued += 1
    return queued


def forget_old_counts(now: datetime | None = None) -> int:
    """Delete the cap counts no window needs any more; how many."""
    cutoff = (now or utcnow()) - COUNTS_KEPT
    with db.engine.begin() as connection:
        return connection.execute(delete(_COUNTS).where(_COUNTS.c.window_start < cutoff)).rowcount


def digest_job(app: Flask) -> None:
    """The outbox worker's periodic job: queue the ended hours' digests, drop old counts."""
    with app.app_context():
        queued = send_digests()
        forget_old_counts()
        if queued:
            log.info("mail: queued %s", plural(queued, "digest"))
