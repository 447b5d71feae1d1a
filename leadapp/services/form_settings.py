"""The settings the public form page needs, and nothing else about the configuration."""

from __future__ import annotations

from flask import current_app

from leadapp.services import consent


def current() -> dict[str, object]:
    """{"challenge": bool, "consent_text": str or None}."""
    return {
        "challenge": bool(current_app.config["LEADAPP_CHALLENGE"]),
        "consent_text": consent.current_text(),
    }
