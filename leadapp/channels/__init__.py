"""Outbox channels: each says whom an event goes to, builds its message at the claim, sends it.

The factory registers each channel with `leadapp.outbox.channel.register_channel`; the
outbox's mechanism never imports a channel.
"""
