"""Forms in tests: a document with a custom field of each type, good values, PUT and POST."""

from __future__ import annotations

from typing import Any

from flask import Flask

from tests.support.client import post_lead

# One custom field of each of the seven types.
ONE_OF_EACH = [
    {"name": "company", "label": "Company", "type": "text", "required": True},
    {"name": "message", "label": "Message", "type": "textarea", "max_length": 50},
    {"name": "budget", "label": "Budget", "type": "number", "min": 0, "max": 100000},
    {"name": "start", "label": "Start", "type": "date"},
    {"name": "plan", "label": "Plan", "type": "select", "options": ["basic", "pro"]},
    {"name": "terms", "label": "Terms", "type": "checkbox", "required": True},
    {"name": "site", "label": "Website", "type": "url"},
]
# Values ONE_OF_EACH accepts (stored trimmed: "Acme", "pro").
GOOD_VALUES = {
    "company": "  Acme  ",
    "message": "line one\nline two",
    "budget": 5000.5,
    "start": "2026-02-28",
    "plan": " pro ",
    "terms": True,
    "site": "https://acme.example/about",
}


def put(app: Flask, admin: dict, slug: str, document: Any):
    """PUT a form document (`admin`: the Authorization header)."""
    return app.test_client().put(f"/forms/{slug}", json=document, headers=admin)


def post(app: Flask, slug: str, body: Any, ip: str = "203.0.113.9", headers: dict | None = None):
    """POST a lead to a form from a client address."""
    return post_lead(app, body, ip=ip, headers=headers, path=f"/f/{slug}")
