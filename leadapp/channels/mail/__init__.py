"""The mail channel of the outbox: notifications, digests, autoresponses, confirmations."""
