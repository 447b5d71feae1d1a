"""The events a lead goes through, as services publish them and channels subscribe to them."""

LEAD_CREATED = "lead.created"
LEAD_ERASED = "lead.erased"
EVENTS = (LEAD_CREATED, LEAD_ERASED)
