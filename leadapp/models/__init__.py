"""Database models; importing this package registers every table on the metadata."""

from leadapp.models.apikey import ApiKey
from leadapp.models.audit import AuditEvent
from leadapp.models.blocklist import BlockedNetwork
from leadapp.models.challenge import UsedChallenge
from leadapp.models.consent import ConsentText
from leadapp.models.form import Form
from leadapp.models.lead import Lead
from leadapp.models.mail import Mail, MailCount
from leadapp.models.outbox import OutboxMessage
from leadapp.models.spam import SpamCount
from leadapp.models.webhook import WebhookEndpoint

__all__ = [
    "ApiKey",
    "AuditEvent",
    "BlockedNetwork",
    "ConsentText",
    "Form",
    "Lead",
    "Mail",
    "MailCount",
    "OutboxMessage",
    "SpamCount",
    "UsedChallenge",
    "WebhookEndpoint",
]
