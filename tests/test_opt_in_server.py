"""Double opt-in against a real server (`python -m leadapp.server`, its own outbox worker).

The whole flow: a pending lead with no `lead.created`, a link that a GET does not confirm,
30 presses at once that confirm once and announce once, the confirming address (through a
trusted proxy) kept encrypted, the token kept out of the access log; on SQLite and PostgreSQL.
"""

from __future__ import annotations

import threading
import time
import uuid
from collections import Counter
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from datetime import timedelta
from pathlib import Path

import pytest
from flask import Flask
from sqlalchemy import String, select, type_coerce

from leadapp import create_app
from leadapp.extensions import db
from leadapp.models import Lead
from leadapp.timeutil import utcnow
from tests.support.apps import put_form
from tests.support.builders import lead_payload
from tests.support.client import Answer
from tests.support.operator_data import set_lead
from tests.support.opt_in import DOI_FORM, MAIL_SETTINGS, confirmation_tokens
from tests.support.processes import flask_command
from tests.support.servers import LeadAppServer, leadapp_environment
from tests.support.waiting import wait_until
from tests.support.webhook_receiver import Receiver, add_endpoint

PRESSES = 30
VISITOR = "198.51.100.23"  # the address the lead was sent from, behind the proxy
CONFIRMER = "198.51.100.99"  # the address the link was pressed from
FORM_ENCODED = {"Content-Type": "application/x-www-form-urlencoded"}


@pytest.fixture
def operator(database_url: str, test_keys: dict[str, str], tmp_path: Path) -> Iterator[Flask]:
    """The operator's app on the server's migrated database, with a double opt-in form."""
    env = leadapp_environment(test_keys, database_url)
    if database_url.startswith("sqlite"):
        flask_command(env, "db", "upgrade")
    app = create_app({"SQLALCHEMY_DATABASE_URI": database_url, **MAIL_SETTINGS})
    put_form(app, "news", DOI_FORM)
    yield app
    with app.app_context():
        db.engine.dispose()


@pytest.fixture
def server(
    operator: Flask, database_url: str, test_keys: dict[str, str], tmp_path: Path
) -> Iterator[LeadAppServer]:
    """A server behind one trusted proxy (loopback), with mail configured but never reachable."""
    env = leadapp_environment(
        test_keys,
        database_url,
        **MAIL_SETTINGS,
        LEADAPP_TRUSTED_PROXIES="1",
        LEADAPP_RATELIMIT_LEADS="1000 per minute",
        LEADAPP_CACHE_SECONDS="0",
    )
    with LeadAppServer(env, tmp_path / "server.log") as started:
        yield started


def press(server: LeadAppServer, token: str, before_send=None) -> Answer:
    """The confirmation page's button: a form-encoded POST, through the proxy."""
    return server.request(
        "POST",
        f"/confirm/{token}",
        headers={**FORM_ENCODED, "X-Forwarded-For": CONFIRMER},
        before_send=before_send,
    )


def announced(receiver: Receiver, lead_id: str) -> list[dict]:
    """The lead.created webhooks the receiver got for the lead."""
    return [
        request.json()
        for request in receiver.requests
        if request.json()["type"] == "lead.created" and request.json()["data"]["id"] == lead_id
    ]


def test_thirty_presses_at_once_confirm_once_and_announce_once(
    operator: Flask, server: LeadAppServer, receiver: Receiver
) -> None:
    receiver.secret = add_endpoint(operator, receiver.url())[1]
    time.sleep(0.5)  # the server reads subscriptions with LEADAPP_CACHE_SECONDS=0
    forwarded = {"X-Forwarded-For": VISITOR}
    created = server.request("POST", "/f/news", lead_payload(1), headers=forwarded)
    assert created.status == 201, created.body
    lead = created.body
    assert lead["opt_in"] == {"status": "pending", "confirmed_at": None}
    assert lead["ip_address"] == VISITOR
    # A plain lead is announced by this server's worker; the pending one is not.
    plain = server.request(
        "POST", "/f/default", lead_payload(2), headers={"X-Forwarded-For": "198.51.100.24"}
    )
    wait_until(lambda: announced(receiver, plain.body["id"]), timeout=15, what="the plain lead")
    assert announced(receiver, lead["id"]) == []

    (token,) = confirmation_tokens(operator, lead["id"])
    page = server.request("GET", f"/confirm/{token}")
    assert page.status == 200 and page.headers["content-type"].startswith("text/html")
    assert "Confirm my address" in page.body
    time.sleep(1.0)  # a delivery would start within a second or so
    assert announced(receiver, lead["id"]) == []

    barrier = threading.Barrier(PRESSES, timeout=60)
    with ThreadPoolExecutor(max_workers=PRESSES) as pool:
        answers = list(pool.map(lambda _n: press(server, token, barrier.wait), range(PRESSES)))
    assert Counter(answer.status for answer in answers) == Counter({200: PRESSES})
    outcomes = Counter(
        "confirmed" if 'data-outcome="confirmed"' in answer.body else "already"
        for answer in answers
    )
    assert outcomes == Counter({"confirmed": 1, "already": PRESSES - 1})

    (webhook,) = wait_until(
        lambda: announced(receiver, lead["id"]), timeout=15, what="the lead's lead.created"
    )
    time.sleep(1.5)  # nothing more follows
    assert len(announced(receiver, lead["id"])) == 1 and receiver.unverified == []
    assert webhook["data"]["opt_in"]["status"] == "confirmed"
    assert webhook["data"]["opt_in"]["confirmed_at"] is not None

    leads = Lead.__table__
    with operator.app_context(), db.engine.connect() as connection:
        stored = connection.execute(
            select(
                leads.c.opt_in_address,
                type_coerce(leads.c.opt_in_address, String).label("token"),
            ).where(leads.c.id == uuid.UUID(lead["id"]))
        ).one()
    assert stored.opt_in_address == CONFIRMER  # the client behind the trusted proxy
    assert CONFIRMER not in stored.token and stored.token.startswith("gAAAA")  # Fernet

    # The link's token never reaches the log; the route does.
    log = server.log()
    assert token not in log and "/confirm/<token>" in log


def test_unknown_and_expired_links_through_the_server(
    operator: Flask, server: LeadAppServer
) -> None:
    unknown = server.request("GET", "/confirm/not-a-token")
    assert unknown.status == 404 and "Link not known" in unknown.body
    assert press(server, "not-a-token").status == 404
    created = server.request("POST", "/f/news", lead_payload(3))
    (token,) = confirmation_tokens(operator, created.body["id"])
    set_lead(operator, created.body["id"], created_at=utcnow() - timedelta(days=8))
    expired = press(server, token)
    assert expired.status == 410 and "Link expired" in expired.body
    assert expired.headers["content-type"].startswith("text/html")
