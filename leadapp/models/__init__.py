"""Database models; importing this package registers every table on the metadata."""

from leadapp.models.lead import Lead

__all__ = ["Lead"]
