"""Compose each kind of mail as an `email.message.EmailMessage`, from rows read at the claim.

The lead's values go in bodies only, rendered by Jinja2 (HTML with autoescaping); headers are
built from LeadApp's settings, the form's document and addresses, each checked to hold no
line break. Links come only from LEADAPP_PUBLIC_URL.
"""

from __future__ import annotations

import json
import uuid
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime
from email.message import EmailMessage
from email.utils import format_datetime
from pathlib import Path
from typing import Any

from jinja2 import Environment, FileSystemLoader, StrictUndefined, select_autoescape

from leadapp.services.forms import Form
from leadapp.timeutil import rfc3339, utcnow

TEMPLATES = Path(__file__).resolve().parent / "templates"
AUTO_GENERATED = "auto-generated"
AUTO_REPLIED = "auto-replied"


class UnsafeHeader(ValueError):
    """A header value holds a line break (it could add headers of its own)."""


def one_line(value: str) -> str:
    """`value` if it is safe in a header (no CR, LF or other line break), else UnsafeHeader."""
    if any(character in value for character in "\r\n\v\f\x1c\x1d\x1e\x85\u2028\u2029"):
        raise UnsafeHeader("a header value holds a line break")
    return value


def template_environment() -> Environment:
    """The mail templates: HTML autoescaped, text as written; a missing value is an error."""
    return Environment(
        loader=FileSystemLoader(TEMPLATES),
        autoescape=select_autoescape(["html"]),
        undefined=StrictUndefined,
        keep_trailing_newline=True,
    )


@dataclass(frozen=True)
class Envelope:
    """Who sends a mail and to whom (SMTP's MAIL FROM and RCPT TO), and its message."""

    sender: str
    recipient: str
    message: EmailMessage


def message_id(entry_id: uuid.UUID, sender: str) -> str:
    """A Message-ID the same on every attempt: the outbox row's id at the From's domain."""
    return f"<{entry_id.hex}@{sender.rpartition('@')[2]}>"


def _custom_rows(form: Form, values: Mapping[str, Any]) -> list[tuple[str, str]]:
    """The lead's custom values as (label, text), in the form's order, then any others."""
    labels = {field["name"]: field.get("label") or field["name"] for field in form.fields}
    ordered = [name for name in labels if name in values]
    ordered += sorted(name for name in values if name not in labels)
    return [(labels.get(name, name), _text(values[name])) for name in ordered]


def _text(value: Any) -> str:
    """A custom value as text: booleans as yes/no, the rest as sent."""
    if isinstance(value, bool):
        return "yes" if value else "no"
    return value if isinstance(value, str) else json.dumps(value)


def lead_context(lead: Mapping[str, Any], form: Form) -> dict[str, Any]:
    """What the notification and digest templates show of one lead."""
    consent = lead["consent"]
    return {
        "name": lead["name"],
        "email": lead["email"],
        "phone": lead["phone"],
        "time": rfc3339(lead["created_at"]),
        "attribution": [(k, v) for k, v in (lead["attribution"] or {}).items() if v],
        "consent": (
            None
            if consent is None
            else {"given_at": rfc3339(consent["given_at"]), "text": consent["text"]}
        ),
        "fields": _custom_rows(form, lead["fields"] or {}),
    }


class Composer:
    """Builds the four kinds of mail with the app's From, public URL and templates."""

    def __init__(self, sender: str, public_url: str | None) -> None:
        self.sender = one_line(sender)
        self.public_url = public_url
        self.templates = template_environment()

    def _message(
        self, entry_id: uuid.UUID, recipient: str, subject: str, auto: str, now: datetime
    ) -> EmailMessage:
        """The headers every mail has; the caller adds its parts."""
        message = EmailMessage()
        message["From"] = self.sender
        message["To"] = one_line(recipient)
        message["Subject"] = one_line(subject)
        message["Date"] = format_datetime(now)
        message["Message-ID"] = message_id(entry_id, self.sender)
        message["Auto-Submitted"] = auto
        return message

    def _render(self, message: EmailMessage, name: str, context: Mapping[str, Any]) -> None:
        """The plain-text part and its HTML alternative from `name`.txt and `name`.html."""
        message.set_content(self.templates.get_template(f"{name}.txt").render(context))
        html = self.templates.get_template(f"{name}.html").render(context)
        message.add_alternative(html, subtype="html")

    def _admin_url(self) -> str | None:
        """The admin page's URL, when the public URL is set."""
        return f"{self.public_url}/admin" if self.public_url else None

    def notification(
        self, entry_id: uuid.UUID, recipient: str, lead: Mapping[str, Any], form: Form
    ) -> Envelope:
        """`New lead: <title>` to a notify address, replying to the lead's email."""
        message = self._message(
            entry_id, recipient, f"New lead: {form.title}", AUTO_GENERATED, utcnow()
        )
        message["Reply-To"] = one_line(lead["email"])
        context = {
            "form": form,
            "lead": lead_context(lead, form),
            "admin_url": self._admin_url(),
        }
        self._render(message, "notification", context)
        return Envelope(self.sender, recipient, message)

    def digest(
        self,
        entry_id: uuid.UUID,
        recipient: str,
        leads: Sequence[Mapping[str, Any]],
        form: Form,
    ) -> Envelope:
        """`N more new leads: <title>`: the leads held past the hourly cap.

        The contract's subject word for word, "1 more new leads" too: a mail filter may match it.
        """
        subject = f"{len(leads)} more new leads: {form.title}"
        message = self._message(entry_id, recipient, subject, AUTO_GENERATED, utcnow())
        context = {
            "form": form,
            "leads": [lead_context(lead, form) for lead in leads],
            "admin_url": self._admin_url(),
        }
        self._render(message, "digest", context)
        return Envelope(self.sender, recipient, message)

    def autoresponse(self, entry_id: uuid.UUID, recipient: str, form: Form) -> Envelope:
        """The form's autoresponder, subject and body exactly: nothing a visitor typed."""
        autoresponder = form.autoresponder or {}
        message = self._message(
            entry_id, recipient, autoresponder["subject"], AUTO_REPLIED, utcnow()
        )
        message.set_content(autoresponder["body"])
        return Envelope(self.sender, recipient, message)

    def confirmation(self, entry_id: uuid.UUID, recipient: str, token: str, form: Form) -> Envelope:
        """`Please confirm: <title>` with the link to confirm; no visitor-typed value."""
        if not self.public_url:
            raise ValueError("a confirmation mail needs LEADAPP_PUBLIC_URL")
        message = self._message(
            entry_id, recipient, f"Please confirm: {form.title}", AUTO_GENERATED, utcnow()
        )
        context = {"form": form, "link": f"{self.public_url}/confirm/{token}"}
        self._render(message, "confirmation", context)
        return Envelope(self.sender, recipient, message)

    def test(self, recipient: str) -> Envelope:
        """The `mail test` message: says where it came from, holds nothing else."""
        message = self._message(
            uuid.uuid4(), recipient, "LeadApp test mail", AUTO_GENERATED, utcnow()
        )
        message.set_content(
            "This is a test mail from LeadApp (flask mail test): its mail settings work.\n"
        )
        return Envelope(self.sender, recipient, message)
