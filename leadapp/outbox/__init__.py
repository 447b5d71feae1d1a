"""The outbox: one queue of messages for every channel, written in the caller's transaction.

The mechanism (queue writes, claims with leases, batches, retries with backoff, `failed` and
retry, the worker loop and its stop) is written once here and knows no channel. A channel
(leadapp/channels/…) says whom an event goes to, how a claimed message is built from the
lead's row, and how a batch is sent; the factory registers each with `register_channel`.
"""
