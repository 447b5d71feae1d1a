"""Retention: old leads erased as DELETE /leads/<id> erases, by `leads purge` and the worker."""

from __future__ import annotations

import uuid
from datetime import datetime, timedelta
from pathlib import Path

import pytest
from flask import Flask
from sqlalchemy import select

from leadapp import create_app
from leadapp.config import ConfigError, retention_settings
from leadapp.extensions import db
from leadapp.models import Lead
from leadapp.outbox.worker import PERIODIC_EXTENSION, Worker
from leadapp.services import idempotency, opt_in, retention
from leadapp.timeutil import as_utc, utcnow
from tests.support.apps import create_api_key, put_form
from tests.support.builders import lead_payload
from tests.support.client import bearer, store_lead
from tests.support.operator_data import add_lead_at, audit_events, set_lead
from tests.support.opt_in import DOI_FORM, MAIL_SETTINGS
from tests.support.processes import flask_command
from tests.support.servers import LeadAppServer, leadapp_environment
from tests.support.waiting import wait_until
from tests.support.webhook_receiver import add_endpoint, delivery_rows

DAY = timedelta(days=1)


def lead_exists(app: Flask, key: str, lead_id: str) -> bool:
    """Whether GET /leads/<id> finds the lead."""
    status = app.test_client().get(f"/leads/{lead_id}", headers=bearer(key)).status_code
    assert status in (200, 404)
    return status == 200


def test_setting_is_whole_days_or_unset() -> None:
    assert retention_settings({}) == {"LEADAPP_RETENTION_DAYS": None}
    assert retention_settings({"LEADAPP_RETENTION_DAYS": " 30 "}) == {
        "LEADAPP_RETENTION_DAYS": 30.0
    }
    for bad in ("0", "-1", "1.5", "thirty", "1_0", "\u0665", "9999999"):
        with pytest.raises(ConfigError, match="LEADAPP_RETENTION_DAYS"):
            retention_settings({"LEADAPP_RETENTION_DAYS": bad})


def test_purge_erases_only_old_leads_and_frees_their_email_and_phone(make_app) -> None:
    app = make_app(LEADAPP_RETENTION_DAYS=30, LEADAPP_CACHE_SECONDS=0)
    key = create_api_key(app)
    endpoint_id, _ = add_endpoint(app, "http://127.0.0.1:9/hook")
    now = utcnow()
    old = add_lead_at(app, key, 1, now - 30 * DAY - timedelta(seconds=5))
    older = add_lead_at(app, key, 2, now - 400 * DAY)
    young = add_lead_at(app, key, 3, now - 29 * DAY)
    fresh = store_lead(app, key, 4)["id"]

    result = app.test_cli_runner().invoke(args=["leads", "purge"])
    assert result.exit_code == 0, result.output
    assert result.output.strip() == "Erased 2 leads older than 30 days."

    assert not lead_exists(app, key, old) and not lead_exists(app, key, older)
    assert lead_exists(app, key, young) and lead_exists(app, key, fresh)
    # Their email and phone are free again: the same people may be leads anew.
    for n in (1, 2):
        again = app.test_client().post("/leads", json=lead_payload(n), headers=bearer(key))
        assert again.status_code == 201, again.get_json()

    (event,) = audit_events(app, "purge")
    assert event.api_key_name == "retention" and event.lead_count == 2
    assert sorted(event.lead_ids) == sorted([old, older])

    # As DELETE /leads/<id>: lead.erased queued, the lead's other deliveries cancelled.
    rows = [row for row in delivery_rows(app) if str(row["lead_id"]) in (old, older)]
    erased = [row for row in rows if row["event"] == "lead.erased"]
    assert sorted(str(row["lead_id"]) for row in erased) == sorted([old, older])
    assert all(str(row["target_id"]) == endpoint_id for row in erased)
    created = [row for row in rows if row["event"] == "lead.created"]
    assert created and all(row["status"] == "cancelled" for row in created)

    again = app.test_cli_runner().invoke(args=["leads", "purge"])
    assert again.output.strip() == "Erased 0 leads older than 30 days."


def test_purge_works_in_batches(make_app) -> None:
    app = make_app(LEADAPP_RETENTION_DAYS=1)
    key = create_api_key(app)
    ids = [add_lead_at(app, key, n, utcnow() - (2 + n) * DAY) for n in range(5)]
    with app.app_context():
        assert retention.purge_expired(batch_size=2) == 5
    assert [event.lead_count for event in audit_events(app, "purge")] == [2, 2, 1]
    assert not any(lead_exists(app, key, lead_id) for lead_id in ids)


def test_purge_without_the_setting_is_a_one_line_error(app: Flask, api_key: str) -> None:
    lead_id = add_lead_at(app, api_key, 1, utcnow() - 1000 * DAY)
    result = app.test_cli_runner().invoke(args=["leads", "purge"])
    assert result.exit_code == 1
    assert result.output.strip().splitlines() == [
        "Error: LEADAPP_RETENTION_DAYS is not set: there is no retention period to purge by."
    ]
    assert lead_exists(app, api_key, lead_id)
    assert audit_events(app, "purge") == []


def test_erase_and_purge_share_one_path(app: Flask, api_key: str) -> None:
    lead_id = store_lead(app, api_key, 1)["id"]
    response = app.test_client().delete(f"/leads/{lead_id}", headers=bearer(api_key))
    assert response.status_code == 204
    (event,) = audit_events(app, "erase")
    assert event.lead_ids == [lead_id] and event.lead_count is None
    missing = app.test_client().delete(f"/leads/{uuid.uuid4()}", headers=bearer(api_key))
    assert missing.status_code == 404


def test_the_factory_registers_the_purge_the_idempotency_sweep_and_the_expiry(
    app: Flask,
) -> None:
    jobs = app.extensions[PERIODIC_EXTENSION]
    assert retention.purge_job in jobs and idempotency.sweep_job in jobs
    assert opt_in.expiry_job in jobs


def test_the_worker_purges_by_itself_with_a_short_retention(make_app) -> None:
    # A fraction of a day, through the config only (the environment takes whole days).
    app = make_app(LEADAPP_RETENTION_DAYS=1.5 / 86400)
    key = create_api_key(app)
    old = store_lead(app, key, 1)["id"]
    wait_until(
        lambda: utcnow() - (1.5 / 86400) * DAY > _created_at(app, old),
        timeout=5,
        what="the lead to pass the retention",
    )
    young = store_lead(app, key, 2)["id"]
    worker = Worker(app).start()
    try:
        wait_until(lambda: not lead_exists(app, key, old), timeout=10, what="the purge")
        assert lead_exists(app, key, young)
    finally:
        worker.stop(5)
    assert [event.lead_ids for event in audit_events(app, "purge")] == [[old]]


def _created_at(app: Flask, lead_id: str) -> datetime:
    """A lead's stored created_at, as aware UTC (SQLite hands back naive values)."""
    with app.app_context():
        value = db.session.scalar(select(Lead.created_at).where(Lead.id == uuid.UUID(lead_id)))
    return as_utc(value)


def test_a_server_process_purges_at_start(
    database_url: str, test_keys: dict[str, str], tmp_path: Path
) -> None:
    env = leadapp_environment(
        test_keys, database_url, LEADAPP_RETENTION_DAYS="30", LEADAPP_CACHE_SECONDS="0"
    )
    if database_url.startswith("sqlite"):
        flask_command(env, "db", "upgrade")
    app = create_app({"SQLALCHEMY_DATABASE_URI": database_url})
    try:
        key = create_api_key(app, "operator")
        old = add_lead_at(app, key, 1, utcnow() - 31 * DAY)
        young = add_lead_at(app, key, 2, utcnow() - 29 * DAY)
        server = LeadAppServer(env, tmp_path / "server.log").start()
        try:
            wait_until(
                lambda: server.request("GET", f"/leads/{old}", headers=bearer(key)).status == 404,
                timeout=15,
                what="the server's worker to purge the old lead",
            )
            assert server.request("GET", f"/leads/{young}", headers=bearer(key)).status == 200
        finally:
            server.stop()
        assert "retention: erased 1 lead" in server.log()
        assert [event.lead_count for event in audit_events(app, "purge")] == [1]
    finally:
        with app.app_context():
            db.engine.dispose()


def test_purge_expires_unconfirmed_leads_first_without_lead_erased(make_app) -> None:
    app = make_app(**MAIL_SETTINGS, LEADAPP_RETENTION_DAYS=30)
    key = create_api_key(app)
    put_form(app, "news", DOI_FORM)
    add_endpoint(app, "http://127.0.0.1:9/hook")
    unconfirmed = store_lead(app, key, 1, path="/f/news")["id"]
    set_lead(app, unconfirmed, created_at=utcnow() - 8 * DAY)
    old = add_lead_at(app, key, 2, utcnow() - 31 * DAY)

    result = app.test_cli_runner().invoke(args=["leads", "purge"])
    assert result.exit_code == 0, result.output
    assert result.output.strip().splitlines() == [
        "Erased 1 lead left unconfirmed for 7 days.",
        "Erased 1 lead older than 30 days.",
    ]
    assert not lead_exists(app, key, unconfirmed) and not lead_exists(app, key, old)
    erased = [str(row["lead_id"]) for row in delivery_rows(app) if row["event"] == "lead.erased"]
    assert erased == [old]
    assert [event.lead_ids for event in audit_events(app, "expire")] == [[unconfirmed]]
