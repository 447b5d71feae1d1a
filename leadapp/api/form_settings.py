"""GET /form-settings: what the form page must show and do (challenge, consent text)."""

from __future__ import annotations

from flask import Blueprint

from leadapp.api.responses import DATABASE, responds
from leadapp.schemas.bot_defence import FormSettingsSchema
from leadapp.services import form_settings

bp = Blueprint("form_settings", __name__)
settings_schema = FormSettingsSchema()


@bp.get("/form-settings")
@responds(200, *DATABASE)
def get_form_settings():
    """Whether the challenge is on, and the consent text to show (or null)."""
    return settings_schema.dump(form_settings.current())
