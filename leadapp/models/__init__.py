"""Database models; importing this package registers every table on the metadata."""

from leadapp.models.apikey import ApiKey
from leadapp.models.audit import AuditEvent
from leadapp.models.blocklist import BlockedNetwork
from leadapp.models.lead import Lead

__all__ = ["ApiKey", "AuditEvent", "BlockedNetwork", "Lead"]
