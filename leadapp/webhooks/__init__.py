"""Webhooks: a transactional outbox of signed lead events, delivered by workers with retries."""
