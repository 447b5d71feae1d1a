"""GET /form-settings: what the default form's page must show and do, as GET /f/<slug>/settings."""

from __future__ import annotations

from flask import Blueprint

from leadapp.api.responses import DATABASE, responds
from leadapp.schemas.form import PublicFormSettingsSchema
from leadapp.services import form_settings

bp = Blueprint("form_settings", __name__)
settings_schema = PublicFormSettingsSchema()


@bp.get("/form-settings")
@responds(200, *DATABASE)
def get_form_settings():
    """Whether the challenge is on, and the consent text to show (or null)."""
    return settings_schema.dump(form_settings.current())
