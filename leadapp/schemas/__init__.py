"""Marshmallow schemas: validation of input, shaping of output."""

from leadapp.schemas.lead import LeadCreateSchema, LeadSchema

__all__ = ["LeadCreateSchema", "LeadSchema"]
