"""The email blind-index migration (revision 0005) and `keys reindex`, on both databases."""

from __future__ import annotations

import logging
import os
import time
import uuid
from collections.abc import Iterator

import pytest
import sqlalchemy as sa
from flask import Flask
from flask_migrate import downgrade, upgrade

from leadapp import create_app
from leadapp.crypto import current_keyring
from leadapp.extensions import db
from leadapp.normalize import email_match_key, legacy_email_match_key
from leadapp.services.reindex import reindex_emails
from leadapp.timeutil import utcnow
from tests.support.apps import create_api_key
from tests.support.builders import e164_for, lead_payload
from tests.support.client import bearer
from tests.support.tables import lightweight_table

# Only the columns of revision 0002, so these rows can be written before 0005 runs.
LEADS_0002 = lightweight_table(
    "leads", "id", "name", "email", "phone", "ip_address", "email_bidx", "phone_bidx", "created_at"
)


def old_rows(emails: list[str], start: int = 0) -> list[dict]:
    """Leads as the code before NFKC stored them: email_bidx of the lower-cased email."""
    keyring = current_keyring()
    name = keyring.encrypt("Stored Before")
    rows = []
    for n, email in enumerate(emails, start):
        rows.append(
            {
                "id": uuid.uuid4(),
                "name": name,
                "email": keyring.encrypt(email),
                "phone": keyring.encrypt(e164_for(n)),
                "ip_address": None,
                "email_bidx": keyring.blind_index("email", legacy_email_match_key(email)),
                "phone_bidx": keyring.blind_index("phone", e164_for(n)),
                "created_at": utcnow(),
            }
        )
    return rows


def store_old(app: Flask, emails: list[str], start: int = 0) -> list[uuid.UUID]:
    """Write leads with the old index; return their ids."""
    with app.app_context():
        rows = old_rows(emails, start)
        with db.engine.begin() as connection:
            connection.execute(sa.insert(LEADS_0002), rows)
    return [row["id"] for row in rows]


@pytest.fixture
def app_at_0002(database_url: str) -> Iterator[Flask]:
    """An app whose database the migrations built up to revision 0002 only."""
    app = create_app({"TESTING": True, "SQLALCHEMY_DATABASE_URI": database_url})
    with app.app_context():
        if db.engine.dialect.name == "postgresql":
            downgrade(revision="base")
        upgrade(revision="0002")
    yield app
    with app.app_context():
        upgrade()
        db.engine.dispose()


def test_migration_makes_old_leads_findable_and_duplicate_checked(app_at_0002: Flask) -> None:
    (fullwidth, ligature) = store_old(app_at_0002, ["ａｄａ@example.com", "oﬃce@example.com"])
    with app_at_0002.app_context():
        upgrade()
    client = app_at_0002.test_client()
    key = create_api_key(app_at_0002)
    for query, lead_id in (("ada@example.com", fullwidth), ("OFFICE@example.com", ligature)):
        found = client.get("/leads", query_string={"email": query}, headers=bearer(key))
        assert [lead["id"] for lead in found.get_json()["items"]] == [str(lead_id)]
    for n, email in enumerate(("Ada@example.com", "office@example.com")):
        again = client.post("/leads", json=lead_payload(100 + n, email=email), headers=bearer(key))
        assert again.status_code == 409, again.get_json()
        assert list(again.get_json()["errors"]) == ["email"]


class Recorder(logging.Handler):
    """Keeps the messages of one logger (caplog's root handler is removed by alembic.ini)."""

    def __init__(self) -> None:
        super().__init__()
        self.messages: list[str] = []

    def emit(self, record: logging.LogRecord) -> None:
        """Remember the formatted message."""
        self.messages.append(record.getMessage())


def test_migration_reports_leads_that_become_equal(app_at_0002: Flask) -> None:
    ascii_id, fullwidth_id = store_old(app_at_0002, ["ada@example.com", "ａｄａ@example.com"])
    recorder = Recorder()
    logger = logging.getLogger("leadapp.migrations")
    logger.addHandler(recorder)
    try:
        with app_at_0002.app_context():
            upgrade()  # no exception: a collision is reported, not a crash
    finally:
        logger.removeHandler(recorder)
    assert any(str(fullwidth_id) in m and str(ascii_id) in m for m in recorder.messages)
    assert not any("ada@" in m or "ａｄａ" in m for m in recorder.messages)
    client = app_at_0002.test_client()
    key = create_api_key(app_at_0002)
    listed = client.get("/leads", headers=bearer(key)).get_json()["items"]
    assert {lead["id"] for lead in listed} == {str(ascii_id), str(fullwidth_id)}  # both kept
    found = client.get("/leads?email=ada@example.com", headers=bearer(key)).get_json()["items"]
    assert [lead["id"] for lead in found] == [str(ascii_id)]


def test_downgrade_restores_the_lower_cased_index(app_at_0002: Flask) -> None:
    store_old(app_at_0002, ["ａｄａ@example.com"])
    with app_at_0002.app_context():
        upgrade()
        downgrade(revision="0002")
        keyring = current_keyring()
        with db.engine.connect() as connection:
            stored = connection.execute(sa.select(LEADS_0002.c.email_bidx)).scalar_one()
        assert stored == keyring.blind_index("email", "ａｄａ@example.com")


def test_cli_reindex_is_rerunnable_and_reports_collisions(app: Flask) -> None:
    store_old(app, ["ｂｅｎ@example.com", "ｃａｒｌ@example.com", "dan@example.com"])
    (holder,) = store_old(app, ["ben@example.com"], start=10)  # the new index of the fullwidth ben
    runner = app.test_cli_runner()
    first = runner.invoke(args=["keys", "reindex", "--batch-size", "2"])
    assert first.exit_code == 1, first.output
    assert "Checked 4 leads, reindexed 1." in first.output
    assert str(holder) in first.output and "Collision" in first.output
    assert "ben@" not in first.output
    second = runner.invoke(args=["keys", "reindex"])
    assert "Checked 4 leads, reindexed 0." in second.output  # nothing left but the collision
    client = app.test_client()
    key = create_api_key(app)
    found = client.get("/leads?email=carl@example.com", headers=bearer(key)).get_json()
    assert len(found["items"]) == 1


@pytest.mark.slow
def test_reindex_throughput(app: Flask) -> None:
    """Leads per second when every index is stale (LEADAPP_REINDEX_BENCH_LEADS, default 5,000;
    the README quotes 100,000)."""
    total = int(os.environ.get("LEADAPP_REINDEX_BENCH_LEADS", "5000"))
    with app.app_context():
        keyring = current_keyring()
        name = keyring.encrypt("Bench Lead")
        for start in range(0, total, 5000):
            rows = []
            for n in range(start, min(start + 5000, total)):
                email = f"ｌead{n}@example.com"
                rows.append(
                    {
                        "id": uuid.uuid4(),
                        "name": name,
                        "email": keyring.encrypt(email),
                        "phone": name,
                        "ip_address": None,
                        "email_bidx": keyring.blind_index("email", legacy_email_match_key(email)),
                        "phone_bidx": keyring.blind_index("phone", str(n)),
                        "created_at": utcnow(),
                    }
                )
            with db.engine.begin() as connection:
                connection.execute(sa.insert(LEADS_0002), rows)
        began = time.perf_counter()
        result = reindex_emails(batch_size=500)
        elapsed = time.perf_counter() - began
        assert (result.checked, result.reindexed, result.collisions) == (total, total, [])
        with db.engine.connect() as connection:
            sample = connection.execute(sa.select(LEADS_0002.c.email_bidx).limit(1)).scalar_one()
        assert sample in {
            keyring.blind_index("email", email_match_key(f"ｌead{n}@example.com"))
            for n in range(total)
        }
        dialect = db.engine.dialect.name
    print(f"\nreindex on {dialect}: {total} leads in {elapsed:.1f} s = {total / elapsed:,.0f}/s")


def test_a_lead_stored_before_the_script_rule_is_still_found(app: Flask) -> None:
    mixed = "\u0430da@example.com"  # a Cyrillic a among Latin letters: refused when new
    (lead_id,) = store_old(app, [mixed])
    client = app.test_client()
    key = create_api_key(app)
    found = client.get("/leads", query_string={"email": mixed}, headers=bearer(key)).get_json()
    assert [lead["id"] for lead in found["items"]] == [str(lead_id)]
    assert client.post("/leads", json=lead_payload(email=mixed)).status_code == 422
