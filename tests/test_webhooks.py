"""Webhooks end to end: a real receiver on loopback, the outbox, retries, privacy, intake.

Every request a receiver gets is verified with the `standardwebhooks` package, an
implementation independent of ours.
"""

from __future__ import annotations

import contextlib
import json
import sqlite3
import statistics
import threading
import time
import uuid
from pathlib import Path

import pytest
from cryptography.fernet import InvalidToken
from flask import Flask
from sqlalchemy import event, inspect, text
from standardwebhooks.webhooks import Webhook

from leadapp import create_app
from leadapp.channels.webhook import signing, transport
from leadapp.config import ConfigError, webhook_settings
from leadapp.crypto import current_keyring
from leadapp.extensions import db
from leadapp.models.outbox import OutboxMessage
from leadapp.outbox import claims
from leadapp.outbox.backoff import backoff_seconds
from leadapp.outbox.events import EVENTS
from leadapp.outbox.worker import Worker, register_periodic
from leadapp.timeutil import rfc3339
from tests.support.apps import create_api_key, put_form
from tests.support.builders import lead_payload
from tests.support.client import bearer, store_lead
from tests.support.processes import flask_command
from tests.support.servers import (
    LeadAppServer,
    WorkerProcess,
    leadapp_environment,
    sigterm_mid_delivery,
)
from tests.support.waiting import black_hole, wait_until
from tests.support.webhook_receiver import Receiver, add_endpoint, always, delivery_rows, in_turn

deliveries = OutboxMessage.__table__


# --- helpers ------------------------------------------------------------------------------

FAST = {
    "LEADAPP_WEBHOOK_RETRY_SECONDS": 0.2,
    "LEADAPP_WEBHOOK_TIMEOUT": 2.0,
    "LEADAPP_CACHE_SECONDS": 0.2,
}


# --- signing, backoff, settings -----------------------------------------------------------


def test_our_signature_verifies_with_standardwebhooks() -> None:
    secret = signing.new_secret()
    body = json.dumps({"type": "lead.created", "data": {"name": "Zoë"}}, ensure_ascii=False)
    headers = signing.signed_headers(secret, "msg-1", body.encode(), time.time())
    assert Webhook(secret).verify(body.encode(), headers) == json.loads(body)
    headers["webhook-signature"] = signing.sign(secret, "msg-2", int(time.time()), body.encode())
    with pytest.raises(Exception, match="signature"):
        Webhook(secret).verify(body.encode(), headers)


def test_backoff_doubles_with_jitter_and_is_capped() -> None:
    for failures in range(1, 8):
        delays = [backoff_seconds(failures, 30.0) for _ in range(200)]
        expected = 30.0 * 2 ** (failures - 1)
        assert min(delays) >= 0.5 * expected
        assert max(delays) <= 1.5 * expected
        assert max(delays) - min(delays) > 0.3 * expected  # really jittered
    assert backoff_seconds(40, 30.0) == 6 * 3600
    assert backoff_seconds(1, 1.0, retry_after=120.0) == 120.0
    assert backoff_seconds(1, 1.0, retry_after=10**9) == 6 * 3600


def test_retry_after_seconds_and_dates() -> None:
    from datetime import UTC, datetime

    now = datetime(2026, 12, 1, 12, 0, 0, tzinfo=UTC)
    assert transport.parse_retry_after("120", now) == 120.0
    assert transport.parse_retry_after("Tue, 01 Dec 2026 12:01:00 GMT", now) == 60.0
    assert transport.parse_retry_after("soon", now) is None
    assert transport.parse_retry_after("٥", now) is None


def test_webhook_settings_defaults_and_errors() -> None:
    assert webhook_settings({}) == {
        "LEADAPP_WEBHOOK_WORKER": True,
        "LEADAPP_WEBHOOK_TIMEOUT": 10.0,
        "LEADAPP_WEBHOOK_MAX_ATTEMPTS": 12,
        "LEADAPP_WEBHOOK_RETRY_SECONDS": 30.0,
    }
    assert webhook_settings({"LEADAPP_WEBHOOK_RETRY_SECONDS": "0.2"})[
        "LEADAPP_WEBHOOK_RETRY_SECONDS"
    ] == pytest.approx(0.2)
    assert webhook_settings({"LEADAPP_WEBHOOK_WORKER": "off"})["LEADAPP_WEBHOOK_WORKER"] is False
    for name, value in (
        ("LEADAPP_WEBHOOK_WORKER", "maybe"),
        ("LEADAPP_WEBHOOK_TIMEOUT", "0"),
        ("LEADAPP_WEBHOOK_TIMEOUT", "-1"),
        ("LEADAPP_WEBHOOK_TIMEOUT", "inf"),
        ("LEADAPP_WEBHOOK_RETRY_SECONDS", "1e3"),
        ("LEADAPP_WEBHOOK_MAX_ATTEMPTS", "0"),
        ("LEADAPP_WEBHOOK_MAX_ATTEMPTS", "ten"),
    ):
        with pytest.raises(ConfigError, match=name):
            webhook_settings({name: value})


# --- the command line ---------------------------------------------------------------------


def test_add_list_remove(app: Flask) -> None:
    runner = app.test_cli_runner()
    endpoint_id, secret = add_endpoint(app, "https://crm.example.com/hooks?token=abc")
    assert secret.startswith("whsec_") and len(Webhook(secret)._whsecret) == 32
    listed = runner.invoke(args=["webhooks", "list"]).output
    assert endpoint_id in listed and "https://crm.example.com/hooks?token=abc" in listed
    assert "lead.created,lead.erased" in listed and secret not in listed
    assert secret.removeprefix("whsec_") not in listed

    only, _ = add_endpoint(app, "http://10.0.0.7:8080/in", "lead.erased")
    assert "lead.erased" in runner.invoke(args=["webhooks", "list"]).output

    again = runner.invoke(args=["webhooks", "add", "https://crm.example.com/hooks?token=abc"])
    assert again.exit_code != 0 and "exists already" in again.output
    for bad in ("ftp://x.example/", "not a url", "http:///nohost", "http://x.example:99999/"):
        result = runner.invoke(args=["webhooks", "add", bad])
        assert result.exit_code != 0 and "Traceback" not in result.output, bad
    wrong_event = runner.invoke(args=["webhooks", "add", "http://a.example/", "--event", "x"])
    assert wrong_event.exit_code != 0

    removed = runner.invoke(args=["webhooks", "remove", "https://crm.example.com/hooks?token=abc"])
    assert removed.exit_code == 0, removed.output
    assert runner.invoke(args=["webhooks", "remove", only]).exit_code == 0
    assert "No webhook endpoints." in runner.invoke(args=["webhooks", "list"]).output
    missing = runner.invoke(args=["webhooks", "remove", only])
    assert missing.exit_code != 0 and "No endpoint" in missing.output

    with app.app_context(), db.engine.connect() as connection:
        stored = connection.execute(text("SELECT url, secret FROM webhook_endpoints")).all()
    assert stored and all(
        "example.com" not in row.url and "whsec_" not in row.secret for row in stored
    )


# --- the outbox -----------------------------------------------------------------------------


def test_deliveries_are_written_with_the_lead_and_only_then(make_app) -> None:
    app = make_app(**FAST)
    key = create_api_key(app)
    add_endpoint(app, "http://127.0.0.1:9/a")
    add_endpoint(app, "http://127.0.0.1:9/b", "lead.erased")
    lead = store_lead(app, key, 1)
    rows = delivery_rows(app)
    assert [(str(r["lead_id"]), r["event"], r["status"]) for r in rows] == [
        (lead["id"], "lead.created", "pending")
    ]
    # A refused duplicate stores no lead, and so no delivery.
    duplicate = app.test_client().post("/leads", json=lead_payload(1), headers=bearer(key))
    assert duplicate.status_code == 409
    assert len(delivery_rows(app)) == 1
    # The body is built when a worker claims the delivery: the lead as its 201 answered it,
    # even though the refused duplicate has counted a resubmission on it meanwhile.
    with app.app_context():
        ((claimed,),) = claims.claim_batches("test-worker", 4, 32, 30.0)
    assert str(claimed.entry.id) == str(rows[0]["id"])
    assert json.loads(claimed.content.body) == {
        "type": "lead.created",
        "timestamp": rfc3339(rows[0]["created_at"]),
        "data": lead,
    }


def test_a_delivery_row_holds_no_copy_of_the_lead(make_app) -> None:
    app = make_app(**FAST)
    key = create_api_key(app)
    add_endpoint(app, "http://127.0.0.1:9/down")
    lead = store_lead(
        app,
        key,
        31,
        name="Zoë Delivery-Row",
        ip_address="198.51.100.31",
        attribution={"utm_term": "private term 31", "page_url": "https://example.com/p?q=31"},
    )
    with app.app_context():
        keyring = current_keyring()
        with db.engine.connect() as connection:
            (row,) = connection.execute(text("SELECT * FROM outbox")).all()
    stored = []
    for value in row:
        if isinstance(value, bytes | memoryview):
            value = bytes(value).decode("latin-1")
        if isinstance(value, str):
            stored.append(value)
            with contextlib.suppress(InvalidToken, ValueError, UnicodeError):
                stored.append(keyring.decrypt(value))
    assert row._mapping["status"] == "pending"
    assert uuid.UUID(str(row._mapping["lead_id"])) == uuid.UUID(lead["id"])
    for name in ("name", "email", "phone", "ip_address"):
        assert not any(lead[name] in value for value in stored), name
    for name in ("utm_term", "page_url"):
        assert not any(lead["attribution"][name] in value for value in stored), name


def test_a_new_endpoint_gets_leads_stored_from_ten_seconds_later(make_app, tmp_path) -> None:
    intake = make_app()
    key = create_api_key(intake)
    store_lead(intake, key)  # the intake process has now cached "no endpoints"
    operator = create_app({"SQLALCHEMY_DATABASE_URI": intake.config["SQLALCHEMY_DATABASE_URI"]})
    add_endpoint(operator, "http://127.0.0.1:9/new")
    added = time.monotonic()
    deadline = added + 10
    while time.monotonic() < deadline:
        store_lead(intake, key)
        if delivery_rows(intake):
            break
        time.sleep(0.5)
    assert delivery_rows(intake), "no delivery queued within 10 s of adding the endpoint"
    with operator.app_context():
        db.engine.dispose()


# --- delivery against a real receiver -------------------------------------------------------


def test_500_503_200_is_three_attempts_one_id_growing_gaps(make_app, worker_for) -> None:
    base = 1.0
    receiver = Receiver(in_turn(500, 503, 200))
    try:
        app = make_app(**{**FAST, "LEADAPP_WEBHOOK_RETRY_SECONDS": base})
        key = create_api_key(app)
        _, receiver.secret = add_endpoint(app, receiver.url())
        worker_for(app)
        lead = store_lead(app, key)
        committed = time.monotonic()
        wait_until(lambda: receiver.answered(200), timeout=20, what="the third attempt")
        time.sleep(1.0)  # nothing more may come
        requests = receiver.requests
        assert [r.answered for r in requests] == [500, 503, 200]
        assert receiver.unverified == []
        assert len({r.headers["webhook-id"] for r in requests}) == 1
        assert {r.body for r in requests} == {requests[0].body}
        assert requests[0].json()["type"] == "lead.created"
        assert requests[0].json()["data"] == lead
        assert requests[0].at - committed < 5
        slack = 1.0  # the poll interval and a busy machine
        first_gap = requests[1].at - requests[0].at
        second_gap = requests[2].at - requests[1].at
        assert 0.5 * base <= first_gap <= 1.5 * base + slack
        assert 1.0 * base <= second_gap <= 3.0 * base + slack
        (row,) = delivery_rows(app)
        assert row["status"] == "delivered" and row["attempts"] == 3
        assert row["last_status"] == 200
        assert str(row["id"]) == requests[0].headers["webhook-id"]
    finally:
        receiver.close()


def test_every_attempt_sends_the_same_bytes_built_from_the_lead(
    make_app, receiver: Receiver, worker_for
) -> None:
    receiver.behaviour = in_turn(500, 200)
    app = make_app(**{**FAST, "LEADAPP_WEBHOOK_RETRY_SECONDS": 2.0})
    key = create_api_key(app)
    _, receiver.secret = add_endpoint(app, receiver.url(), "lead.created")
    worker_for(app)
    lead = store_lead(app, key, 41, name="Zoë Ørsted", attribution={"utm_source": "news"})
    wait_until(lambda: delivery_rows(app)[0]["attempts"] == 1, timeout=10, what="the first failure")
    # Between the attempts the lead's stored row changes (a refused duplicate counts a
    # resubmission on it); the retry still sends the lead as it was created.
    duplicate = app.test_client().post("/leads", json=lead_payload(41), headers=bearer(key))
    assert duplicate.status_code == 409
    wait_until(lambda: receiver.answered(200), timeout=10, what="the retry")
    first, second = receiver.requests
    assert (first.answered, second.answered) == (500, 200)
    assert first.body == second.body
    assert first.headers["webhook-id"] == second.headers["webhook-id"]
    assert "Zoë Ørsted".encode() in first.body  # UTF-8, not \u escapes
    (row,) = delivery_rows(app)
    assert first.json() == {
        "type": "lead.created",
        "timestamp": rfc3339(row["created_at"]),
        "data": lead,
    }
    assert receiver.unverified == []


def test_a_redirect_is_not_followed(make_app, receiver: Receiver, worker_for) -> None:
    receiver.behaviour = lambda request, _n: (
        (302, {"Location": receiver.url("/elsewhere")}) if request.path == "/hook" else (200, {})
    )
    app = make_app(**{**FAST, "LEADAPP_WEBHOOK_RETRY_SECONDS": 30.0})
    key = create_api_key(app)
    _, receiver.secret = add_endpoint(app, receiver.url())
    worker_for(app)
    store_lead(app, key)
    wait_until(lambda: receiver.requests, timeout=10, what="the first attempt")
    wait_until(
        lambda: delivery_rows(app)[0]["attempts"] == 1, timeout=10, what="the failure recorded"
    )
    time.sleep(0.5)
    assert [r.path for r in receiver.requests] == ["/hook"]
    (row,) = delivery_rows(app)
    assert row["status"] == "pending" and row["last_status"] == 302
    assert "redirect" in row["last_error"]
    assert receiver.unverified == []


def test_after_max_attempts_failed_then_retry_delivers(
    make_app, receiver: Receiver, worker_for
) -> None:
    receiver.behaviour = always(500)
    app = make_app(**{**FAST, "LEADAPP_WEBHOOK_MAX_ATTEMPTS": 3})
    key = create_api_key(app)
    _, receiver.secret = add_endpoint(app, receiver.url())
    worker_for(app)
    store_lead(app, key)
    wait_until(lambda: delivery_rows(app)[0]["status"] == "failed", timeout=20, what="the failure")
    assert len(receiver.requests) == 3
    runner = app.test_cli_runner()
    listed = runner.invoke(args=["webhooks", "deliveries", "--status", "failed"]).output
    (row,) = delivery_rows(app)
    assert str(row["id"]) in listed and "HTTP 500" in listed

    receiver.behaviour = always(200)
    result = runner.invoke(args=["webhooks", "retry", "--failed"])
    assert result.exit_code == 0 and "Queued 1" in result.output
    wait_until(lambda: delivery_rows(app)[0]["status"] == "delivered", timeout=10, what="the retry")
    assert [r.answered for r in receiver.requests] == [500, 500, 500, 200]
    assert len({r.headers["webhook-id"] for r in receiver.requests}) == 1
    assert len({r.body for r in receiver.requests}) == 1
    assert receiver.unverified == []
    single = runner.invoke(args=["webhooks", "retry", str(row["id"])])
    assert single.exit_code != 0 and "delivered, not failed" in single.output


def test_retry_after_is_honoured(make_app, receiver: Receiver, worker_for) -> None:
    receiver.behaviour = lambda _r, n: (429, {"Retry-After": "3"}) if n == 0 else (200, {})
    app = make_app(**FAST)
    key = create_api_key(app)
    _, receiver.secret = add_endpoint(app, receiver.url())
    worker_for(app)
    store_lead(app, key)
    wait_until(lambda: receiver.answered(200), timeout=15, what="the second attempt")
    gap = receiver.requests[1].at - receiver.requests[0].at
    assert gap >= 3.0


def test_an_attempt_ends_at_the_timeout_even_when_bytes_trickle() -> None:
    import socket

    with socket.socket() as listener:
        listener.bind(("127.0.0.1", 0))
        listener.listen(1)
        port = listener.getsockname()[1]

        def trickle() -> None:
            connection, _ = listener.accept()
            with connection:
                connection.settimeout(10)
                connection.recv(65536)
                connection.sendall(b"HTTP/1.1 200 OK\r\n")
                for _ in range(40):
                    try:
                        connection.sendall(b"X-Slow: a\r\n")
                    except OSError:
                        return
                    time.sleep(0.1)

        thread = threading.Thread(target=trickle, daemon=True)
        thread.start()
        started = time.monotonic()
        outcome = transport.post(f"http://127.0.0.1:{port}/", b"{}", {}, timeout=1.0)
        elapsed = time.monotonic() - started
    assert not outcome.delivered and "timed out" in (outcome.error or "")
    assert elapsed < 1.5


def test_refused_and_hanging_receivers_are_failures() -> None:
    with black_hole() as port:
        started = time.monotonic()
        outcome = transport.post(f"http://127.0.0.1:{port}/", b"{}", {}, timeout=0.5)
        assert "timed out" in (outcome.error or "") and time.monotonic() - started < 1.0
    import socket

    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        closed_port = sock.getsockname()[1]
    outcome = transport.post(f"http://127.0.0.1:{closed_port}/", b"{}", {}, timeout=1)
    assert outcome.error == "connection refused" and not outcome.delivered


# --- privacy --------------------------------------------------------------------------------


def _every_stored_string(app: Flask) -> list[str]:
    """Every string value in every table, decrypted where it decrypts."""
    values = []
    with app.app_context():
        keyring = current_keyring()
        with db.engine.connect() as connection:
            for table in inspect(connection).get_table_names():
                for row in connection.execute(text(f'SELECT * FROM "{table}"')):  # noqa: S608
                    for value in row:
                        if isinstance(value, bytes | memoryview):
                            value = bytes(value).decode("latin-1")
                        if not isinstance(value, str):
                            continue
                        values.append(value)
                        with contextlib.suppress(InvalidToken, ValueError, UnicodeError):
                            values.append(keyring.decrypt(value))
    return values


def test_erasure_leaves_no_copy_of_the_lead_in_any_table(make_app, worker_for) -> None:
    receiver = Receiver(always(500))
    try:
        app = make_app(**{**FAST, "LEADAPP_WEBHOOK_MAX_ATTEMPTS": 1})
        key = create_api_key(app)
        _, receiver.secret = add_endpoint(app, receiver.url())
        add_endpoint(app, "http://127.0.0.1:9/never", "lead.created")
        failed = store_lead(app, key, 501)
        worker = worker_for(app)
        wait_until(
            lambda: any(r["status"] == "failed" for r in delivery_rows(app)),
            timeout=10,
            what="a failed delivery",
        )
        worker.stop(5)
        pending = store_lead(app, key, 502)
        for lead in (failed, pending):
            assert any(lead["email"] in value for value in _every_stored_string(app))
            response = app.test_client().delete(f"/leads/{lead['id']}", headers=bearer(key))
            assert response.status_code == 204
        stored = _every_stored_string(app)
        for lead in (failed, pending):
            for name in ("name", "email", "phone"):
                assert not any(lead[name] in value for value in stored), name
        rows = delivery_rows(app)
        created = [r for r in rows if r["event"] == "lead.created"]
        assert {r["status"] for r in created} == {"cancelled"}
        # The failed one cannot be put back in the queue.
        assert (
            "Queued 0"
            in app.test_cli_runner().invoke(args=["webhooks", "retry", "--failed"]).output
        )
        # The erasure itself is announced to the endpoint subscribed to it, and the pending
        # lead.created of the erased lead is never sent.
        seen = len(receiver.requests)
        worker_for(app)
        wait_until(
            lambda: len(receiver.requests) >= seen + 2, timeout=10, what="the lead.erased events"
        )
        time.sleep(0.5)  # nothing more may come
        sent = [r.json() for r in receiver.requests[seen:]]
        assert sorted((r["type"], r["data"]["id"]) for r in sent) == sorted(
            [("lead.erased", failed["id"]), ("lead.erased", pending["id"])]
        )
        assert all(r["data"] == {"id": r["data"]["id"]} for r in sent)
        assert receiver.unverified == []
    finally:
        receiver.close()


def test_no_plaintext_of_a_queued_lead_in_the_sqlite_file(tmp_path: Path) -> None:
    path = tmp_path / "queue.sqlite3"
    app = create_app({"TESTING": True, "SQLALCHEMY_DATABASE_URI": f"sqlite:///{path}"})
    with app.app_context():
        db.create_all()
    key = create_api_key(app)
    add_endpoint(app, "http://127.0.0.1:9/down")
    lead = store_lead(app, key, 777)
    assert delivery_rows(app)[0]["status"] == "pending"
    with app.app_context():
        db.engine.dispose()
    with sqlite3.connect(path) as connection:
        connection.execute("PRAGMA wal_checkpoint(FULL)")
    raw = b"".join(p.read_bytes() for p in tmp_path.glob("queue.sqlite3*"))
    for name in ("name", "email", "phone"):
        assert lead[name].encode() not in raw, name
    assert b"lead777" not in raw and b"Lead Person" not in raw


# --- the admin API ---------------------------------------------------------------------------


def test_admin_api_lists_endpoints_and_failed_deliveries(make_app, worker_for) -> None:
    app = make_app(**{**FAST, "LEADAPP_WEBHOOK_MAX_ATTEMPTS": 1})
    key = create_api_key(app)
    client = app.test_client()
    assert client.get("/webhooks").status_code == 401
    assert client.get("/webhooks/deliveries").status_code == 401
    endpoint_id, secret = add_endpoint(app, "http://127.0.0.1:9/refused")
    listed = client.get("/webhooks", headers=bearer(key))
    assert listed.status_code == 200
    assert secret not in listed.get_data(as_text=True)
    assert listed.get_json()["items"][0]["id"] == endpoint_id
    store_lead(app, key)
    worker_for(app)
    wait_until(lambda: delivery_rows(app)[0]["status"] == "failed", timeout=10, what="the failure")
    failed = client.get("/webhooks/deliveries?status=failed", headers=bearer(key)).get_json()
    (item,) = failed["items"]
    assert item["endpoint_id"] == endpoint_id and item["last_error"] == "connection refused"
    assert "payload" not in item
    assert client.get("/webhooks/deliveries?status=delivered", headers=bearer(key)).json == {
        "items": []
    }
    for query in ("status=lost", "limit=0", "limit=101", "limit=1_0", "limit=%D9%A5", "x=1"):
        response = client.get(f"/webhooks/deliveries?{query}", headers=bearer(key))
        assert response.status_code == 422, query
        assert response.mimetype == "application/problem+json"


# --- endpoints of some forms ------------------------------------------------------------------


def test_an_endpoint_of_one_form_gets_only_its_leads(make_app, receiver: Receiver, worker_for):
    app = make_app(**FAST)
    key = create_api_key(app)
    put_form(app, "spring")
    put_form(app, "autumn")
    _, receiver.secret = add_endpoint(app, receiver.url(), forms=("spring",))
    every = Receiver()
    try:
        _, every.secret = add_endpoint(app, every.url())
        worker_for(app)
        spring = store_lead(app, key, 61, path="/f/spring")
        autumn = store_lead(app, key, 62, path="/f/autumn")
        plain = store_lead(app, key, 63)
        wait_until(lambda: len(every.requests) >= 3, timeout=10, what="every form's leads")
        # The spring form is removed before its lead is erased: the erasure still follows
        # the form the lead was stored with.
        assert app.test_cli_runner().invoke(args=["forms", "remove", "spring"]).exit_code == 0
        client = app.test_client()
        for lead in (spring, autumn, plain):
            assert client.delete(f"/leads/{lead['id']}", headers=bearer(key)).status_code == 204
        wait_until(lambda: len(every.requests) >= 6, timeout=10, what="every form's erasures")
        wait_until(lambda: len(receiver.requests) >= 2, timeout=10, what="spring's events")
        time.sleep(1.0)  # nothing more may come
        got = sorted((r.json()["type"], r.json()["data"]["id"]) for r in receiver.requests)
        assert got == [("lead.created", spring["id"]), ("lead.erased", spring["id"])]
        assert sorted((r.json()["type"], r.json()["data"]["id"]) for r in every.requests) == sorted(
            (kind, lead["id"]) for kind in EVENTS for lead in (spring, autumn, plain)
        )
        assert receiver.unverified == [] and every.unverified == []
    finally:
        every.close()


def test_endpoints_list_their_forms(app: Flask, api_key: str) -> None:
    runner = app.test_cli_runner()
    put_form(app, "spring")
    put_form(app, "autumn")
    unknown = runner.invoke(args=["webhooks", "add", "http://a.example/", "--form", "nope"])
    assert unknown.exit_code == 1 and "No form nope" in unknown.output
    assert "Traceback" not in unknown.output
    malformed = runner.invoke(args=["webhooks", "add", "http://a.example/", "--form", "A B"])
    assert malformed.exit_code == 1 and "No form A B" in malformed.output
    some, _ = add_endpoint(app, "http://a.example/", forms=("spring", "autumn", "spring"))
    every, _ = add_endpoint(app, "http://b.example/")
    listed = {
        line.split()[0]: line
        for line in runner.invoke(args=["webhooks", "list"]).output.splitlines()
    }
    assert "autumn,spring" in listed[some] and "every form" in listed[every]
    items = app.test_client().get("/webhooks", headers=bearer(api_key)).get_json()["items"]
    assert {item["id"]: item["forms"] for item in items} == {
        some: ["autumn", "spring"],
        every: None,
    }


def test_routing_is_cached_no_query_per_lead(make_app) -> None:
    """The subscriptions are read once per period, whatever forms the leads are of."""
    app = make_app(LEADAPP_CACHE_SECONDS=60.0)
    key = create_api_key(app)
    put_form(app, "spring")
    add_endpoint(app, "http://127.0.0.1:9/spring", forms=("spring",))
    store_lead(app, key, 71)  # reads the subscriptions once
    statements: list[str] = []

    def capture(_conn, _cursor, statement, *_args) -> None:
        if "webhook_endpoints" in statement:
            statements.append(statement)

    with app.app_context():
        event.listen(db.engine, "before_cursor_execute", capture)
        try:
            spring = store_lead(app, key, 72, path="/f/spring")
            store_lead(app, key, 73)
        finally:
            event.remove(db.engine, "before_cursor_execute", capture)
    assert statements == []
    queued = [(str(r["lead_id"]), r["event"]) for r in delivery_rows(app)]
    assert queued == [(spring["id"], "lead.created")]


# --- the worker ----------------------------------------------------------------------------


def test_periodic_hooks_run_at_start_and_not_again_within_the_hour(make_app) -> None:
    app = make_app()
    calls: list[float] = []
    register_periodic(app, lambda _app: calls.append(time.monotonic()))
    worker = Worker(app).start()
    try:
        wait_until(lambda: calls, timeout=5, what="the periodic hook")
        time.sleep(1.0)
    finally:
        worker.stop(5)
    assert len(calls) == 1


# --- a real server process ------------------------------------------------------------------


@pytest.fixture
def sqlite_env(tmp_path: Path, test_keys: dict[str, str]) -> dict[str, str]:
    """The environment of server processes on a migrated SQLite file of the test's own."""
    env = leadapp_environment(
        test_keys,
        f"sqlite:///{tmp_path / 'server.sqlite3'}",
        LEADAPP_RATELIMIT_LEADS="1000 per minute",
        LEADAPP_WEBHOOK_TIMEOUT="10",
    )
    flask_command(env, "db", "upgrade")
    return env


def _intake_latencies(server: LeadAppServer, key: str, first: int, count: int) -> list[float]:
    """Seconds each of `count` POST /leads took."""
    latencies = []
    for n in range(first, first + count):
        started = time.perf_counter()
        answer = server.request("POST", "/leads", lead_payload(n), headers=bearer(key))
        latencies.append(time.perf_counter() - started)
        assert answer.status == 201, answer.body
    return latencies


def test_a_hanging_receiver_leaves_intake_latency_unchanged(sqlite_env, tmp_path) -> None:
    operator = create_app({"SQLALCHEMY_DATABASE_URI": sqlite_env["LEADAPP_DATABASE_URL"]})
    key = create_api_key(operator)
    server = LeadAppServer(sqlite_env, tmp_path / "server.log").start()
    try:
        _intake_latencies(server, key, 10_000, 5)  # warm up
        baseline = statistics.median(_intake_latencies(server, key, 11_000, 30))
        with black_hole() as port:
            add_endpoint(operator, f"http://127.0.0.1:{port}/hangs")
            time.sleep(6)  # past the subscription cache
            hanging = _intake_latencies(server, key, 12_000, 30)
            # The worker really is stuck on the receiver meanwhile (it claims within 5 s).
            rows = wait_until(
                lambda: (
                    (found := delivery_rows(operator))
                    and any(r["claimed_until"] for r in found)
                    and found
                ),
                timeout=10,
                what="the worker to claim a delivery to the hanging receiver",
            )
        assert len(rows) >= 30
        assert statistics.median(hanging) < baseline * 1.5 + 0.025, (baseline, hanging)
        assert max(hanging) < 1.0
    finally:
        server.stop()


def test_the_server_sigtermed_finishes_its_attempt_and_exits(
    sqlite_env, tmp_path, receiver: Receiver
) -> None:
    receiver.delay = 2.0
    operator = create_app({"SQLALCHEMY_DATABASE_URI": sqlite_env["LEADAPP_DATABASE_URL"]})
    key = create_api_key(operator)
    _, receiver.secret = add_endpoint(operator, receiver.url())
    server, _ = sigterm_mid_delivery(sqlite_env, tmp_path / "server.log", key, 3, receiver)
    (row,) = delivery_rows(operator)
    assert row["status"] == "delivered", server.log()
    assert receiver.unverified == []


def test_every_delivery_id_is_a_uuid(make_app) -> None:
    app = make_app()
    key = create_api_key(app)
    add_endpoint(app, "http://127.0.0.1:9/x")
    store_lead(app, key)
    assert all(isinstance(r["id"], uuid.UUID) for r in delivery_rows(app))
    assert EVENTS == ("lead.created", "lead.erased")


def test_credentials_in_the_url_are_sent_as_basic_auth(receiver: Receiver) -> None:
    url = f"http://n8n:s%40cret@127.0.0.1:{receiver.port}/hook"
    outcome = transport.post(url, b"{}", {"Content-Type": "application/json"}, timeout=5)
    assert outcome.delivered
    (request,) = receiver.requests
    assert request.headers["authorization"] == "Basic bjhuOnNAY3JldA=="


def test_a_removed_endpoint_gets_nothing_more(make_app, receiver: Receiver, worker_for) -> None:
    intake = make_app(LEADAPP_CACHE_SECONDS=1.0)
    key = create_api_key(intake)
    operator = create_app({"SQLALCHEMY_DATABASE_URI": intake.config["SQLALCHEMY_DATABASE_URI"]})
    endpoint_id, receiver.secret = add_endpoint(operator, receiver.url())
    time.sleep(1.2)
    pending = store_lead(intake, key)  # queued, never attempted: no worker yet
    result = operator.test_cli_runner().invoke(args=["webhooks", "remove", endpoint_id])
    assert result.exit_code == 0 and "cancelled 1 " in result.output
    # Within the cache's lifetime the intake process may still queue for it...
    stale = store_lead(intake, key)
    time.sleep(1.2)
    # ...but not after it, and what was queued meanwhile is cancelled, not sent.
    fresh = store_lead(intake, key)
    worker_for(intake)
    time.sleep(1.5)
    states = {str(r["lead_id"]): r["status"] for r in delivery_rows(intake)}
    assert states.get(pending["id"]) == "cancelled"
    assert states.get(stale["id"], "cancelled") == "cancelled"
    assert fresh["id"] not in states
    assert receiver.requests == []
    with operator.app_context():
        db.engine.dispose()


def test_a_hanging_endpoint_does_not_hold_up_the_others(make_app, receiver, worker_for) -> None:
    app = make_app(**{**FAST, "LEADAPP_WEBHOOK_TIMEOUT": 3.0})
    key = create_api_key(app)
    with black_hole() as port:
        add_endpoint(app, f"http://127.0.0.1:{port}/hangs", "lead.created")
        for n in range(8):  # queued first: the oldest due rows all go to the hanging one
            store_lead(app, key, 900 + n)
        _, receiver.secret = add_endpoint(app, receiver.url(), "lead.created")
        time.sleep(0.3)  # past the subscription cache
        lead = store_lead(app, key, 999)
        started = time.monotonic()
        worker = worker_for(app)
        wait_until(lambda: receiver.answered(200), timeout=10, what="the healthy endpoint")
        waited = time.monotonic() - started
        worker.stop(5)
    assert waited < 2.0, f"the healthy endpoint waited {waited:.1f} s behind the hanging one"
    assert receiver.requests[0].json()["data"]["id"] == lead["id"]
    assert receiver.unverified == []


def test_a_server_and_a_worker_on_one_sqlite_file_deliver_each_lead_once(
    sqlite_env, tmp_path
) -> None:
    receiver = Receiver(always(200), delay=0.02)
    worker = None
    try:
        operator = create_app({"SQLALCHEMY_DATABASE_URI": sqlite_env["LEADAPP_DATABASE_URL"]})
        key = create_api_key(operator)
        _, receiver.secret = add_endpoint(operator, receiver.url(), "lead.created")
        server = LeadAppServer(sqlite_env, tmp_path / "server.log").start()
        try:
            worker = WorkerProcess(sqlite_env, tmp_path / "worker.log")
            ids = []
            for n in range(20):
                answer = server.request(
                    "POST", "/leads", lead_payload(4000 + n), headers=bearer(key)
                )
                assert answer.status == 201, answer.body
                ids.append(answer.body["id"])
            wait_until(lambda: len(receiver.answered(200)) >= 20, timeout=20, what="20 deliveries")
            time.sleep(1.5)
            assert worker.stop() == 0
        finally:
            server.stop()
        delivered = sorted(r.json()["data"]["id"] for r in receiver.requests)
        assert delivered == sorted(ids)
        assert receiver.unverified == []
        assert "database is locked" not in server.log() + worker.log()
    finally:
        if worker is not None:
            worker.kill()
        receiver.close()
