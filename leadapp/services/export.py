"""The CSV export of leads: streamed from a server-side cursor in batches, audited once.

Memory stays flat whatever the number of leads: rows come from the database `BATCH_SIZE`
at a time (on PostgreSQL a named cursor, so the server holds the result, not this
process) and each batch is written out as CSV text before the next is fetched.

Since v3 each row ends with its form, double opt-in's state, and its custom values: one
`fields` column (a JSON object), or, for the export of one form, one column per custom
field the form has (had, when removed), so a spreadsheet gets a column it can sort.

The audit event (`export`, with the count) can only know the count once the last row is
out, so it is written then, in its own short transaction; a download cut short (the
client went away) is recorded with the number of rows handed to the server until then.
"""

from __future__ import annotations

import csv
import io
import json
from collections.abc import Callable, Iterator, Sequence
from datetime import datetime
from typing import Any

from sqlalchemy import Select, String, func, select, type_coerce

from leadapp.crypto import current_keyring
from leadapp.extensions import db
from leadapp.models.consent import ConsentText
from leadapp.models.lead import ATTRIBUTION_FIELDS, ENCRYPTED_FIELDS, Lead
from leadapp.services import audit, forms
from leadapp.services.apikeys import ApiKeyIdentity
from leadapp.timeutil import rfc3339

# The contract's header row, in this order: the v2 columns of a lead, ...
LEAD_COLUMNS = (
    "id",
    "created_at",
    "name",
    "email",
    "phone",
    "ip_address",
    *ATTRIBUTION_FIELDS,
    "consent_given_at",
    "consent_text",
    "resubmissions",
    "last_resubmitted_at",
)
# ... then v3's: the form, and double opt-in's state (both empty for a form without it).
FORM_COLUMNS = ("form", "opt_in_status", "opt_in_confirmed_at")
# ... then, without `form=`, the custom values as one JSON object (with `form=<slug>`, a
# column per custom field of that form instead).
FIELDS_COLUMN = "fields"
COLUMNS = (*LEAD_COLUMNS, *FORM_COLUMNS, FIELDS_COLUMN)
TIMESTAMP_COLUMNS = frozenset({"created_at", "consent_given_at", "last_resubmitted_at"})
# OWASP's CSV-injection rule: a spreadsheet reads these first characters as a formula.
FORMULA_STARTS = ("=", "+", "-", "@", "\t", "\r")
# The phone is E.164 (a leading + by definition) and is never read as a formula there.
UNDEFUSED_COLUMNS = frozenset({"phone"})
BATCH_SIZE = 1000
# The CLI and other callers without an API key are audited under these names.
COMMAND_LINE_ACTOR = ApiKeyIdentity(id=0, name="command line")


def defuse(value: str) -> str:
    """Prefix a cell a spreadsheet would run as a formula with a single quote."""
    return "'" + value if value.startswith(FORMULA_STARTS) else value


def cells(
    row: Any, decrypt: Callable[[str], str], names: Sequence[str] | None = None
) -> list[str | int]:
    """One lead's CSV cells: empty for null, defused where it matters.

    `names`: the custom fields that have a column each (None: one `fields` column).
    """
    out: list[str | int] = []
    *lead, form, opt_in_status, opt_in_confirmed_at, token = row
    # Positional: the query selects LEAD_COLUMNS in order, and this runs once per lead.
    for value, kind in zip(lead, _KINDS, strict=True):
        if value is None:
            out.append("")
        elif kind is _SECRET:
            text = decrypt(value)
            out.append("'" + text if text.startswith(FORMULA_STARTS) else text)
        elif kind is _TEXT:
            out.append("'" + value if value.startswith(FORMULA_STARTS) else value)
        elif kind is _TIMESTAMP:
            out.append(rfc3339(value))
        elif kind is _SECRET_VERBATIM:
            out.append(decrypt(value))
        elif kind is _NUMBER:
            out.append(value)
        else:
            out.append(str(value))
    # Slugs and statuses never start with a formula character; defused anyway, as every cell is.
    out += [
        defuse(form),
        defuse(opt_in_status or ""),
        rfc3339(opt_in_confirmed_at) if opt_in_confirmed_at is not None else "",
    ]
    # Most leads have no custom values: then no decryption and no JSON.
    values = json.loads(decrypt(token)) if token is not None else {}
    if names is None:
        out.append("{}" if token is None else _json_cell(values))
    else:
        out.extend(defuse(as_text(values.get(name))) for name in names)
    return out


def _json_cell(values: dict[str, Any]) -> str:
    """The `fields` cell: the custom values as one JSON object, keys sorted, defused."""
    return defuse(json.dumps(values, ensure_ascii=False, sort_keys=True, separators=(",", ":")))


def as_text(value: Any) -> str:
    """A custom value as one cell: `true`/`false`, a number as stored, empty when absent."""
    if value is None:
        return ""
    if isinstance(value, str):
        return value
    # A boolean or a number: JSON's spelling, as the lead's `fields` object has it.
    return json.dumps(value)


_TIMESTAMP, _TEXT, _SECRET, _SECRET_VERBATIM, _NUMBER, _VERBATIM = (
    "timestamp",
    "text",
    "secret",
    "secret verbatim",
    "number",
    "verbatim",
)


def _kind(column: str) -> str:
    """How a column's value becomes a cell."""
    if column in TIMESTAMP_COLUMNS:
        return _TIMESTAMP
    if column == "resubmissions":
        return _NUMBER
    if column == "id":
        return _VERBATIM
    if column in ENCRYPTED_FIELDS:
        return _SECRET_VERBATIM if column in UNDEFUSED_COLUMNS else _SECRET
    return _VERBATIM if column in UNDEFUSED_COLUMNS else _TEXT


_KINDS = tuple(_kind(column) for column in LEAD_COLUMNS)


def _where(
    query: Select[Any], start: datetime | None, end: datetime | None, form: str | None
) -> Select[Any]:
    """The query restricted to start <= created_at < end and, when given, one form's leads."""
    leads = Lead.__table__
    if start is not None:
        query = query.where(leads.c.created_at >= start)
    if end is not None:
        query = query.where(leads.c.created_at < end)
    if form is not None:
        query = query.where(leads.c.form == form)
    return query


def _query(start: datetime | None, end: datetime | None, form: str | None) -> Select[Any]:
    """The leads to export, oldest first: consent text, form, opt-in, custom values' token."""
    leads = Lead.__table__
    texts = ConsentText.__table__
    # Encrypted columns are fetched as their tokens and decrypted in cells() with a keyring
    # looked up once per export: per value through the column type, the lookup costs as
    # much as a fifth of the decryption.
    columns = [
        texts.c.text.label(name)
        if name == "consent_text"
        else type_coerce(leads.c[name], String).label(name)
        if name in ENCRYPTED_FIELDS
        else leads.c[name]
        for name in LEAD_COLUMNS
    ]
    columns += [
        leads.c.form,
        leads.c.opt_in_status,
        leads.c.opt_in_confirmed_at,
        type_coerce(leads.c.custom_fields, String),
    ]
    query = (
        select(*columns)
        .select_from(leads.outerjoin(texts, leads.c.consent_text_id == texts.c.id))
        .order_by(leads.c.created_at, leads.c.id)
    )
    return _where(query, start, end, form)


def count_leads(start: datetime | None, end: datetime | None, form: str | None = None) -> int:
    """How many leads the export of this range (and form) holds (for a progress bar)."""
    query = _where(select(func.count()).select_from(Lead.__table__), start, end, form)
    with db.engine.connect() as connection:
        return int(connection.execute(query).scalar_one())


def field_names(form: str | None) -> tuple[str, ...] | None:
    """The custom fields with a column of their own: those the form has now, in its order.

    None without a form (one `fields` column). A removed form's are those of its last
    document; a slug no form ever had has none (and no lead: the export is its header).
    """
    if form is None:
        return None
    found = forms.latest_form(form)
    return tuple(definition["name"] for definition in found.fields) if found else ()


def _header(names: Sequence[str] | None) -> bytes:
    """The header row."""
    buffer = io.StringIO()
    columns = COLUMNS if names is None else (*LEAD_COLUMNS, *FORM_COLUMNS, *names)
    csv.writer(buffer).writerow(columns)
    return buffer.getvalue().encode("utf-8")


def _rows(
    actor: ApiKeyIdentity,
    start: datetime | None,
    end: datetime | None,
    form: str | None,
    batch_size: int,
    progress: Callable[[int], None] | None,
) -> Iterator[bytes]:
    """The CSV as chunks: the header once the query runs, then one chunk per batch."""
    sent = 0
    started = False
    decrypt = current_keyring().decrypt
    names = field_names(form)
    connection = db.engine.connect()
    try:
        result = connection.execution_options(stream_results=True, yield_per=batch_size).execute(
            _query(start, end, form)
        )
        started = True
        yield _header(names)
        for batch in result.partitions(batch_size):
            buffer = io.StringIO()
            writer = csv.writer(buffer)
            writer.writerows(cells(row, decrypt, names) for row in batch)
            chunk = buffer.getvalue().encode("utf-8")
            sent += len(batch)
            if progress is not None:
                progress(len(batch))
            yield chunk
    finally:
        # Ends the read transaction (and the named cursor) before the audit's own one.
        connection.close()
        if started:
            with db.engine.begin() as audit_connection:
                audit.record(audit_connection, actor, "export", [], count=sent)


def _started(first: bytes, rest: Iterator[bytes]) -> Iterator[bytes]:
    """`first`, then the rest of a generator that has already begun; closing closes it."""
    try:
        yield first
        yield from rest
    finally:
        rest.close()  # type: ignore[attr-defined]


def open_export(
    actor: ApiKeyIdentity,
    start: datetime | None = None,
    end: datetime | None = None,
    *,
    form: str | None = None,
    batch_size: int | None = None,
    progress: Callable[[int], None] | None = None,
) -> Iterator[bytes]:
    """Start the export of leads with start <= created_at < end: UTF-8 CSV chunks.

    With `form`, only that form's leads, with a column per custom field (field_names).

    The query runs before this returns, so an unavailable database is an error the
    caller can still answer properly (503), not a broken download.
    """
    rows = _rows(actor, start, end, form, batch_size or BATCH_SIZE, progress)
    return _started(next(rows), rows)
