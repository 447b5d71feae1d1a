"""The webhook channel: lead events POSTed to subscribed endpoints, signed (Standard Webhooks)."""
