"""Marshmallow schemas for leads: what POST /leads accepts and what the API returns."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from flask import current_app
from marshmallow import RAISE, Schema, ValidationError, fields, post_load, validate

from leadapp.normalize import (
    EMAIL_MAX_CHARS,
    IP_MAX_CHARS,
    NAME_MAX_CHARS,
    PHONE_MAX_CHARS,
    normalize_email,
    normalize_email_lookup,
    normalize_ip,
    normalize_name,
    normalize_phone,
)
from leadapp.schemas.attribution import AttributionField, flatten_errors
from leadapp.schemas.fields import FormSlug, StrictInteger
from leadapp.timeutil import rfc3339

# A solved challenge is a few hundred characters of base64; anything far longer is not one.
CHALLENGE_MAX_CHARS = 2048


class NormalizedString(fields.String):
    """A strict string field whose value passes through a normalizer."""

    def __init__(self, normalizer: Callable[[str], str], **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.normalizer = normalizer

    def _deserialize(self, value: Any, attr: str | None, data: Any, **kwargs: Any) -> str:
        """Refuse non-strings (no coercion), then normalize."""
        if not isinstance(value, str):
            raise ValidationError("Must be a string.")
        try:
            return self.normalizer(value)
        except ValueError as error:
            raise ValidationError(str(error)) from None


class StrictString(fields.String):
    """A string field that refuses every other JSON type (marshmallow accepts bytes too)."""

    def _deserialize(self, value: Any, attr: str | None, data: Any, **kwargs: Any) -> str:
        """Refuse non-strings."""
        if not isinstance(value, str):
            raise ValidationError("Must be a string.")
        return super()._deserialize(value, attr, data, **kwargs)


class StrictBoolean(fields.Boolean):
    """A JSON boolean and nothing else (marshmallow would take "yes", 1, "on", ...)."""

    def _deserialize(self, value: Any, attr: str | None, data: Any, **kwargs: Any) -> bool:
        """Refuse anything but true and false."""
        if not isinstance(value, bool):
            raise ValidationError("Must be true or false.")
        return value


def _phone_in_default_region(raw: str) -> str:
    """Normalize a phone number in the app's configured default region."""
    return normalize_phone(raw, current_app.config["LEADAPP_DEFAULT_REGION"])


def _required_field(
    normalizer: Callable[[str], str], example: str, max_chars: int, **metadata: str
) -> NormalizedString:
    """A required POST /leads field, with its example and length limit for OpenAPI."""
    return NormalizedString(
        normalizer,
        required=True,
        metadata={"example": example, "maxLength": max_chars, **metadata},
    )


class LeadCreateSchema(Schema):
    """The body of POST /leads."""

    class Meta:
        unknown = RAISE

    name = _required_field(normalize_name, "Ada Lovelace", NAME_MAX_CHARS)
    email = _required_field(normalize_email, "ada@example.com", EMAIL_MAX_CHARS, format="email")
    phone = _required_field(_phone_in_default_region, "+44 20 7946 0958", PHONE_MAX_CHARS)
    ip_address = NormalizedString(
        normalize_ip,
        metadata={
            "description": "The visitor's IP address; only with an API key.",
            "example": "203.0.113.7",
            "maxLength": IP_MAX_CHARS,
        },
    )
    attribution = AttributionField(
        metadata={"description": "Where the lead came from; every member optional."},
    )
    consent = StrictBoolean(
        metadata={
            "description": "Required, and must be true, when LEADAPP_CONSENT_TEXT is set; "
            "recorded with the text in force."
        }
    )
    challenge = StrictString(
        validate=validate.Length(max=CHALLENGE_MAX_CHARS),
        metadata={
            "description": "The solved GET /challenge: base64 of the ALTCHA payload JSON "
            '{"algorithm", "challenge", "number", "salt", "signature"}. Needed from '
            "anonymous callers when LEADAPP_CHALLENGE=on; never stored."
        },
    )
    website = StrictString(
        metadata={
            "description": "Honeypot, hidden on the form page: people leave it empty. Never stored."
        }
    )
    # Checked by the lead's form (schemas/form.py load_custom_values), not by this schema.
    fields_ = fields.Raw(
        data_key="fields",
        attribute="custom_fields",
        load_only=True,
        metadata={
            "type": "object",
            "description": "The custom values, by field name, as the form defines them.",
        },
    )

    @post_load
    def _drop_custom_fields(self, data: dict[str, Any], **_kwargs: Any) -> dict[str, Any]:
        """The custom values are the form's to check and store: not a member of the fields."""
        data.pop("custom_fields", None)
        return data

    def handle_error(self, error: ValidationError, data: Any, **kwargs: Any) -> None:
        """Name nested errors by dotted path, as the contract does ("attribution.page_url")."""
        if isinstance(error.messages, dict):
            raise ValidationError(
                flatten_errors(error.messages), data=error.data, valid_data=error.valid_data
            )


class UTCDateTime(fields.DateTime):
    """RFC 3339 in UTC; naive values (SQLite) are read as UTC."""

    def _serialize(self, value: Any, attr: str | None, obj: Any, **kwargs: Any) -> str | None:
        """Format with an explicit UTC offset."""
        return None if value is None else rfc3339(value)


class AttributionOutSchema(Schema):
    """A lead's attribution as returned: all eight members, null where not given."""

    source = fields.String(required=True, allow_none=True)
    utm_source = fields.String(required=True, allow_none=True)
    utm_medium = fields.String(required=True, allow_none=True)
    utm_campaign = fields.String(required=True, allow_none=True)
    utm_term = fields.String(required=True, allow_none=True)
    utm_content = fields.String(required=True, allow_none=True)
    page_url = fields.String(required=True, allow_none=True)
    referrer = fields.String(required=True, allow_none=True)


class ConsentSchema(Schema):
    """The consent a lead gave: when, and the exact text in force then (or null)."""

    given_at = UTCDateTime(required=True)
    text = fields.String(required=True, allow_none=True)


class OptInSchema(Schema):
    """A double opt-in's state."""

    status = fields.String(required=True, metadata={"enum": ["pending", "confirmed"]})
    confirmed_at = UTCDateTime(required=True, allow_none=True)


class LeadSchema(Schema):
    """A lead as the API returns it, decrypted."""

    id = fields.UUID(required=True)
    name = fields.String(required=True)
    email = fields.String(required=True)
    phone = fields.String(required=True)
    ip_address = fields.String(required=True, allow_none=True)
    created_at = UTCDateTime(required=True)
    attribution = fields.Nested(AttributionOutSchema, required=True)
    consent = fields.Nested(ConsentSchema, required=True, allow_none=True)
    resubmissions = fields.Integer(
        required=True,
        metadata={"description": "Refused duplicate submissions by this email or phone."},
    )
    last_resubmitted_at = UTCDateTime(required=True, allow_none=True)
    form = fields.String(required=True, metadata={"description": "The slug of the lead's form."})
    fields_ = fields.Dict(
        required=True,
        data_key="fields",
        attribute="fields",
        metadata={"description": "The custom values given, by field name; {} when none."},
    )
    opt_in = fields.Nested(
        OptInSchema,
        required=True,
        allow_none=True,
        metadata={"description": "Null for a form without double opt-in."},
    )


class LeadQueryArgsSchema(Schema):
    """Query arguments of GET /leads; email and phone are normalized as on POST /leads."""

    class Meta:
        unknown = RAISE

    limit = StrictInteger(
        load_default=50,
        validate=validate.Range(min=1, max=100),
        metadata={"description": "Page size, 1-100."},
    )
    cursor = fields.String(
        metadata={"description": "next_cursor of the previous page.", "minLength": 1}
    )
    email = NormalizedString(
        normalize_email_lookup,
        metadata={"description": "Exact email match.", "format": "email"},
    )
    phone = NormalizedString(
        _phone_in_default_region, metadata={"description": "Exact phone match."}
    )
    form = FormSlug(
        metadata={
            "description": "Only this form's leads (a removed form's too; a slug no form "
            "ever had matches none). A cursor continues only the listing it came from."
        }
    )


class LeadPageSchema(Schema):
    """One page of leads."""

    items = fields.List(fields.Nested(LeadSchema), required=True)
    next_cursor = fields.String(required=True, allow_none=True)
