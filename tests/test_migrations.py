"""Migrations as a user runs them: upgrade, agree with the models, downgrade."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime

import pytest
from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext
from flask_migrate import downgrade, upgrade
from sqlalchemy import (
    Boolean,
    DateTime,
    LargeBinary,
    String,
    Uuid,
    column,
    delete,
    insert,
    inspect,
    select,
    table,
    text,
    update,
)
from sqlalchemy.exc import IntegrityError

from leadapp import create_app
from leadapp.extensions import db
from tests.support.tables import lightweight_table

# Lightweight tables: only the columns these tests write and read, at the revisions they use.
# leads as 0006 stores them, with the two columns 0007 moves the idempotency records into.
LEADS = lightweight_table(
    "leads",
    *("id", "name", "email", "phone", "email_bidx", "phone_bidx", "created_at"),
    *("idempotency_key_hash", "idempotency_body_hash"),
)
RECORDS = lightweight_table("idempotency_keys", "key_hash", "body_hash", "lead_id", "created_at")
ENDPOINTS = lightweight_table("webhook_endpoints", "id", "url", "secret", "events", "created_at")
# The columns a message's state shares between webhook_deliveries (0004-0008) and outbox.
STATE = ("id", "event", "lead_id", "status", "attempts", "claimed_by", "last_error")
DELIVERIES = lightweight_table(
    "webhook_deliveries", "endpoint_id", *STATE, "created_at", "claimed_until"
)
OUTBOX = lightweight_table("outbox", "channel", "target_id", *STATE, "created_at", "claimed_until")


@pytest.fixture
def migrated_app(database_url: str):
    """An app whose database was built by the migrations, not by create_all."""
    app = create_app({"SQLALCHEMY_DATABASE_URI": database_url})
    with app.app_context():
        if db.engine.dialect.name == "postgresql":
            downgrade(revision="base")
        upgrade()
    yield app
    with app.app_context():
        upgrade()
        db.engine.dispose()


def test_models_and_migrations_agree(migrated_app) -> None:
    with migrated_app.app_context(), db.engine.connect() as connection:
        context = MigrationContext.configure(connection, opts={"compare_type": True})
        assert compare_metadata(context, db.metadata) == []


def test_unique_constraints_are_named(migrated_app) -> None:
    with migrated_app.app_context():
        names = {uc["name"] for uc in inspect(db.engine).get_unique_constraints("leads")}
        unique_indexes = {
            index["name"] for index in inspect(db.engine).get_indexes("leads") if index["unique"]
        }
    assert {"uq_leads_email_bidx", "uq_leads_phone_bidx"} <= names
    # Since 0010 the IP's is a partial unique index (leads of forms keeping one_lead_per_ip),
    # under the same name.
    assert "uq_leads_ip_bidx" in unique_indexes


def test_downgrade_to_base_and_back(migrated_app) -> None:
    with migrated_app.app_context():
        downgrade(revision="base")
        assert "leads" not in inspect(db.engine).get_table_names()
        upgrade()
        assert "leads" in inspect(db.engine).get_table_names()
        with db.engine.connect() as connection:
            assert connection.execute(text("SELECT count(*) FROM leads")).scalar() == 0


def test_idempotency_records_move_into_the_lead_row_and_back(migrated_app) -> None:
    lead_id, key_hash, body_hash = uuid.uuid4(), b"k" * 32, b"b" * 32
    created = datetime(2026, 12, 1, tzinfo=UTC)
    lead = {"id": lead_id, "name": "n", "email": "e", "phone": "p", "created_at": created}
    with migrated_app.app_context():
        downgrade(revision="0006")
        with db.engine.begin() as connection:
            connection.execute(
                insert(LEADS), {**lead, "email_bidx": b"e" * 32, "phone_bidx": b"p" * 32}
            )
            connection.execute(
                insert(RECORDS),
                {
                    "key_hash": key_hash,
                    "body_hash": body_hash,
                    "lead_id": lead_id,
                    "created_at": created,
                },
            )
        upgrade()
        with db.engine.connect() as connection:
            moved = connection.execute(
                select(LEADS.c.idempotency_key_hash, LEADS.c.idempotency_body_hash)
            ).one()
        assert (moved.idempotency_key_hash, moved.idempotency_body_hash) == (key_hash, body_hash)
        assert "idempotency_keys" not in inspect(db.engine).get_table_names()
        downgrade(revision="0006")
        with db.engine.connect() as connection:
            back = connection.execute(select(RECORDS.c.key_hash, RECORDS.c.lead_id)).one()
        assert (back.key_hash, back.lead_id) == (key_hash, lead_id)
        with db.engine.begin() as connection:
            connection.execute(delete(RECORDS))
            connection.execute(delete(LEADS))


def _add_endpoint(connection, endpoint_id: uuid.UUID, now: datetime) -> None:
    """An endpoint row as any revision since 0004 stores it (its values unencrypted here)."""
    connection.execute(
        insert(ENDPOINTS),
        {"id": endpoint_id, "url": "u", "secret": "s", "events": "lead.created", "created_at": now},
    )


def test_deliveries_move_into_the_outbox_and_back(migrated_app) -> None:
    endpoint_id, now = uuid.uuid4(), datetime(2026, 12, 1, tzinfo=UTC)
    claimed = {
        "id": uuid.uuid4(),
        "endpoint_id": endpoint_id,
        "event": "lead.created",
        "lead_id": uuid.uuid4(),
        "status": "pending",
        "attempts": 2,
        "claimed_by": "worker-1",
        "claimed_until": now,
        "last_error": "HTTP 503",
        "created_at": now,
    }
    failed = {**claimed, "id": uuid.uuid4(), "status": "failed", "claimed_by": None}
    failed["claimed_until"] = None
    with migrated_app.app_context():
        downgrade(revision="0008")
        with db.engine.begin() as connection:
            _add_endpoint(connection, endpoint_id, now)
            connection.execute(insert(DELIVERIES), [claimed, failed])
        upgrade()
        assert "webhook_deliveries" not in inspect(db.engine).get_table_names()
        with db.engine.connect() as connection:
            moved = {row.id: row for row in connection.execute(select(OUTBOX))}
        assert set(moved) == {claimed["id"], failed["id"]}
        for original in (claimed, failed):
            row = moved[original["id"]]
            assert (row.channel, row.target_id) == ("webhook", endpoint_id)
            for name in STATE:
                assert getattr(row, name) == original[name], name
        assert moved[claimed["id"]].claimed_until is not None

        # Another channel's message would be lost below 0009: the downgrade is refused.
        other = {**claimed, "id": uuid.uuid4(), "channel": "mail", "target_id": None}
        del other["endpoint_id"]
        with db.engine.begin() as connection:
            connection.execute(insert(OUTBOX), other)
        with pytest.raises(SystemExit) as refused:
            downgrade(revision="0008")
        assert refused.value.code == 1
        assert "outbox" in inspect(db.engine).get_table_names()
        with db.engine.begin() as connection:
            connection.execute(delete(OUTBOX).where(OUTBOX.c.channel == "mail"))

        downgrade(revision="0008")
        assert "outbox" not in inspect(db.engine).get_table_names()
        with db.engine.connect() as connection:
            back = {row.id: row for row in connection.execute(select(DELIVERIES))}
        assert set(back) == {claimed["id"], failed["id"]}
        for original in (claimed, failed):
            for name in ("endpoint_id", *STATE):
                assert getattr(back[original["id"]], name) == original[name], name
        with db.engine.begin() as connection:
            connection.execute(delete(DELIVERIES))
            connection.execute(delete(ENDPOINTS))


def test_downgrade_below_0008_refuses_while_deliveries_are_pending(migrated_app) -> None:
    endpoints, deliveries = ENDPOINTS, DELIVERIES
    endpoint_id, now = uuid.uuid4(), datetime(2026, 12, 1, tzinfo=UTC)
    with migrated_app.app_context():
        downgrade(revision="0008")
        with db.engine.begin() as connection:
            _add_endpoint(connection, endpoint_id, now)
            connection.execute(
                insert(deliveries),
                {
                    "id": uuid.uuid4(),
                    "endpoint_id": endpoint_id,
                    "event": "lead.created",
                    "lead_id": uuid.uuid4(),
                    "status": "pending",
                    "attempts": 0,
                    "created_at": now,
                },
            )
        # Flask-Migrate logs the migration's RuntimeError ("1 webhook deliveries are
        # pending; ...") and exits 1, as `flask db downgrade` does; nothing has changed.
        with pytest.raises(SystemExit) as refused:
            downgrade(revision="0007")
        assert refused.value.code == 1
        assert "payload" not in {
            c["name"] for c in inspect(db.engine).get_columns("webhook_deliveries")
        }
        with db.engine.begin() as connection:
            connection.execute(update(deliveries).values(status="delivered"))
        downgrade(revision="0007")
        assert "payload" in {
            c["name"] for c in inspect(db.engine).get_columns("webhook_deliveries")
        }
        with db.engine.begin() as connection:
            connection.execute(delete(deliveries))
            connection.execute(delete(endpoints))


FORMS = table("forms", column("slug", String), column("document", String))
LEADS_V3 = table(
    "leads",
    *(column(name, String) for name in ("name", "email", "phone", "form", "custom_fields")),
    column("id", Uuid),
    column("email_bidx", LargeBinary),
    column("phone_bidx", LargeBinary),
    column("ip_bidx", LargeBinary),
    column("ip_unique", Boolean),
    column("created_at", DateTime(timezone=True)),
)


def _v2_lead(n: int) -> dict:
    """A lead row as revision 0009 stores it (values unencrypted here), with an IP index."""
    return {
        "id": uuid.uuid4(),
        "name": f"n{n}",
        "email": f"e{n}",
        "phone": f"p{n}",
        "email_bidx": bytes([n]) * 32,
        "phone_bidx": bytes([n + 100]) * 32,
        "ip_bidx": b"i" * 32 if n == 1 else None,
        "created_at": datetime(2026, 12, 1, tzinfo=UTC),
    }


def test_leads_join_the_default_form_and_back(migrated_app) -> None:
    v2 = table("leads", *(column(c.name, c.type) for c in LEADS_V3.c if c.name not in _V3_ONLY))
    with migrated_app.app_context():
        downgrade(revision="0009")
        assert "forms" not in inspect(db.engine).get_table_names()
        with db.engine.begin() as connection:
            connection.execute(insert(v2), [_v2_lead(1), _v2_lead(2)])
        upgrade()
        with db.engine.connect() as connection:
            rows = connection.execute(select(LEADS_V3).order_by(LEADS_V3.c.name)).all()
            forms = connection.execute(select(FORMS.c.slug)).scalars().all()
        assert forms == ["default"]
        assert [(r.name, r.form, r.custom_fields, bool(r.ip_unique)) for r in rows] == [
            ("n1", "default", None, True),
            ("n2", "default", None, True),
        ]

        # The IP's rule is now partial: a lead exempt from it may share the IP...
        exempt = {**_v2_lead(3), "ip_bidx": b"i" * 32, "form": "default", "ip_unique": False}
        with db.engine.begin() as connection:
            connection.execute(insert(LEADS_V3), exempt)
        # ... and one that keeps it may not (the index still decides).
        kept = {**_v2_lead(4), "ip_bidx": b"i" * 32, "form": "default", "ip_unique": True}
        with pytest.raises(IntegrityError), db.engine.begin() as connection:
            connection.execute(insert(LEADS_V3), kept)

        # Below 0010 that exempt lead would lose what makes it so: refused, nothing changed.
        with pytest.raises(SystemExit) as refused:
            downgrade(revision="0009")
        assert refused.value.code == 1
        assert "forms" in inspect(db.engine).get_table_names()
        for change in ({"form": "spring"}, {"custom_fields": "token"}):
            with db.engine.begin() as connection:
                connection.execute(
                    update(LEADS_V3)
                    .where(LEADS_V3.c.id == exempt["id"])
                    .values({"ip_unique": True, "ip_bidx": None, "form": "default", **change})
                )
            with pytest.raises(SystemExit):
                downgrade(revision="0009")
        with db.engine.begin() as connection:
            connection.execute(delete(LEADS_V3).where(LEADS_V3.c.id == exempt["id"]))

        downgrade(revision="0009")
        assert "forms" not in inspect(db.engine).get_table_names()
        assert not _V3_ONLY & {c["name"] for c in inspect(db.engine).get_columns("leads")}
        with db.engine.connect() as connection:
            back = connection.execute(select(v2.c.name, v2.c.ip_bidx).order_by(v2.c.name)).all()
        assert [(r.name, r.ip_bidx) for r in back] == [("n1", b"i" * 32), ("n2", None)]
        # The plain unique constraint is back: one lead per IP, whatever.
        with pytest.raises(IntegrityError), db.engine.begin() as connection:
            connection.execute(insert(v2), {**_v2_lead(5), "ip_bidx": b"i" * 32})
        with db.engine.begin() as connection:
            connection.execute(delete(v2))


_V3_ONLY = {"form", "custom_fields", "ip_unique"}


def test_endpoints_keep_every_form_and_some_forms_refuse_the_downgrade(migrated_app) -> None:
    endpoint_id, now = uuid.uuid4(), datetime(2026, 12, 1, tzinfo=UTC)
    with_forms = table(ENDPOINTS.name, *(column(c.name, c.type) for c in ENDPOINTS.c))
    with_forms.append_column(column("forms", String))
    with_forms.append_column(column("removed_at", DateTime(timezone=True)))
    with migrated_app.app_context():
        downgrade(revision="0010")
        with db.engine.begin() as connection:
            _add_endpoint(connection, endpoint_id, now)
        upgrade()
        with db.engine.connect() as connection:
            (row,) = connection.execute(select(with_forms)).all()
        assert (row.id, row.events, row.forms) == (endpoint_id, "lead.created", None)

        # An active endpoint of some forms would get every form's leads below 0011: refused.
        with db.engine.begin() as connection:
            connection.execute(update(with_forms).values(forms="spring,autumn"))
        with pytest.raises(SystemExit) as refused:
            downgrade(revision="0010")
        assert refused.value.code == 1
        assert "forms" in {c["name"] for c in inspect(db.engine).get_columns("webhook_endpoints")}
        # Once it is removed (kept for the delivery history), nothing is lost by going down.
        with db.engine.begin() as connection:
            connection.execute(update(with_forms).values(removed_at=now))
        downgrade(revision="0010")
        columns = {c["name"] for c in inspect(db.engine).get_columns("webhook_endpoints")}
        assert "forms" not in columns
        with db.engine.connect() as connection:
            back = connection.execute(select(ENDPOINTS.c.id, ENDPOINTS.c.events)).all()
        assert [(r.id, r.events) for r in back] == [(endpoint_id, "lead.created")]
        with db.engine.begin() as connection:
            connection.execute(delete(ENDPOINTS))
