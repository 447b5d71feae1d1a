"""Attribution of a lead: where it came from, validated as strictly as the personal fields."""

from __future__ import annotations

import re
from collections.abc import Mapping
from typing import Any
from urllib.parse import urlsplit

from marshmallow import RAISE, Schema, ValidationError, fields, post_load

from leadapp.models.lead import ATTRIBUTION_FIELDS, SOURCE_MAX_CHARS, URL_MAX_CHARS, UTM_MAX_CHARS

URL_SCHEMES = ("http", "https")
# Unicode categories Cc (C0, DEL, C1) and Cs (surrogates), exactly; one scan, not a lookup per char.
CONTROL_CHARACTERS = re.compile("[\x00-\x1f\x7f-\x9f\ud800-\udfff]")
# str.isspace()'s characters: what re's \s matches in a str pattern.
WHITESPACE = re.compile(r"\s")


def _trimmed(value: Any, max_chars: int) -> str:
    """A strict string, trimmed, of at most max_chars characters and no control characters."""
    if not isinstance(value, str):
        raise ValidationError("Must be a string.")
    value = value.strip()
    if len(value) > max_chars:
        raise ValidationError(f"Must be at most {max_chars} characters.")
    if CONTROL_CHARACTERS.search(value):
        raise ValidationError("Must not contain control characters.")
    return value


def check_absolute_url(value: str) -> str:
    """Accept only an absolute http or https URL with a host (no javascript:, data:, ...)."""
    if WHITESPACE.search(value):
        raise ValidationError("Must be an absolute http or https URL (no spaces).")
    try:
        parts = urlsplit(value)
        parts.port  # noqa: B018  (raises ValueError on a malformed port)
    except ValueError:
        raise ValidationError("Must be an absolute http or https URL.") from None
    if parts.scheme.lower() not in URL_SCHEMES or not parts.hostname:
        raise ValidationError("Must be an absolute http or https URL.")
    return value


class AttributionText(fields.Field):
    """A plain attribution member: a trimmed string; the empty string means absent."""

    def __init__(self, max_chars: int, *, url: bool = False, **kwargs: Any) -> None:
        metadata = {"type": "string", "maxLength": max_chars, **kwargs.pop("metadata", {})}
        if url:
            metadata["format"] = "uri"
        super().__init__(metadata=metadata, **kwargs)
        self.max_chars = max_chars
        self.url = url

    def _deserialize(self, value: Any, attr: str | None, data: Any, **kwargs: Any) -> str:
        """Trim and check; URLs must be absolute http or https."""
        text = _trimmed(value, self.max_chars)
        if text and self.url:
            check_absolute_url(text)
        return text


class AttributionSchema(Schema):
    """The `attribution` object of POST /leads: eight optional string members, nothing else."""

    class Meta:
        unknown = RAISE

    source = AttributionText(
        SOURCE_MAX_CHARS,
        metadata={
            "description": "Where the lead came from; defaults to the API key's name.",
            "example": "spring-landing-page",
        },
    )
    utm_source = AttributionText(UTM_MAX_CHARS, metadata={"example": "newsletter"})
    utm_medium = AttributionText(UTM_MAX_CHARS, metadata={"example": "email"})
    utm_campaign = AttributionText(UTM_MAX_CHARS, metadata={"example": "spring-sale"})
    utm_term = AttributionText(UTM_MAX_CHARS, metadata={"description": "Stored encrypted."})
    utm_content = AttributionText(UTM_MAX_CHARS, metadata={"description": "Stored encrypted."})
    page_url = AttributionText(
        URL_MAX_CHARS,
        url=True,
        metadata={
            "description": "The page the form was on; stored encrypted.",
            "example": "https://example.com/offer?utm_source=newsletter",
        },
    )
    referrer = AttributionText(
        URL_MAX_CHARS,
        url=True,
        metadata={"description": "The page before it; stored encrypted."},
    )

    @post_load
    def _drop_empty(self, data: dict[str, str], **_kwargs: Any) -> dict[str, str]:
        """An empty string is the same as leaving the member out."""
        return {name: value for name, value in data.items() if value}


class AttributionField(fields.Nested):
    """The `attribution` member: an AttributionSchema, loaded member by member.

    OpenAPI documents it as the nested schema it is, and each member is checked by that
    schema's own field; only the nested `Schema.load` is skipped, whose machinery
    (processors, getters, the error store) cost about five times the eight checks.
    """

    def __init__(self, **kwargs: Any) -> None:
        super().__init__(AttributionSchema, **kwargs)

    def _deserialize(self, value: Any, attr: str | None, data: Any, **kwargs: Any) -> Any:
        """The given non-empty members, trimmed; every bad or unknown member named at once."""
        if not isinstance(value, Mapping):
            raise ValidationError({"_schema": [self.schema.error_messages["type"]]})
        members = self.schema.fields
        loaded: dict[str, str] = {}
        errors: dict[str, list[str]] = {}
        for name, given in value.items():
            member = members.get(name)
            if member is None:
                errors[name] = [self.schema.error_messages["unknown"]]
                continue
            try:
                text = member.deserialize(given, name, value)
            except ValidationError as error:
                errors[name] = error.messages  # type: ignore[assignment]
                continue
            if text:
                loaded[name] = text
        if errors:
            raise ValidationError(errors, valid_data=loaded)
        return loaded


def attribution_columns(
    attribution: Mapping[str, str] | None, default_source: str | None
) -> dict[str, str | None]:
    """The eight attribution column values: given members, the default source, else None."""
    given = dict(attribution or {})
    if default_source and not given.get("source"):
        given["source"] = default_source[:SOURCE_MAX_CHARS]
    return {name: given.get(name) for name in ATTRIBUTION_FIELDS}


def flatten_errors(messages: Mapping[str, Any], prefix: str = "") -> dict[str, list[str]]:
    """Marshmallow's nested messages as one level keyed by dotted path ("attribution.page_url").

    A nested schema's own error (`_schema`, e.g. "not an object") belongs to its parent.
    """
    flat: dict[str, list[str]] = {}
    for key, value in messages.items():
        path = prefix if key == "_schema" and prefix else f"{prefix}.{key}" if prefix else key
        if isinstance(value, Mapping):
            for inner, inner_messages in flatten_errors(value, path).items():
                flat.setdefault(inner, []).extend(inner_messages)
        else:
            flat.setdefault(path, []).extend(value if isinstance(value, list) else [str(value)])
    return flat
