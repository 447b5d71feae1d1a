"""Shared strict marshmallow fields: what every schema of query arguments reuses."""

from __future__ import annotations

import re
from typing import Any

from marshmallow import ValidationError, fields

from leadapp.models.form import SLUG

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
    """A form's slug as a query argument (`form=`): the slug pattern, or 422.

    A well-formed slug that names no form is not an error here: a removed form's leads
    still name it, and a slug no form ever had simply matches nothing.
    """

    default_error_messages = {
        "invalid": "Must be a form's slug: a-z, 0-9 and inner hyphens, at most 40 characters.",
    }

    def __init__(self, **kwargs: Any) -> None:
        metadata = {"pattern": f"^{SLUG.pattern}$", **kwargs.pop("metadata", {})}
        super().__init__(metadata=metadata, **kwargs)

    def _deserialize(self, value: Any, attr: str | None, data: Any, **kwargs: Any) -> str:
        """Accept a string matching the slug pattern exactly."""
        if not isinstance(value, str) or not SLUG.fullmatch(value):
            raise self.make_error("invalid")
        return value
