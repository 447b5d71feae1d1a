"""Marshmallow schemas: validation of input, shaping of output."""

from leadapp.schemas.lead import LeadCreateSchema, LeadPageSchema, LeadQueryArgsSchema, LeadSchema

__all__ = ["LeadCreateSchema", "LeadPageSchema", "LeadQueryArgsSchema", "LeadSchema"]
