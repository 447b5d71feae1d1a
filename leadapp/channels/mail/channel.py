"""The mail channel as the outbox sees it: rows queued by their cause, mail built at the claim.

A mail's outbox row points at its `mails` row (the kind, the recipient, a link's token, all
needed to build it), or, for a notification sent at once, names its `notify` address by a
keyed id (services/mail_queue.notification_target) looked up in the lead's form. The message
is composed from that, the lead's row and the form when a worker claims it, so the queue
holds no mail content. The channel is registered only
while LEADAPP_SMTP_URL is set: without it no worker claims a mail, which waits in the queue
(neither attempted nor failed) until a process with the setting starts.
"""

from __future__ import annotations

import logging
import uuid
from collections.abc import Mapping, Sequence
from typing import Any, NamedTuple

from flask import current_app
from sqlalchemy import Connection, select

from leadapp.channels.mail.compose import Composer, Envelope, UnsafeHeader
from leadapp.channels.mail.transport import SmtpServer, SmtpTransport
from leadapp.models.mail import AUTORESPONSE, CONFIRMATION, DIGEST, NOTIFICATION, Mail
from leadapp.outbox.channel import Entry, Policy, Routing
from leadapp.services.forms import Form, get_form, latest_form
from leadapp.services.leads import leads_as_created
from leadapp.services.mail_queue import CHANNEL, mail_event, notify_recipient

log = logging.getLogger(__name__)

NAME = CHANNEL
NOTIFICATION_EVENT = mail_event(NOTIFICATION)
mails = Mail.__table__


def _form(slug: str) -> Form | None:
    """The form a mail is about: live (cached), or as it was last (removed since)."""
    return get_form(slug) or latest_form(slug)


def _pending(lead: Mapping[str, Any]) -> bool:
    """Whether the lead still waits for its confirmation (a form without opt-in: never)."""
    opt_in = lead.get("opt_in")
    return opt_in is None or opt_in.get("status") == "pending"


class _Notification(NamedTuple):
    """A notification sent at once, as a `mails` row would describe it (it has none)."""

    kind: str
    form: str
    lead_ids: None
    recipient: str
    token: None


def notification_recipient(slug: str | None, target_id: uuid.UUID | None) -> str | None:
    """A notification's address: its form's `notify` entry named by `target_id`, if still there."""
    form = _form(slug) if slug else None
    return notify_recipient(form.notify, target_id) if form is not None else None


def _notification(entry: Entry, leads: Mapping[uuid.UUID, Mapping[str, Any]]) -> Any:
    """An outbox-only notification's mail; None when its lead or its address is gone.

    An address the operator removed from the form's `notify` since the lead came gets no
    mail (the entry is cancelled): the operator no longer wants mail there.
    """
    lead = leads.get(entry.lead_id)
    if entry.event != NOTIFICATION_EVENT or lead is None:
        return None
    recipient = notification_recipient(lead["form"], entry.target_id)
    if recipient is None:
        return None
    return _Notification(NOTIFICATION, lead["form"], None, recipient, None)


class MailChannel:
    """Mail to the recipients of `mails` rows, through one SMTP server."""

    name = NAME

    def __init__(self, policy: Policy, server: SmtpServer, composer: Composer) -> None:
        self.policy = policy
        self.server = server
        self.composer = composer

    @classmethod
    def from_config(cls, config: Mapping[str, Any]) -> MailChannel:
        """The channel with the app's mail and LEADAPP_WEBHOOK_* delivery settings."""
        timeout = float(config["LEADAPP_WEBHOOK_TIMEOUT"])
        policy = Policy(
            timeout=timeout,
            max_attempts=int(config["LEADAPP_WEBHOOK_MAX_ATTEMPTS"]),
            retry_seconds=float(config["LEADAPP_WEBHOOK_RETRY_SECONDS"]),
            batch_per_target=False,
        )
        server = SmtpServer.from_url(
            config["LEADAPP_SMTP_URL"], config.get("LEADAPP_SMTP_CA_FILE"), timeout
        )
        sender = config.get("LEADAPP_MAIL_FROM") or f"leadapp@{server.host}"
        return cls(policy, server, Composer(sender, config.get("LEADAPP_PUBLIC_URL")))

    def targets(self, connection: Connection, event: str, routing: Routing) -> list[uuid.UUID]:
        """None: a mail is queued by its cause (services/mail_queue), not by publishing."""
        return []

    def build(self, connection: Connection, entries: Sequence[Entry]) -> dict[uuid.UUID, Any]:
        """Each mail's envelope; left out: a mail row gone or a lead erased (or confirmed)."""
        rows = {
            row.id: row
            for row in connection.execute(
                select(
                    mails.c.id,
                    mails.c.kind,
                    mails.c.form,
                    mails.c.lead_ids,
                    mails.c.recipient,
                    mails.c.token,
                ).where(mails.c.id.in_({entry.target_id for entry in entries}))
            )
        }
        wanted: set[uuid.UUID] = set()
        for entry in entries:
            row = rows.get(entry.target_id)  # type: ignore[arg-type]
            if row is not None and row.kind == DIGEST:
                wanted.update(uuid.UUID(text) for text in (row.lead_ids or "").split(",") if text)
            else:
                wanted.add(entry.lead_id)
        leads = leads_as_created(connection, wanted)
        forms: dict[str, Form | None] = {}
        contents: dict[uuid.UUID, Any] = {}
        for entry in entries:
            row = rows.get(entry.target_id) or _notification(entry, leads)  # type: ignore[arg-type]
            if row is None:
                continue
            if row.form not in forms:
                forms[row.form] = _form(row.form)
            form = forms[row.form]
            if form is None:
                continue
            try:
                envelope = self._compose(entry, row, form, leads)
            except UnsafeHeader:
                log.warning("mail %s: not sent, a header value holds a line break", entry.id)
                continue
            if envelope is not None:
                contents[entry.id] = envelope
        return contents

    def _compose(
        self, entry: Entry, row: Any, form: Form, leads: Mapping[uuid.UUID, dict[str, Any]]
    ) -> Envelope | None:
        """One mail of its kind, or None when there is nothing (left) to send."""
        lead = leads.get(entry.lead_id)
        if row.kind == DIGEST:
            ids = [uuid.UUID(text) for text in (row.lead_ids or "").split(",") if text]
            listed = [leads[lead_id] for lead_id in ids if lead_id in leads]
            return self.composer.digest(entry.id, row.recipient, listed, form) if listed else None
        if lead is None:
            return None
        if row.kind == NOTIFICATION:
            return self.composer.notification(entry.id, row.recipient, lead, form)
        if row.kind == AUTORESPONSE and form.autoresponder:
            return self.composer.autoresponse(entry.id, row.recipient, form)
        if row.kind == CONFIRMATION and row.token and _pending(lead) and self.composer.public_url:
            return self.composer.confirmation(entry.id, row.recipient, row.token, form)
        return None

    def transport(self) -> SmtpTransport:
        """A transport for one worker."""
        return SmtpTransport(self.server)


def configured(config: Mapping[str, Any]) -> bool:
    """Whether mail can be sent at all (LEADAPP_SMTP_URL is set)."""
    return bool(config.get("LEADAPP_SMTP_URL"))


def mail_channel_for(app_config: Mapping[str, Any] | None = None) -> MailChannel:
    """A mail channel for the current app's settings (`mail test` uses one outside a worker)."""
    return MailChannel.from_config(app_config or current_app.config)
