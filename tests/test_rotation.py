"""Key rotation: every encrypted column re-encrypted under the newest key, resumable, blind
indexes untouched; after it the old key can be dropped with webhooks still delivering."""

from __future__ import annotations

import uuid
from pathlib import Path

import pytest
from cryptography.fernet import Fernet
from sqlalchemy import String, select, type_coerce

from leadapp.crypto import Keyring
from leadapp.extensions import db
from leadapp.models import Lead
from leadapp.models.mail import CONFIRMATION
from leadapp.models.types import EncryptedString
from leadapp.services import rotation
from leadapp.services.mail_queue import queue_mail
from tests.support.apps import create_api_key
from tests.support.builders import lead_payload
from tests.support.client import bearer
from tests.support.processes import flask_command
from tests.support.servers import LeadAppServer, leadapp_environment
from tests.support.waiting import wait_until
from tests.support.webhook_receiver import Receiver, add_endpoint

LEADS = 7


def raw_rows(app) -> list[tuple]:
    """The stored tokens and blind indexes, undecrypted."""
    table = Lead.__table__
    with app.app_context(), db.engine.connect() as connection:
        return connection.execute(
            select(
                table.c.id,
                type_coerce(table.c.name, String),
                type_coerce(table.c.email, String),
                table.c.email_bidx,
                table.c.phone_bidx,
            ).order_by(table.c.id)
        ).all()


@pytest.fixture
def old_key() -> str:
    """The key the leads were first encrypted with."""
    return Fernet.generate_key().decode()


@pytest.fixture
def stored_leads(make_app, old_key: str) -> list[dict]:
    """Leads created under the old key through the API."""
    app = make_app(LEADAPP_ENCRYPTION_KEYS=[old_key])
    client = app.test_client()
    key = create_api_key(app)
    created = []
    for n in range(LEADS):
        response = client.post(
            "/leads", json=lead_payload(n, ip_address=f"198.51.100.{n + 1}"), headers=bearer(key)
        )
        assert response.status_code == 201
        created.append(response.get_json())
    return created


def test_rotate_then_drop_the_old_key(make_app, old_key: str, stored_leads: list[dict]) -> None:
    new_key = Fernet.generate_key().decode()
    during = make_app(LEADAPP_ENCRYPTION_KEYS=[new_key, old_key])
    before = raw_rows(during)
    result = during.test_cli_runner().invoke(args=["keys", "rotate", "--batch-size", "3"])
    assert result.exit_code == 0, result.output
    assert f"Checked {LEADS} leads, re-encrypted {LEADS}." in result.output
    after = raw_rows(during)
    for old_row, new_row in zip(before, after, strict=True):
        assert old_row[1] != new_row[1] and old_row[2] != new_row[2]  # new tokens
        assert old_row[3:] == new_row[3:]  # same blind indexes

    only_new = make_app(LEADAPP_ENCRYPTION_KEYS=[new_key])
    client = only_new.test_client()
    key = create_api_key(only_new, "reader")
    listed = client.get("/leads?limit=100", headers=bearer(key)).get_json()["items"]
    assert sorted(listed, key=lambda lead: lead["id"]) == sorted(
        stored_leads, key=lambda lead: lead["id"]
    )
    duplicate = client.post(
        "/leads", json=lead_payload(0, ip_address="192.0.2.200"), headers=bearer(key)
    )
    assert duplicate.status_code == 409
    assert sorted(duplicate.get_json()["errors"]) == ["email", "phone"]


def test_rerun_skips_current_rows_and_resumes_after_interruption(
    make_app, old_key: str, stored_leads: list[dict]
) -> None:
    new_key = Fernet.generate_key().decode()
    app = make_app(LEADAPP_ENCRYPTION_KEYS=[new_key, old_key])

    class Interrupted(Exception):
        pass

    def interrupt_after_first_batch(_count: int) -> None:
        raise Interrupted

    with app.app_context(), pytest.raises(Interrupted):
        rotation.rotate_all(batch_size=3, progress=interrupt_after_first_batch)
    with app.app_context():
        resumed = rotation.rotate_all(batch_size=3)
        assert (resumed.checked, resumed.rotated) == (LEADS, LEADS - 3)
        again = rotation.rotate_all(batch_size=3)
        assert (again.checked, again.rotated) == (LEADS, 0)
        names = sorted(db.session.scalars(select(Lead.name)))
    assert names == sorted(lead["name"] for lead in stored_leads)


def encrypted_columns_of_the_models() -> list[tuple[str, str]]:
    """(table, column) of every mapped column whose type is EncryptedString, from the models."""
    found = []
    for mapper in db.Model.registry.mappers:
        for column in mapper.columns:
            if isinstance(column.type, EncryptedString):
                found.append((column.table.name, column.name))
    return sorted(set(found))


def raw_tokens(app, table_name: str, column_name: str) -> dict[tuple, str]:
    """Every non-null stored token of one column, by primary key, undecrypted."""
    table = db.metadata.tables[table_name]
    keys = list(table.primary_key.columns)
    column = type_coerce(table.c[column_name], String)
    with app.app_context(), db.engine.connect() as connection:
        rows = connection.execute(select(*keys, column).where(column.is_not(None))).all()
    return {tuple(row[:-1]): row[-1] for row in rows}


def test_rotation_rewrites_every_encrypted_column_of_the_models(
    make_app, old_key: str, stored_leads: list[dict], receiver: Receiver
) -> None:
    columns = encrypted_columns_of_the_models()
    assert ("leads", "email") in columns and ("webhook_endpoints", "secret") in columns
    old = make_app(LEADAPP_ENCRYPTION_KEYS=[old_key])
    add_endpoint(old, receiver.url())
    with old.app_context(), db.engine.begin() as connection:
        queue_mail(
            connection,
            CONFIRMATION,
            "default",
            uuid.UUID(stored_leads[0]["id"]),
            "owner@example.org",
            token="sample-token",
        )
    old_keyring = Keyring([old_key], Fernet.generate_key().decode())
    # A column the builders above leave empty still gets a value under the old key, so
    # a column added later is rotated and checked here without naming it.
    for table_name, column_name in columns:
        if not raw_tokens(old, table_name, column_name):
            table = db.metadata.tables[table_name]
            with old.app_context(), db.engine.begin() as connection:
                connection.execute(
                    table.update().values(
                        {column_name: type_coerce(old_keyring.encrypt("sample"), String)}
                    )
                )
    before = {column: raw_tokens(old, *column) for column in columns}
    for column, tokens in before.items():
        assert tokens, f"no row holds {column}: add one to this test's data"

    new_key = Fernet.generate_key().decode()
    during = make_app(LEADAPP_ENCRYPTION_KEYS=[new_key, old_key])
    result = during.test_cli_runner().invoke(args=["keys", "rotate", "--batch-size", "2"])
    assert result.exit_code == 0, result.output
    assert "Checked 1 webhook endpoint, re-encrypted 1." in result.output

    new_only = Keyring([new_key], Fernet.generate_key().decode())
    for column in columns:
        after = raw_tokens(during, *column)
        assert after.keys() == before[column].keys(), column
        for key, token in after.items():
            assert token != before[column][key], column
            assert new_only.decrypt(token) == old_keyring.decrypt(before[column][key]), column


def test_rotate_drop_the_old_key_and_webhooks_still_work(
    tmp_path: Path, test_keys: dict[str, str], receiver: Receiver
) -> None:
    """README's three steps through the real CLI and server, with a webhook endpoint."""
    old_key, new_key = Fernet.generate_key().decode(), Fernet.generate_key().decode()
    database = f"sqlite:///{tmp_path / 'rotation.sqlite3'}"
    index = {"LEADAPP_BLIND_INDEX_KEY": test_keys["LEADAPP_BLIND_INDEX_KEY"]}
    before = leadapp_environment({**index, "LEADAPP_ENCRYPTION_KEYS": old_key}, database)
    during = leadapp_environment(
        {**index, "LEADAPP_ENCRYPTION_KEYS": f"{new_key},{old_key}"}, database
    )
    after = leadapp_environment({**index, "LEADAPP_ENCRYPTION_KEYS": new_key}, database)
    flask_command(before, "db", "upgrade")
    added = flask_command(before, "webhooks", "add", receiver.url()).stdout.splitlines()
    receiver.secret = added[-1]
    key = flask_command(before, "apikeys", "create", "operator").stdout.split()[-1]

    rotated = flask_command(during, "keys", "rotate")
    assert "Checked 1 webhook endpoint, re-encrypted 1." in rotated.stdout

    listed = flask_command(after, "webhooks", "list").stdout
    assert receiver.url() in listed
    with LeadAppServer(after, tmp_path / "server.log") as server:
        endpoints = server.request("GET", "/webhooks", headers=bearer(key))
        assert endpoints.status == 200, endpoints.body
        assert [e["url"] for e in endpoints.body["items"]] == [receiver.url()]
        created = server.request("POST", "/leads", lead_payload(1), headers=bearer(key))
        assert created.status == 201
        wait_until(lambda: receiver.answered(200), timeout=15, what="the delivery")
        assert "InvalidToken" not in server.log()
    assert receiver.unverified == []
    assert receiver.requests[0].json()["data"]["id"] == created.body["id"]
