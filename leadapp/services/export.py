"""The CSV export of leads: streamed from a server-side cursor in batches, audited once.

Memory stays flat whatever the number of leads: rows come from the database `BATCH_SIZE`
at a time (on PostgreSQL a named cursor, so the server holds the result, not this
process) and each batch is written out as CSV text before the next is fetched.

The audit event (`export`, with the count) can only know the count once the last row is
out, so it is written then, in its own short transaction; a download cut short (the
client went away) is recorded with the number of rows handed to the server until then.
"""

from __future__ import annotations

import csv
import io
from collections.abc import Callable, Iterator
from datetime import datetime
from typing import Any

from sqlalchemy import Select, String, func, select, type_coerce

from leadapp.crypto import current_keyring
from leadapp.extensions import db
from leadapp.models.consent import ConsentText
from leadapp.models.lead import ATTRIBUTION_FIELDS, ENCRYPTED_FIELDS, Lead
from leadapp.services import audit
from leadapp.services.apikeys import ApiKeyIdentity
from leadapp.timeutil import rfc3339

# The contract's header row, in this order.
COLUMNS = (
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


def cells(row: Any, decrypt: Callable[[str], str]) -> list[str | int]:
    """One lead's CSV cells, in COLUMNS order: empty for null, defused where it matters."""
    out: list[str | int] = []
    # Positional: the query selects COLUMNS in order, and this runs once per exported lead.
    for value, kind in zip(row, _KINDS, strict=True):
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
    return out


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


_KINDS = tuple(_kind(column) for column in COLUMNS)


def _query(start: datetime | None, end: datetime | None) -> Select[Any]:
    """Every lead with start <= created_at < end, oldest first, with its consent text."""
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
        for name in COLUMNS
    ]
    query = (
        select(*columns)
        .select_from(leads.outerjoin(texts, leads.c.consent_text_id == texts.c.id))
        .order_by(leads.c.created_at, leads.c.id)
    )
    if start is not None:
        query = query.where(leads.c.created_at >= start)
    if end is not None:
        query = query.where(leads.c.created_at < end)
    return query


def count_leads(start: datetime | None, end: datetime | None) -> int:
    """How many leads the export of this range holds (for a progress bar)."""
    leads = Lead.__table__
    query = select(func.count()).select_from(leads)
    if start is not None:
        query = query.where(leads.c.created_at >= start)
    if end is not None:
        query = query.where(leads.c.created_at < end)
    with db.engine.connect() as connection:
        return int(connection.execute(query).scalar_one())


def _header() -> bytes:
    """The header row."""
    buffer = io.StringIO()
    csv.writer(buffer).writerow(COLUMNS)
    return buffer.getvalue().encode("utf-8")


def _rows(
    actor: ApiKeyIdentity,
    start: datetime | None,
    end: datetime | None,
    batch_size: int,
    progress: Callable[[int], None] | None,
) -> Iterator[bytes]:
    """The CSV as chunks: the header once the query runs, then one chunk per batch."""
    sent = 0
    started = False
    decrypt = current_keyring().decrypt
    connection = db.engine.connect()
    try:
        result = connection.execution_options(stream_results=True, yield_per=batch_size).execute(
            _query(start, end)
        )
        started = True
        yield _header()
        for batch in result.partitions(batch_size):
            buffer = io.StringIO()
            writer = csv.writer(buffer)
            writer.writerows(cells(row, decrypt) for row in batch)
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
    batch_size: int | None = None,
    progress: Callable[[int], None] | None = None,
) -> Iterator[bytes]:
    """Start the export of leads with start <= created_at < end: UTF-8 CSV chunks.

    The query runs before this returns, so an unavailable database is an error the
    caller can still answer properly (503), not a broken download.
    """
    rows = _rows(actor, start, end, batch_size or BATCH_SIZE, progress)
    return _started(next(rows), rows)
