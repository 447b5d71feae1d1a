"""Key rotation: re-encrypt under the newest key, resumable, blind indexes untouched."""

from __future__ import annotations

import pytest
from cryptography.fernet import Fernet
from sqlalchemy import String, select, type_coerce

from leadapp.extensions import db
from leadapp.models import Lead
from leadapp.services import rotation
from tests.support.apps import create_api_key
from tests.support.builders import lead_payload
from tests.support.client import bearer

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
