"""The form document (PUT /forms/<slug>) and the custom values of a lead, validated by a form.

Both are checked member by member, so every error is named by its dotted path
(`fields.2.options`, `labels.submit`, `notify.0`, `fields.company`), as the contract says.
The marshmallow schemas at the end shape what the API returns (and OpenAPI describes).
"""

from __future__ import annotations

import json
import math
import re
from collections.abc import Mapping, Sequence
from datetime import date
from decimal import Decimal
from typing import Any
from urllib.parse import urlsplit

from marshmallow import Schema, ValidationError, fields

from leadapp.models.form import SLUG, SLUG_MAX_CHARS
from leadapp.models.lead import CUSTOM_FIELDS_MAX_BYTES, URL_MAX_CHARS
from leadapp.normalize import EMAIL_MAX_CHARS, normalize_email
from leadapp.schemas.attribution import CONTROL_CHARACTERS, check_absolute_url
from leadapp.schemas.lead import UTCDateTime

FIELD_NAME = re.compile(r"[a-z][a-z0-9_]{0,39}", re.ASCII)
ISO_DATE = re.compile(r"[0-9]{4}-[0-9]{2}-[0-9]{2}", re.ASCII)
# Control characters except tab, line feed and carriage return: what a textarea refuses.
CONTROL_BUT_LINE_BREAKS = re.compile("[\x00-\x08\x0b\x0c\x0e-\x1f\x7f-\x9f\ud800-\udfff]")

TITLE_MAX_CHARS = 100
MAX_ORIGINS = 20
CONSENT_TEXT_MAX_CHARS = 2000
LABEL_MAX_CHARS = 200
LABEL_MEMBERS = ("name", "email", "phone", "submit", "thanks")
MAX_FIELDS = 20
MAX_NOTIFY = 10
SUBJECT_MAX_CHARS = 200
BODY_MAX_CHARS = 5000
MAX_OPTIONS = 50
OPTION_MAX_CHARS = 100
MAX_SIGNIFICANT_DIGITS = 15
# PUT /forms/<slug> takes a larger body than POST /leads (contract: at most 64 KiB).
FORM_DOCUMENT_MAX_BYTES = 64 * 1024

FIELD_TYPES = ("text", "textarea", "number", "date", "select", "checkbox", "url")
COMMON_FIELD_MEMBERS = ("name", "label", "type", "required")
# The members each type has beside the common ones, and their defaults (None: optional).
TYPE_MEMBERS: dict[str, dict[str, Any]] = {
    "text": {"max_length": 200},
    "textarea": {"max_length": 2000},
    "number": {"min": None, "max": None},
    "date": {},
    "select": {"options": None},
    "checkbox": {},
    "url": {},
}
MAX_LENGTH_LIMITS = {"text": 2000, "textarea": 10_000}
RESERVED_NAMES = frozenset(
    {
        "id",
        "name",
        "email",
        "phone",
        "ip_address",
        "attribution",
        "consent",
        "challenge",
        "website",
        "form",
        "fields",
        "opt_in",
        "source",
        "page_url",
        "referrer",
        # The export's own columns.
        "created_at",
        "consent_given_at",
        "consent_text",
        "resubmissions",
        "last_resubmitted_at",
        "opt_in_status",
        "opt_in_confirmed_at",
    }
)
READ_ONLY_MEMBERS = ("slug", "created_at", "updated_at", "leads")
MAIL_SETTINGS = ("LEADAPP_SMTP_URL", "LEADAPP_MAIL_FROM")
# Every settable member and its default (`title` defaults to the slug).
DEFAULTS: dict[str, Any] = {
    "title": None,
    "origins": [],
    "consent_text": None,
    "challenge": False,
    "success_url": None,
    "labels": {},
    "fields": [],
    "notify": [],
    "autoresponder": None,
    "double_opt_in": False,
    "one_lead_per_ip": True,
}
UNKNOWN = "Unknown field."


class Invalid(Exception):
    """One member's error, raised by a checker and named by its caller."""


def _text(value: Any, max_chars: int, *, line_breaks: bool = False, min_chars: int = 1) -> str:
    """A trimmed string of min..max characters without control characters."""
    if not isinstance(value, str):
        raise Invalid("Must be a string.")
    value = value.strip()
    if len(value) < min_chars:
        raise Invalid("Must not be empty.")
    if len(value) > max_chars:
        raise Invalid(f"Must be at most {max_chars} characters.")
    if (CONTROL_BUT_LINE_BREAKS if line_breaks else CONTROL_CHARACTERS).search(value):
        raise Invalid("Must not contain control characters.")
    return value


def _boolean(value: Any) -> bool:
    """A JSON boolean."""
    if not isinstance(value, bool):
        raise Invalid("Must be true or false.")
    return value


def _url(value: Any) -> str:
    """An absolute http or https URL of at most 2,048 characters."""
    text = _text(value, URL_MAX_CHARS)
    try:
        return check_absolute_url(text)
    except ValidationError as error:
        raise Invalid(str(error.messages[0])) from None  # type: ignore[index]


def _number(value: Any) -> int | float:
    """A JSON number, finite as a 64-bit float, of at most 15 significant digits."""
    if isinstance(value, bool) or not isinstance(value, int | float):
        raise Invalid("Must be a number.")
    try:
        finite = math.isfinite(float(value))
    except OverflowError:
        finite = False
    if not finite:
        raise Invalid("Must be a finite number.")
    digits = Decimal(repr(value)).normalize().as_tuple().digits
    if len(digits) > MAX_SIGNIFICANT_DIGITS:
        raise Invalid(f"Must have at most {MAX_SIGNIFICANT_DIGITS} significant digits.")
    return value


def _integer(value: Any, low: int, high: int) -> int:
    """A JSON integer within low..high."""
    if isinstance(value, bool) or not isinstance(value, int):
        raise Invalid("Must be a whole number.")
    if not low <= value <= high:
        raise Invalid(f"Must be between {low} and {high}.")
    return value


def _origin(value: Any) -> str:
    """An origin: http or https, a host and an optional port; no path, query or slash."""
    text = _text(value, URL_MAX_CHARS)
    try:
        parts = urlsplit(text)
        parts.port  # noqa: B018  (raises ValueError on a malformed port)
    except ValueError:
        raise Invalid("Must be an origin such as https://example.com.") from None
    if (
        parts.scheme not in ("http", "https")
        or not parts.hostname
        or parts.path
        or parts.query
        or parts.fragment
        or "?" in text
        or "#" in text
        or "@" in parts.netloc
        or text != f"{parts.scheme}://{parts.netloc}"
    ):
        raise Invalid(
            "Must be an origin: http or https, a host and an optional port, with no path, "
            "query or trailing slash."
        )
    if text != text.lower():
        # Browsers send the origin lower-cased: an upper-case letter would never match.
        raise Invalid("Must be written in lower case, as browsers send an origin.")
    return text


def _list(value: Any, max_items: int) -> list[Any]:
    """A JSON array of at most max_items items."""
    if not isinstance(value, list):
        raise Invalid("Must be an array.")
    if len(value) > max_items:
        raise Invalid(f"Must have at most {max_items} items.")
    return value


def _field_definition(value: Any, errors: dict[str, list[str]], path: str) -> dict | None:
    """One custom field's definition, with its type's defaults, or None (errors recorded)."""
    if not isinstance(value, Mapping):
        errors[path] = ["Must be an object."]
        return None
    kind = value.get("type")
    if kind not in FIELD_TYPES:
        errors[f"{path}.type"] = ["Must be one of " + ", ".join(FIELD_TYPES) + "."]
        return None
    members = TYPE_MEMBERS[kind]
    definition: dict[str, Any] = {"type": kind, "required": False, **members}
    failed = False

    def check(member: str, checker: Any) -> None:
        nonlocal failed
        try:
            definition[member] = checker(value[member])
        except Invalid as error:
            errors[f"{path}.{member}"] = [str(error)]
            failed = True

    for member in value:
        if member in COMMON_FIELD_MEMBERS or member in members:
            continue
        other = any(member in members_ for members_ in TYPE_MEMBERS.values())
        errors[f"{path}.{member}"] = [f"Not a member of a {kind} field." if other else UNKNOWN]
        failed = True
    if "name" not in value:
        errors[f"{path}.name"] = ["Missing data for required field."]
        failed = True
    else:
        check("name", _field_name)
    if "label" not in value:
        errors[f"{path}.label"] = ["Missing data for required field."]
        failed = True
    else:
        check("label", lambda v: _text(v, LABEL_MAX_CHARS))
    if "required" in value:
        check("required", _boolean)
    if kind in MAX_LENGTH_LIMITS and "max_length" in value:
        check("max_length", lambda v: _integer(v, 1, MAX_LENGTH_LIMITS[kind]))
    if kind == "number":
        for bound in ("min", "max"):
            if value.get(bound) is not None:
                check(bound, _number)
        low, high = definition["min"], definition["max"]
        if low is not None and high is not None and low > high and f"{path}.min" not in errors:
            errors[f"{path}.min"] = ["Must be at most max."]
            failed = True
    if kind == "select":
        if "options" not in value:
            errors[f"{path}.options"] = ["Missing data for required field."]
            failed = True
        else:
            check("options", _options)
    return None if failed else definition


def _field_name(value: Any) -> str:
    """A custom field's name: the pattern, and not a name the lead or the export uses."""
    if not isinstance(value, str) or not FIELD_NAME.fullmatch(value):
        raise Invalid("Must match ^[a-z][a-z0-9_]{0,39}$.")
    if value in RESERVED_NAMES or value.startswith("utm_"):
        raise Invalid(f"{value!r} is reserved.")
    return value


def _options(value: Any) -> list[str]:
    """A select's options: 1-50 distinct strings of 1-100 characters (trimmed)."""
    items = _list(value, MAX_OPTIONS)
    if not items:
        raise Invalid("Must have at least one option.")
    options = [_text(item, OPTION_MAX_CHARS) for item in items]
    if len(set(options)) != len(options):
        raise Invalid("Options must be distinct.")
    return options


def _labels(value: Any, errors: dict[str, list[str]]) -> dict[str, str] | None:
    """The page's texts: optional name, email, phone, submit, thanks."""
    if not isinstance(value, Mapping):
        errors["labels"] = ["Must be an object."]
        return None
    labels = {}
    for member, text in value.items():
        if member not in LABEL_MEMBERS:
            errors[f"labels.{member}"] = [UNKNOWN]
            continue
        try:
            labels[member] = _text(text, LABEL_MAX_CHARS)
        except Invalid as error:
            errors[f"labels.{member}"] = [str(error)]
    return labels


def _notify(value: Any, errors: dict[str, list[str]]) -> list[str] | None:
    """At most 10 valid, distinct email addresses."""
    try:
        items = _list(value, MAX_NOTIFY)
    except Invalid as error:
        errors["notify"] = [str(error)]
        return None
    addresses: list[str] = []
    for index, item in enumerate(items):
        try:
            if not isinstance(item, str) or len(item) > EMAIL_MAX_CHARS:
                raise Invalid(f"Must be an email address of at most {EMAIL_MAX_CHARS} characters.")
            address = normalize_email(item)
        except (Invalid, ValueError) as error:
            errors[f"notify.{index}"] = [str(error)]
            continue
        if address in addresses:
            errors[f"notify.{index}"] = ["Appears twice."]
            continue
        addresses.append(address)
    return addresses


def _autoresponder(value: Any, errors: dict[str, list[str]]) -> dict[str, str] | None:
    """Null, or the fixed mail to each new lead: subject and body."""
    if value is None:
        return None
    if not isinstance(value, Mapping):
        errors["autoresponder"] = ["Must be an object or null."]
        return None
    for member in value:
        if member not in ("subject", "body"):
            errors[f"autoresponder.{member}"] = [UNKNOWN]
    mail = {}
    for member, max_chars, line_breaks in (
        ("subject", SUBJECT_MAX_CHARS, False),
        ("body", BODY_MAX_CHARS, True),
    ):
        if member not in value:
            errors[f"autoresponder.{member}"] = ["Missing data for required field."]
            continue
        try:
            mail[member] = _text(value[member], max_chars, line_breaks=line_breaks)
        except Invalid as error:
            errors[f"autoresponder.{member}"] = [str(error)]
    return mail


def _needs_mail(document: Mapping[str, Any], config: Mapping[str, Any]) -> dict[str, list[str]]:
    """What the document asks of mail settings this installation lacks, by member."""
    mail_ready = all(config.get(name) for name in MAIL_SETTINGS)
    errors: dict[str, list[str]] = {}
    wants = {
        "notify": bool(document.get("notify")),
        "autoresponder": document.get("autoresponder") is not None,
        "double_opt_in": document.get("double_opt_in") is True,
    }
    for member, wanted in wants.items():
        needed = list(MAIL_SETTINGS)
        ready = mail_ready
        if member == "double_opt_in":
            needed.append("LEADAPP_PUBLIC_URL")
            ready = ready and bool(config.get("LEADAPP_PUBLIC_URL"))
        if wanted and not ready:
            errors[member] = ["Needs mail: set " + " and ".join(needed) + "."]
    return errors


def load_form_document(
    body: Mapping[str, Any],
    slug: str,
    stored: Mapping[str, Any] | None,
    config: Mapping[str, Any],
) -> tuple[dict[str, Any], dict[str, list[str]]]:
    """The settable members of a PUT document, with defaults, and the errors by dotted path.

    `stored` is the current document of a live form (its read-only members as the API
    shows them), or None when the PUT creates the form.
    """
    errors: dict[str, list[str]] = {}
    if not SLUG.fullmatch(slug) or len(slug) > SLUG_MAX_CHARS:
        errors["slug"] = ["Must match ^[a-z0-9]([a-z0-9-]{0,38}[a-z0-9])?$."]
    for member in READ_ONLY_MEMBERS:
        if member not in body:
            continue
        current = slug if member == "slug" else (stored or {}).get(member)
        if body[member] != current or (member == "leads" and isinstance(body[member], bool)):
            errors[member] = ["Read-only: must equal the stored value, or be left out."]
    for member in body:
        if member not in DEFAULTS and member not in READ_ONLY_MEMBERS:
            errors[member] = [UNKNOWN]
    document = {**DEFAULTS, "title": slug, "labels": {}, "origins": [], "fields": [], "notify": []}
    given = {name: body[name] for name in DEFAULTS if name in body}

    def simple(member: str, checker: Any) -> None:
        try:
            document[member] = checker(given[member])
        except Invalid as error:
            errors[member] = [str(error)]

    if "title" in given:
        simple("title", lambda v: _text(v, TITLE_MAX_CHARS))
    if "origins" in given:
        try:
            items = _list(given["origins"], MAX_ORIGINS)
        except Invalid as error:
            errors["origins"] = [str(error)]
        else:
            origins = []
            for index, item in enumerate(items):
                try:
                    origins.append(_origin(item))
                except Invalid as error:
                    errors[f"origins.{index}"] = [str(error)]
            document["origins"] = origins
    if given.get("consent_text") is not None:
        simple("consent_text", lambda v: _text(v, CONSENT_TEXT_MAX_CHARS, line_breaks=True))
    for member in ("challenge", "double_opt_in", "one_lead_per_ip"):
        if member in given:
            simple(member, _boolean)
    if given.get("success_url") is not None:
        simple("success_url", _url)
    if "labels" in given:
        document["labels"] = _labels(given["labels"], errors)
    if "fields" in given:
        document["fields"] = _fields(given["fields"], errors)
    if "notify" in given:
        document["notify"] = _notify(given["notify"], errors)
    if "autoresponder" in given:
        document["autoresponder"] = _autoresponder(given["autoresponder"], errors)
    for member, messages in _needs_mail(document, config).items():
        errors.setdefault(member, messages)
    return document, errors


def _fields(value: Any, errors: dict[str, list[str]]) -> list[dict[str, Any]]:
    """At most 20 custom field definitions with distinct names."""
    try:
        items = _list(value, MAX_FIELDS)
    except Invalid as error:
        errors["fields"] = [str(error)]
        return []
    definitions = []
    seen: set[str] = set()
    for index, item in enumerate(items):
        definition = _field_definition(item, errors, f"fields.{index}")
        name = item.get("name") if isinstance(item, Mapping) else None
        if isinstance(name, str) and name in seen:
            errors.setdefault(f"fields.{index}.name", []).append("Another field has this name.")
            definition = None
        if isinstance(name, str):
            seen.add(name)
        if definition is not None:
            definitions.append({"name": definition.pop("name"), **definition})
    return definitions


def load_custom_values(
    definitions: Sequence[Mapping[str, Any]], value: Any
) -> tuple[dict[str, Any], dict[str, list[str]]]:
    """A lead's `fields` object checked against its form's definitions.

    Returns the values to store (strings trimmed, empty strings absent) and the errors,
    keyed `fields.<name>` (or `fields` when it is not an object).
    """
    if value is None:
        value = {}
    if not isinstance(value, Mapping):
        return {}, {"fields": ["Must be an object."]}
    by_name = {definition["name"]: definition for definition in definitions}
    errors: dict[str, list[str]] = {}
    values: dict[str, Any] = {}
    for name in value:
        if name not in by_name:
            errors[f"fields.{name}"] = [UNKNOWN]
    for name, definition in by_name.items():
        try:
            checked = _custom_value(definition, value.get(name))
        except Invalid as error:
            errors[f"fields.{name}"] = [str(error)]
            continue
        unset = checked is None or (definition["type"] == "checkbox" and checked is False)
        if unset and definition["required"]:
            errors[f"fields.{name}"] = [
                "Must be checked." if definition["type"] == "checkbox" else "Required."
            ]
            continue
        if checked is not None:
            values[name] = checked
    if not errors and values and len(custom_values_json(values)) > CUSTOM_FIELDS_MAX_BYTES:
        errors["fields"] = ["The custom values are too long."]
    return values, errors


def _custom_value(definition: Mapping[str, Any], value: Any) -> Any:
    """One value by its field's type; None means absent (an empty string is absent)."""
    kind = definition["type"]
    if value is None:
        return None
    if kind == "checkbox":
        return _boolean(value)
    if kind == "number":
        number = _number(value)
        if definition["min"] is not None and number < definition["min"]:
            raise Invalid(f"Must be at least {definition['min']}.")
        if definition["max"] is not None and number > definition["max"]:
            raise Invalid(f"Must be at most {definition['max']}.")
        return number
    if not isinstance(value, str):
        raise Invalid("Must be a string.")
    text = value.strip()
    if not text:
        return None
    if kind in ("text", "textarea"):
        return _text(text, definition["max_length"], line_breaks=kind == "textarea")
    if kind == "select":
        if text not in definition["options"]:
            raise Invalid("Must be one of the options.")
        return text
    if kind == "date":
        if not ISO_DATE.fullmatch(text):
            raise Invalid("Must be a date written YYYY-MM-DD.")
        try:
            date.fromisoformat(text)
        except ValueError:
            raise Invalid("Must be a real date.") from None
        return text
    return _url(text)


def custom_values_json(values: Mapping[str, Any]) -> str:
    """The stored form of a lead's custom values: one compact JSON object."""
    return json.dumps(values, ensure_ascii=False, separators=(",", ":"), allow_nan=False)


# --- What the API returns -----------------------------------------------------------------


class CustomFieldSchema(Schema):
    """A custom field's definition (members by type: max_length, options, min, max)."""

    name = fields.String(required=True, metadata={"pattern": "^[a-z][a-z0-9_]{0,39}$"})
    label = fields.String(required=True)
    type = fields.String(required=True, metadata={"enum": list(FIELD_TYPES)})
    required = fields.Boolean(required=True)
    max_length = fields.Integer(metadata={"description": "text and textarea only."})
    options = fields.List(fields.String(), metadata={"description": "select only."})
    min = fields.Float(allow_none=True, metadata={"description": "number only."})
    max = fields.Float(allow_none=True, metadata={"description": "number only."})

    def dump(self, obj: Any, *args: Any, **kwargs: Any) -> Any:
        """The definition as stored: its numbers exactly (an int stays an int)."""
        return dict(obj)


class LabelsSchema(Schema):
    """The hosted page's texts, as set."""

    name = fields.String()
    email = fields.String()
    phone = fields.String()
    submit = fields.String()
    thanks = fields.String()


class AutoresponderSchema(Schema):
    """The fixed mail sent to each new lead's own address."""

    subject = fields.String(required=True)
    body = fields.String(required=True)


class FormSchema(Schema):
    """A form document: every settable member, and the read-only slug, times and lead count."""

    slug = fields.String(required=True)
    title = fields.String(required=True)
    origins = fields.List(fields.String(), required=True)
    consent_text = fields.String(required=True, allow_none=True)
    challenge = fields.Boolean(required=True)
    success_url = fields.String(required=True, allow_none=True)
    labels = fields.Nested(LabelsSchema, required=True)
    fields_ = fields.List(
        fields.Nested(CustomFieldSchema), required=True, data_key="fields", attribute="fields"
    )
    notify = fields.List(fields.String(), required=True)
    autoresponder = fields.Nested(AutoresponderSchema, required=True, allow_none=True)
    double_opt_in = fields.Boolean(required=True)
    one_lead_per_ip = fields.Boolean(required=True)
    created_at = UTCDateTime(required=True)
    updated_at = UTCDateTime(required=True)
    leads = fields.Integer(required=True, metadata={"description": "Stored leads of the form."})

    def dump(self, obj: Any, *args: Any, **kwargs: Any) -> Any:
        """Dump, keeping custom field definitions exactly as stored."""
        dumped = super().dump(obj, *args, **kwargs)
        dumped["fields"] = [dict(definition) for definition in obj["fields"]]
        return dumped


class FormListSchema(Schema):
    """Every live form, `default` first, then by slug."""

    items = fields.List(fields.Nested(FormSchema), required=True)
    public_url = fields.String(
        allow_none=True,
        metadata={
            "description": "LEADAPP_PUBLIC_URL, the base of the forms' embed snippets; null "
            "when unset (the admin page then uses its own origin)."
        },
    )


class PublicFormSettingsSchema(Schema):
    """What a page of one's own needs to show a form (GET /f/<slug>/settings)."""

    slug = fields.String(required=True)
    title = fields.String(required=True)
    challenge = fields.Boolean(
        required=True, metadata={"description": "Whether anonymous posts need a solved challenge."}
    )
    consent_text = fields.String(
        required=True,
        allow_none=True,
        metadata={"description": "The consent checkbox's text in force; null: no checkbox."},
    )
    labels = fields.Nested(LabelsSchema, required=True)
    fields_ = fields.List(
        fields.Nested(CustomFieldSchema), required=True, data_key="fields", attribute="fields"
    )

    def dump(self, obj: Any, *args: Any, **kwargs: Any) -> Any:
        """Dump, keeping custom field definitions exactly as stored."""
        dumped = super().dump(obj, *args, **kwargs)
        dumped["fields"] = [dict(definition) for definition in obj["fields"]]
        return dumped
