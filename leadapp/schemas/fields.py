"""Shared strict marshmallow fields: what every schema of query arguments reuses."""

from __future__ import annotations

import re
from typing import Any

from marshmallow import ValidationError, fields

from leadapp.models.form import SLUG, SLUG_MAX_CHARS

# Enough for any page size or day count; longer digit strings are refused before int().
MAX_INTEGER_DIGITS = 9
ASCII_DIGITS = re.compile(r"[0-9]+", re.ASCII)


class StrictInteger(fields.Integer):
    """A non-negative integer written in ASCII digits only, e.g. `limit` and `days`.

    Python's int() also takes `1_0`, ` 5 `, `+5`, Arabic-Indic and fullwidth digits; a
    query argument must not mean more than one spelling. A JSON integer (not a bool) is
    accepted as is, for schemas of bodies.
    """

    default_error_messages = {
        "invalid": "Must be a whole number written with the digits 0-9 only.",
        "too_large": f"Must have at most {MAX_INTEGER_DIGITS} digits.",
    }

    def _deserialize(self, value: Any, attr: str | None, data: Any, **kwargs: Any) -> int:
        """Accept ASCII digit strings and real integers; refuse every other spelling."""
        if isinstance(value, bool):
            raise self.make_error("invalid")
        if isinstance(value, int):
            return super()._deserialize(value, attr, data, **kwargs)
        if not isinstance(value, str) or not ASCII_DIGITS.fullmatch(value):
            raise self.make_error("invalid")
        if len(value) > MAX_INTEGER_DIGITS:
            raise self.make_error("too_large")
        try:
            return super()._deserialize(value, attr, data, **kwargs)
        except ValidationError:
            raise self.make_error("invalid") from None


class FormSlug(fields.String):
    """A query argument naming a form (`form=<slug>`): a slug's pattern, or a field error.

    Whether a form has (or ever had) the slug is the service's to answer, not the schema's.
    """

    default_error_messages = {"invalid_slug": "Must be a form's slug (a-z, 0-9 and -)."}

    def __init__(self, **kwargs: Any) -> None:
        """A string with the slug's pattern in the OpenAPI document."""
        metadata = {"pattern": "^" + SLUG.pattern + "$", **kwargs.pop("metadata", {})}
        super().__init__(metadata=metadata, **kwargs)

    def _deserialize(self, value: Any, attr: str | None, data: Any, **kwargs: Any) -> str:
        """The slug as given, when it matches the pattern."""
        slug = super()._deserialize(value, attr, data, **kwargs)
        if len(slug) > SLUG_MAX_CHARS or not SLUG.fullmatch(slug):
            raise self.make_error("invalid_slug")
        return slug
