"""Lead rules and transactions: create (race-safe, counting resubmissions), list, read, erase."""

from __future__ import annotations

import ipaddress
import json
import uuid
from collections.abc import Collection, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from sqlalchemy import ColumnElement, Select, bindparam, delete, or_, select, tuple_, update
from sqlalchemy.engine import Connection

from leadapp.crypto import Keyring, current_keyring
from leadapp.errors import DuplicateLead, Forbidden, NotFound, ValidationFailed
from leadapp.extensions import db
from leadapp.models.consent import ConsentText
from leadapp.models.form import DEFAULT_FORM
from leadapp.models.lead import (
    ATTRIBUTION_FIELDS,
    BLIND_INDEX_COLUMNS,
    LEAD_FIELDS,
    Lead,
    utcnow,
)
from leadapp.normalize import email_match_key
from leadapp.outbox import queue as outbox
from leadapp.outbox.events import LEAD_ERASED
from leadapp.schemas.form import custom_values_json
from leadapp.services import arrival, audit, blocklist, mail, opt_in_links
from leadapp.services.apikeys import ApiKeyIdentity
from leadapp.services.cursor import InvalidCursor, decode_cursor, encode_cursor
from leadapp.services.idempotency import IdempotencyClaim
from leadapp.services.upsert import INSERTS

# A conflicting lead may be erased between our refused INSERT and the lookup of what
# it conflicted with (or an idempotency record may have expired); then the INSERT is
# simply tried again.
INSERT_ATTEMPTS = 3

DUPLICATE_MESSAGES = {
    "email": "A lead with this email address already exists.",
    "phone": "A lead with this phone number already exists.",
    "ip_address": "A lead from this IP address already exists.",
}


def blind_indexes(
    keyring: Keyring, email: str, phone: str, ip_address: str | None
) -> dict[str, bytes | None]:
    """The blind-index column values for a lead's normalized email, phone and IP."""
    normalized = {"email": email_match_key(email), "phone": phone, "ip_address": ip_address}
    return {
        column: keyring.blind_index(field, normalized[field]) if normalized[field] else None
        for field, column in BLIND_INDEX_COLUMNS.items()
    }


# Built once: composing a statement costs more than SQLAlchemy's cached compilation of it.
_LEADS = Lead.__table__
_INDEX_COLUMNS = [_LEADS.c[column] for column in BLIND_INDEX_COLUMNS.values()]
_COUNT_RESUBMISSION = (
    update(_LEADS)
    .where(
        or_(
            _LEADS.c.email_bidx == bindparam("email_match"),
            _LEADS.c.phone_bidx == bindparam("phone_match"),
        )
    )
    .values(
        resubmissions=_LEADS.c.resubmissions + 1,
        last_resubmitted_at=bindparam("resubmitted_at"),
    )
    .returning(
        *_INDEX_COLUMNS,
        _LEADS.c.ip_unique,
        _LEADS.c.id,
        _LEADS.c.opt_in_status,
        _LEADS.c.opt_in_sent_at,
    )
)
# Only a lead that keeps one-lead-per-IP holds its IP (the partial index uq_leads_ip_bidx).
_IP_TAKEN = (
    select(_LEADS.c.id)
    .where(_LEADS.c.ip_bidx == bindparam("ip_match"), _LEADS.c.ip_unique.is_(True))
    .limit(1)
)
_INSERT_IF_NEW = {
    name: insert(_LEADS).on_conflict_do_nothing().returning(_LEADS.c.id)
    for name, insert in INSERTS.items()
}


def _refuse_duplicate(connection: Connection, row: Mapping[str, Any]) -> DuplicateLead | None:
    """Count the resubmission on every lead this one conflicts with; the 409 to raise.

    One UPDATE ... SET resubmissions = resubmissions + 1 in the database, so concurrent
    duplicates are counted exactly; its RETURNING names the conflicts it found. An
    IP-only conflict changes nothing and is looked up only when the updated leads do not
    already show it. None when the conflicting lead has gone meanwhile (erased), so the
    INSERT may be tried again. The caller commits before raising, so the count is kept,
    with the new confirmation link a pending double opt-in lead may be due (opt_in_links).
    """
    now = utcnow()
    found = connection.execute(
        _COUNT_RESUBMISSION,
        {
            "email_match": row["email_bidx"],
            "phone_match": row["phone_bidx"],
            "resubmitted_at": now,
        },
    ).all()
    for lead in found:
        if lead.opt_in_status == opt_in_links.PENDING and opt_in_links.resend_due(
            lead.opt_in_sent_at, now
        ):
            opt_in_links.resend_link(connection, lead.id, now)
    conflicts = [
        field
        for field, column in BLIND_INDEX_COLUMNS.items()
        if row[column] is not None
        and any(
            lead._mapping[column] == row[column] and (field != "ip_address" or lead.ip_unique)
            for lead in found
        )
    ]
    # An IP conflict counts only between leads that both keep the rule; the new lead's
    # form decides for it, the stored lead's ip_unique for that one.
    if not row["ip_unique"] and "ip_address" in conflicts:
        conflicts.remove("ip_address")
    ip_unseen = row["ip_bidx"] is not None and row["ip_unique"] and "ip_address" not in conflicts
    if ip_unseen and connection.execute(_IP_TAKEN, {"ip_match": row["ip_bidx"]}).first():
        conflicts.append("ip_address")
    if not conflicts:
        return None
    return duplicate_problem(conflicts)


def _insert_if_new(connection: Connection, row: Mapping[str, Any]) -> bool:
    """INSERT ... ON CONFLICT DO NOTHING: whether the lead was stored.

    The unique blind indexes still decide (a concurrent twin waits for the winner's
    commit, then stores nothing), but a refusal is a normal outcome on the same
    connection rather than an exception, a rollback and a second connection.
    """
    statement = _INSERT_IF_NEW[connection.dialect.name]
    return connection.execute(statement, row).first() is not None


def duplicate_problem(conflicts: list[str]) -> DuplicateLead:
    """The 409 naming these conflicting fields."""
    return DuplicateLead(
        "A lead with the same "
        + ", ".join(conflicts).replace("ip_address", "IP address")
        + " already exists.",
        errors={field: [DUPLICATE_MESSAGES[field]] for field in conflicts},
    )


@dataclass(frozen=True)
class ConsentRecord:
    """Consent given with a new lead (at its creation time): which stored text, if any."""

    text_id: int | None
    text: str | None


@dataclass(frozen=True)
class CreatedLead:
    """The lead a POST /leads stands for, and whether it was an idempotent replay."""

    lead: dict[str, Any]
    replayed: bool = False


def create_lead(
    fields: Mapping[str, str],
    ip_address: str | None,
    *,
    attribution: Mapping[str, str | None] | None = None,
    consent: ConsentRecord | None = None,
    idempotency: IdempotencyClaim | None = None,
    form: str = DEFAULT_FORM,
    custom_fields: Mapping[str, Any] | None = None,
    ip_unique: bool = True,
    double_opt_in: bool = False,
) -> CreatedLead:
    """Store a validated lead, or raise DuplicateLead naming every conflicting field.

    The unique blind-index constraints decide, so concurrent requests can't both win;
    there is no SELECT before the INSERT on the happy path. An idempotency claim is stored
    in the lead's row under its own unique index, so a request that loses to another
    with the same key and body answers with the winner's lead. A lead of a double opt-in
    form is stored pending, with its confirmation link's hash in the same INSERT.
    """
    keyring = current_keyring()
    link = opt_in_links.new_link() if double_opt_in else None
    row = {
        "id": uuid.uuid4(),
        "name": fields["name"],
        "email": fields["email"],
        "phone": fields["phone"],
        "ip_address": ip_address,
        "created_at": utcnow(),
        **{name: (attribution or {}).get(name) for name in ATTRIBUTION_FIELDS},
        "consent_given_at": None,
        "consent_text_id": consent.text_id if consent else None,
        "resubmissions": 0,
        "last_resubmitted_at": None,
        "form": form,
        "custom_fields": custom_values_json(custom_fields) if custom_fields else None,
        "ip_unique": ip_unique,
        **blind_indexes(keyring, fields["email"], fields["phone"], ip_address),
    }
    if link is not None:
        row.update(opt_in_links.pending_columns(link, row["created_at"]))
    if consent is not None:
        row["consent_given_at"] = row["created_at"]
    # The lead as the API answers it: the 201 body.
    lead = lead_from_row({**row, "consent_text": consent.text if consent else None})
    if idempotency is not None:
        row.update(idempotency.columns())
    for _attempt in range(INSERT_ATTEMPTS):
        duplicate = None
        with db.engine.begin() as connection:
            if _insert_if_new(connection, row):
                arrival.lead_stored(connection, row, link)
                return CreatedLead(lead)
            if idempotency is None:
                duplicate = _refuse_duplicate(connection, row)
        if duplicate is not None:
            raise duplicate
        if idempotency is not None:
            # Refused by a blind index or by the key's own unique index: a live record of
            # the key answers (a replay, or 422), an expired one is cleared and the INSERT
            # tried again; otherwise it is an ordinary duplicate.
            replay = replayed_lead(idempotency)
            if replay is not None:
                return CreatedLead(replay, replayed=True)
            if idempotency.forget_expired():
                continue
            with db.engine.begin() as connection:
                duplicate = _refuse_duplicate(connection, row)
            if duplicate is not None:
                raise duplicate
    raise RuntimeError("the lead was refused without a conflict, repeatedly")


def replayed_lead(idempotency: IdempotencyClaim) -> dict[str, Any] | None:
    """The 201 body of the lead an idempotency key created, if it is still remembered.

    One read of the lead's row, which holds the key: 422 if it came from another body.
    """
    query = lead_query().add_columns(_LEADS.c.idempotency_body_hash)
    with db.engine.connect() as connection:
        row = connection.execute(query.where(idempotency.remembered())).first()
    if row is None:
        return None
    idempotency.check_body(row.idempotency_body_hash)
    return lead_as_answered(row._mapping)


def lead_ip_address(
    submitted: str | None, *, authenticated: bool, connection_ip: str
) -> str | None:
    """The IP address a new lead is recorded (and deduplicated) under.

    Anonymous callers are known by their connection; only an API-key caller (a partner's
    backend) may name the visitor's address, and may also leave it out. A named address in a
    blocked network is refused as a connection from it would be.
    """
    if not authenticated:
        if submitted is not None:
            raise Forbidden("ip_address may only be sent with an API key.")
        return connection_ip
    if submitted is not None and blocklist.is_blocked(ipaddress.ip_address(submitted)):
        raise Forbidden("This ip_address is in a blocked network.")
    return submitted


@dataclass
class LeadPage:
    """One page of leads, newest first, and the cursor of the next page (or None)."""

    items: list[dict[str, Any]]
    next_cursor: str | None


def lead_query() -> Select[Any]:
    """SELECT of every returned column (decrypted by the column types) and the consent text."""
    table = Lead.__table__
    texts = ConsentText.__table__
    return select(
        *(table.c[name] for name in LEAD_FIELDS), texts.c.text.label("consent_text")
    ).select_from(table.outerjoin(texts, table.c.consent_text_id == texts.c.id))


def lead_from_row(row: Mapping[str, Any]) -> dict[str, Any]:
    """A lead as the API returns it: flat columns nested into attribution and consent."""
    consent = None
    if row["consent_given_at"] is not None:
        consent = {"given_at": row["consent_given_at"], "text": row["consent_text"]}
    return {
        "id": row["id"],
        "name": row["name"],
        "email": row["email"],
        "phone": row["phone"],
        "ip_address": row["ip_address"],
        "created_at": row["created_at"],
        "attribution": {name: row[name] for name in ATTRIBUTION_FIELDS},
        "consent": consent,
        "resubmissions": row["resubmissions"],
        "last_resubmitted_at": row["last_resubmitted_at"],
        "form": row["form"],
        "fields": json.loads(row["custom_fields"]) if row["custom_fields"] else {},
        "opt_in": _opt_in(row),
    }


def _opt_in(row: Mapping[str, Any]) -> dict[str, Any] | None:
    """Double opt-in's state: null for a lead of a form without it."""
    if row.get("opt_in_status") is None:
        return None
    return {"status": row["opt_in_status"], "confirmed_at": row["opt_in_confirmed_at"]}


def lead_as_created(row: Mapping[str, Any]) -> dict[str, Any]:
    """A stored lead as its `lead.created` announced it: the 201 body, opt-in as it is now.

    A lead's fields never change after creation except its resubmission count, which was
    0 then, and its opt-in, which is confirmed at most once; a double opt-in lead is
    announced only once confirmed, so its webhook shows it confirmed (see `lead_as_answered`
    for the replay of its 201). Every attempt of a webhook sends the same body.
    """
    return {**lead_from_row(row), "resubmissions": 0, "last_resubmitted_at": None}


def lead_as_answered(row: Mapping[str, Any]) -> dict[str, Any]:
    """A stored lead exactly as its 201 answered it (an idempotent replay): opt-in pending."""
    lead = lead_as_created(row)
    if lead["opt_in"] is not None:
        lead["opt_in"] = {"status": opt_in_links.PENDING, "confirmed_at": None}
    return lead


def leads_as_created(
    connection: Connection, lead_ids: Collection[uuid.UUID]
) -> dict[uuid.UUID, dict[str, Any]]:
    """The stored leads among `lead_ids`, each as its 201 answered it, by id.

    An erased lead is simply absent.
    """
    if not lead_ids:
        return {}
    rows = connection.execute(lead_query().where(_LEADS.c.id.in_(list(lead_ids)))).all()
    return {row.id: lead_as_created(row._mapping) for row in rows}


def list_leads(
    api_key: ApiKeyIdentity,
    *,
    limit: int,
    cursor: str | None = None,
    email: str | None = None,
    phone: str | None = None,
    form: str | None = None,
) -> LeadPage:
    """A page of leads, newest first, optionally only exact matches of email and/or phone.

    Keyset pagination on (created_at, id) walks the index (with `form`, the index on
    (form, created_at, id)), so a deep page costs what the first does. A cursor continues
    only the listing it came from: one form's cursor is refused for another form or for
    every form's. The read is audited in the same transaction.
    """
    keyring = current_keyring()
    table = Lead.__table__
    query = lead_query().order_by(table.c.created_at.desc(), table.c.id.desc())
    if cursor is not None:
        try:
            position = decode_cursor(keyring, cursor)
            if position.form != form:
                raise InvalidCursor("The cursor belongs to another listing (another form).")
        except InvalidCursor as error:
            raise ValidationFailed(str(error), errors={"cursor": [str(error)]}) from None
        query = query.where(
            tuple_(table.c.created_at, table.c.id) < (position.created_at, position.lead_id)
        )
    if form is not None:
        query = query.where(table.c.form == form)
    if email is not None:
        query = query.where(
            table.c.email_bidx == keyring.blind_index("email", email_match_key(email))
        )
    if phone is not None:
        query = query.where(table.c.phone_bidx == keyring.blind_index("phone", phone))
    with db.engine.begin() as connection:
        rows = connection.execute(query.limit(limit + 1)).all()
        items = [lead_from_row(row._mapping) for row in rows[:limit]]
        audit.record(
            connection, api_key, "search" if email or phone else "list", [i["id"] for i in items]
        )
    next_cursor = None
    if len(rows) > limit:
        last = items[-1]
        next_cursor = encode_cursor(keyring, last["created_at"], last["id"], form)
    return LeadPage(items=items, next_cursor=next_cursor)


def get_lead(api_key: ApiKeyIdentity, lead_id: uuid.UUID) -> dict[str, Any]:
    """One lead, decrypted, or NotFound; the read is audited."""
    table = Lead.__table__
    with db.engine.begin() as connection:
        row = connection.execute(lead_query().where(table.c.id == lead_id)).first()
        if row is None:
            raise NotFound("No lead with this id.")
        audit.record(connection, api_key, "read", [lead_id])
    return lead_from_row(row._mapping)


def erase_leads(
    connection: Connection,
    actor: ApiKeyIdentity,
    lead_ids: Sequence[uuid.UUID],
    action: str,
    *,
    where: ColumnElement[bool] | None = None,
    announce: bool = True,
) -> list[uuid.UUID]:
    """Erase leads inside the caller's transaction, as DELETE /leads/<id> does.

    The rows go (so their blind indexes are free again, and their idempotency keys with
    them), one audit event records the ids and the count, and each erased lead gets its
    `lead.erased` webhook. Returns the ids actually erased: a lead erased meanwhile by
    someone else is skipped, never announced twice. `where` erases only the leads that
    still match it; `announce=False` sends no `lead.erased` (an unconfirmed double opt-in
    lead was never announced).
    """
    table = Lead.__table__
    if not lead_ids:
        return []
    statement = delete(table).where(table.c.id.in_(list(lead_ids)))
    if where is not None:
        statement = statement.where(where)
    # RETURNING the form too: the erased lead's routing facts come from the row it had.
    rows = connection.execute(statement.returning(table.c.id, table.c.form)).all()
    erased = [row.id for row in rows]
    if erased:
        count = len(erased) if action != "erase" else None
        audit.record(connection, actor, action, erased, count=count)
        outbox.cancel_for_leads(connection, erased)
        mail.forget_mails(connection, erased)
        if announce:
            for row in rows:
                outbox.publish(connection, LEAD_ERASED, row.id, arrival.routing(row._mapping))
    return erased


def erase_in_batches(
    condition: ColumnElement[bool],
    actor: ApiKeyIdentity,
    action: str,
    *,
    batch_size: int,
    announce: bool = True,
) -> int:
    """Erase every lead matching `condition`, oldest first, a transaction per batch; how many.

    Each batch as `erase_leads` erases it (one audit event with its count); the DELETE
    repeats the condition, so a lead that stopped matching meanwhile stays.
    """
    table = Lead.__table__
    total = 0
    while True:
        with db.engine.begin() as connection:
            ids = list(
                connection.execute(
                    select(table.c.id)
                    .where(condition)
                    .order_by(table.c.created_at, table.c.id)
                    .limit(batch_size)
                ).scalars()
            )
            erased = erase_leads(connection, actor, ids, action, where=condition, announce=announce)
        total += len(erased)
        if len(ids) < batch_size:
            return total


def erase_lead(api_key: ApiKeyIdentity, lead_id: uuid.UUID) -> None:
    """Delete a lead (its email, phone and IP become free again), or NotFound; audited."""
    with db.engine.begin() as connection:
        if not erase_leads(connection, api_key, [lead_id], "erase"):
            raise NotFound("No lead with this id.")
