"""Schemas of the operator endpoints: export bounds, the statistics window and its answer."""

from __future__ import annotations

import re
from datetime import UTC, datetime
from typing import Any

from marshmallow import RAISE, Schema, ValidationError, fields, validate, validates_schema

from leadapp.schemas.fields import FormSlug, StrictInteger

MAX_STATS_DAYS = 366
DEFAULT_STATS_DAYS = 30
# A date, or an RFC 3339 date-time with its offset (Z or ±hh:mm); nothing looser.
_DATE = re.compile(r"[0-9]{4}-[0-9]{2}-[0-9]{2}", re.ASCII)
_DATE_TIME = re.compile(
    r"[0-9]{4}-[0-9]{2}-[0-9]{2}[Tt ][0-9]{2}:[0-9]{2}:[0-9]{2}(\.[0-9]{1,9})?"
    r"([Zz]|[+-][0-9]{2}:[0-9]{2})",
    re.ASCII,
)
_BOUND_MESSAGE = "Must be a date (YYYY-MM-DD) or an RFC 3339 timestamp with an offset."


def parse_bound(raw: str) -> datetime:
    """A `from`/`to` value as aware UTC: a date means 00:00 UTC of that day."""
    try:
        if _DATE.fullmatch(raw):
            return datetime.strptime(raw, "%Y-%m-%d").replace(tzinfo=UTC)
        match = _DATE_TIME.fullmatch(raw)
        if match:
            text = raw[:10] + "T" + raw[11:]
            fraction = match.group(1)
            if fraction and len(fraction) > 7:
                # Python keeps microseconds; finer digits cannot change a comparison
                # with a stored timestamp, so they are cut rather than refused.
                text = text.replace(fraction, fraction[:7])
            return datetime.fromisoformat(text.upper().replace("Z", "+00:00")).astimezone(UTC)
    except ValueError:
        pass
    raise ValueError(_BOUND_MESSAGE)


class TimeBound(fields.Field):
    """A date or RFC 3339 timestamp in a query string."""

    def _deserialize(self, value: Any, attr: str | None, data: Any, **kwargs: Any) -> datetime:
        """Parse strictly; anything else is a field error."""
        if not isinstance(value, str):
            raise ValidationError(_BOUND_MESSAGE)
        try:
            return parse_bound(value)
        except ValueError as error:
            raise ValidationError(str(error)) from None


class ExportArgsSchema(Schema):
    """Query arguments of GET /leads/export.csv: from <= created_at < to, both optional."""

    class Meta:
        unknown = RAISE

    start = TimeBound(
        data_key="from",
        metadata={
            "description": "Only leads created at or after this (a date is 00:00 UTC).",
            "type": "string",
            "example": "2026-11-01",
        },
    )
    end = TimeBound(
        data_key="to",
        metadata={
            "description": "Only leads created before this (a date is 00:00 UTC).",
            "type": "string",
            "example": "2026-12-01T00:00:00Z",
        },
    )

    form = FormSlug(
        metadata={
            "description": (
                "Only this form's leads (a removed form's too), with one column per custom "
                "field the form has (a removed form: had) instead of `fields`. A slug no form "
                "ever had gives the header row alone."
            ),
            "example": "spring-sale",
        }
    )

    @validates_schema
    def _ordered(self, data: dict[str, Any], **kwargs: Any) -> None:
        """`from` after `to` is a mistake, not an empty export."""
        if "start" in data and "end" in data and data["start"] > data["end"]:
            raise ValidationError("Must not be later than `to`.", field_name="from")


class StatsArgsSchema(Schema):
    """Query arguments of GET /stats."""

    class Meta:
        unknown = RAISE

    days = StrictInteger(
        load_default=DEFAULT_STATS_DAYS,
        validate=validate.Range(min=1, max=MAX_STATS_DAYS),
        metadata={"description": f"UTC days up to today, 1-{MAX_STATS_DAYS}."},
    )
    form = FormSlug(
        metadata={
            "description": (
                "Only this form's leads (a removed form's too; a slug no form ever had counts "
                "none). Spam is counted for every form, whatever this says."
            ),
            "example": "spring-sale",
        }
    )


class StatsDaySchema(Schema):
    """One UTC day of the statistics."""

    date = fields.Date(required=True)
    leads = fields.Integer(required=True)
    spam = fields.Integer(
        required=True,
        metadata={
            "description": (
                "Honeypot hits and refused challenges, of every form (spam is not counted "
                "per form)."
            )
        },
    )


class StatsSourceSchema(Schema):
    """Leads of one source (or, where it is absent, utm_source; null when both are)."""

    source = fields.String(required=True, allow_none=True)
    leads = fields.Integer(required=True)


class StatsFormSchema(Schema):
    """Leads of one form."""

    form = fields.String(required=True, metadata={"description": "The form's slug."})
    leads = fields.Integer(required=True)


class StatsSchema(Schema):
    """The answer of GET /stats."""

    days = fields.List(fields.Nested(StatsDaySchema), required=True)
    sources = fields.List(fields.Nested(StatsSourceSchema), required=True)
    total_leads = fields.Integer(required=True)
    forms = fields.List(
        fields.Nested(StatsFormSchema),
        metadata={
            "description": (
                "Without `form`: the leads of those days per form (removed forms included), "
                "most first, ties by slug; forms without leads then are not listed. Absent "
                "with `form`."
            )
        },
    )


__all__ = [
    "ExportArgsSchema",
    "StatsArgsSchema",
    "StatsSchema",
    "parse_bound",
]
