"""The settings the public form page needs, and nothing else about the configuration."""

from __future__ import annotations

from leadapp.services import forms


def current() -> dict[str, object]:
    """The default form's public settings: challenge and consent text in force, and the rest."""
    return forms.public_settings(forms.default_form())
