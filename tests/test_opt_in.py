"""Double opt-in (contract v3, Mail): pending leads, the link's pages, resends, expiry."""

from __future__ import annotations

import hashlib
import threading
import uuid
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from datetime import timedelta
from typing import Any

import pytest
from flask import Flask
from sqlalchemy import select, type_coerce
from sqlalchemy.types import String

from leadapp.extensions import db
from leadapp.models import Lead
from leadapp.models.mail import Mail
from leadapp.models.outbox import OutboxMessage
from leadapp.outbox.worker import PERIODIC_EXTENSION
from leadapp.services import opt_in
from leadapp.timeutil import utcnow
from tests.support.apps import create_api_key, put_form
from tests.support.builders import lead_payload
from tests.support.client import bearer, post_lead
from tests.support.operator_data import audit_events, set_lead
from tests.support.opt_in import DOI_FORM, MAIL_SETTINGS, confirmation_mails, confirmation_tokens
from tests.support.servers import ThreadedServer
from tests.support.webhook_receiver import add_endpoint, delivery_rows

SLUG = "news"
VISITOR_IP = "203.0.113.77"
DAY = timedelta(days=1)


@pytest.fixture
def doi_app(make_app: Callable[..., Flask]) -> Flask:
    """An app with mail configured, a double opt-in form and a webhook endpoint for every form."""
    app = make_app(**MAIL_SETTINGS, LEADAPP_CACHE_SECONDS=0)
    put_form(app, SLUG, DOI_FORM)
    add_endpoint(app, "http://127.0.0.1:9/hook")
    return app


def submit(app: Flask, n: int, ip: str = VISITOR_IP, **overrides: Any):
    """POST lead n to the double opt-in form from a visitor's address."""
    return post_lead(app, lead_payload(n, **overrides), ip=ip, path=f"/f/{SLUG}")


def created_deliveries(app: Flask, lead_id: str) -> list[dict[str, Any]]:
    """The lead's lead.created webhook rows."""
    return [
        row
        for row in delivery_rows(app)
        if row["event"] == "lead.created" and str(row["lead_id"]) == lead_id
    ]


def stored_opt_in(app: Flask, lead_id: str) -> Any:
    """The lead's opt-in columns as stored (the address as its ciphertext too)."""
    leads = Lead.__table__
    with app.app_context(), db.engine.connect() as connection:
        return connection.execute(
            select(
                leads.c.opt_in_status,
                leads.c.opt_in_token_hash,
                leads.c.opt_in_sent_at,
                leads.c.opt_in_address,
                type_coerce(leads.c.opt_in_address, String).label("address_token"),
            ).where(leads.c.id == uuid.UUID(lead_id))
        ).first()


def outbox_statuses(app: Flask, lead_id: str) -> list[str]:
    """The statuses of every outbox row of the lead, on every channel, oldest first."""
    outbox = OutboxMessage.__table__
    with app.app_context(), db.engine.connect() as connection:
        return list(
            connection.execute(
                select(outbox.c.status)
                .where(outbox.c.lead_id == uuid.UUID(lead_id))
                .order_by(outbox.c.created_at)
            ).scalars()
        )


def confirm_link(app: Flask, token: str, ip: str = VISITOR_IP, method: str = "POST"):
    """Open (GET) or press (POST) a confirmation link as a visitor's browser would."""
    client = app.test_client()
    if method == "GET":
        return client.get(f"/confirm/{token}", environ_base={"REMOTE_ADDR": ip})
    return client.post(
        f"/confirm/{token}",
        data={},
        content_type="application/x-www-form-urlencoded",
        environ_base={"REMOTE_ADDR": ip},
    )


def test_a_lead_is_pending_until_its_link_is_pressed(doi_app: Flask) -> None:
    key = create_api_key(doi_app)
    answer = submit(doi_app, 1)
    assert answer.status_code == 201, answer.get_json()
    lead = answer.get_json()
    assert lead["opt_in"] == {"status": "pending", "confirmed_at": None}
    # Held back: no lead.created webhook; one confirmation mail to the lead's own address.
    assert created_deliveries(doi_app, lead["id"]) == []
    (mail,) = confirmation_mails(doi_app)
    assert mail["recipient"] == lead["email"] and str(mail["lead_id"]) == lead["id"]
    token = mail["token"]
    assert len(token) >= 43  # 32 random bytes, URL-safe base64
    stored = stored_opt_in(doi_app, lead["id"])
    assert stored.opt_in_token_hash == hashlib.sha256(token.encode()).digest()
    assert stored.opt_in_status == "pending" and stored.opt_in_address is None

    # Opening the link (a person, or a mail scanner) changes nothing.
    page = confirm_link(doi_app, token, method="GET")
    assert page.status_code == 200 and page.mimetype == "text/html"
    html = page.get_data(as_text=True)
    assert 'method="post"' in html and f'action="/confirm/{token}"' in html
    assert "Newsletter" in html
    assert stored_opt_in(doi_app, lead["id"]).opt_in_status == "pending"
    assert created_deliveries(doi_app, lead["id"]) == []

    pressed = confirm_link(doi_app, token)
    assert pressed.status_code == 200
    assert 'data-outcome="confirmed"' in pressed.get_data(as_text=True)
    read = doi_app.test_client().get(f"/leads/{lead['id']}", headers=bearer(key)).get_json()
    assert read["opt_in"]["status"] == "confirmed"
    assert read["opt_in"]["confirmed_at"] is not None
    assert len(created_deliveries(doi_app, lead["id"])) == 1
    stored = stored_opt_in(doi_app, lead["id"])
    assert stored.opt_in_address == VISITOR_IP  # decrypted by the column type
    assert VISITOR_IP not in stored.address_token  # ... and stored as a Fernet token

    # Pressed again, or opened: "already confirmed", nothing more queued.
    again = confirm_link(doi_app, token)
    assert again.status_code == 200
    assert 'data-outcome="already-confirmed"' in again.get_data(as_text=True)
    opened = confirm_link(doi_app, token, method="GET")
    assert 'data-outcome="already-confirmed"' in opened.get_data(as_text=True)
    assert len(created_deliveries(doi_app, lead["id"])) == 1
    assert stored_opt_in(doi_app, lead["id"]).opt_in_address == VISITOR_IP


def test_a_form_without_double_opt_in_announces_at_once(doi_app: Flask) -> None:
    answer = post_lead(doi_app, lead_payload(2), ip=VISITOR_IP, path="/f/default")
    lead = answer.get_json()
    assert answer.status_code == 201 and lead["opt_in"] is None
    assert len(created_deliveries(doi_app, lead["id"])) == 1
    assert confirmation_mails(doi_app) == []


def test_listing_and_export_show_the_opt_in(doi_app: Flask) -> None:
    key = create_api_key(doi_app)
    pending = submit(doi_app, 1).get_json()
    confirmed = submit(doi_app, 2, ip="203.0.113.78").get_json()
    confirm_link(doi_app, confirmation_tokens(doi_app, confirmed["id"])[0])
    items = doi_app.test_client().get("/leads", headers=bearer(key)).get_json()["items"]
    by_id = {item["id"]: item["opt_in"] for item in items}
    assert by_id[pending["id"]] == {"status": "pending", "confirmed_at": None}
    assert by_id[confirmed["id"]]["status"] == "confirmed"

    csv_text = (
        doi_app.test_client()
        .get("/leads/export.csv", headers=bearer(key))
        .get_data(as_text=True)
        .splitlines()
    )
    header = csv_text[0].split(",")
    assert header[-4:] == ["form", "opt_in_status", "opt_in_confirmed_at", "fields"]
    rows = {line.split(",")[0]: line.split(",") for line in csv_text[1:]}
    assert rows[pending["id"]][-4:-1] == [SLUG, "pending", ""]
    assert rows[confirmed["id"]][-4:-1] == [
        SLUG,
        "confirmed",
        by_id[confirmed["id"]]["confirmed_at"],
    ]


def test_an_unknown_link_is_404_and_an_expired_one_410_as_pages(doi_app: Flask) -> None:
    for method in ("GET", "POST"):
        unknown = confirm_link(doi_app, "x" * 43, method=method)
        assert unknown.status_code == 404 and unknown.mimetype == "text/html"
        assert "Link not known" in unknown.get_data(as_text=True)
    lead = submit(doi_app, 1).get_json()
    (token,) = confirmation_tokens(doi_app, lead["id"])
    set_lead(doi_app, lead["id"], created_at=utcnow() - 7 * DAY - timedelta(seconds=5))
    for method in ("GET", "POST"):
        expired = confirm_link(doi_app, token, method=method)
        assert expired.status_code == 410 and expired.mimetype == "text/html"
        assert "Link expired" in expired.get_data(as_text=True)
    assert stored_opt_in(doi_app, lead["id"]).opt_in_status == "pending"
    assert created_deliveries(doi_app, lead["id"]) == []


def test_a_success_url_is_where_the_confirmation_goes(doi_app: Flask) -> None:
    put_form(doi_app, SLUG, {**DOI_FORM, "success_url": "https://shop.example/welcome?x=1"})
    lead = submit(doi_app, 1).get_json()
    (token,) = confirmation_tokens(doi_app, lead["id"])
    page = confirm_link(doi_app, token, method="GET")
    policy = page.headers["Content-Security-Policy"]
    assert "form-action 'self' https://shop.example;" in policy
    assert "frame-ancestors 'none'" in policy and page.headers["X-Frame-Options"] == "DENY"
    pressed = confirm_link(doi_app, token)
    assert pressed.status_code == 303
    assert pressed.headers["Location"] == "https://shop.example/welcome?x=1"
    again = confirm_link(doi_app, token)
    assert again.status_code == 200
    assert 'data-outcome="already-confirmed"' in again.get_data(as_text=True)


def test_a_duplicate_of_a_pending_lead_resends_at_most_daily(doi_app: Flask) -> None:
    key = create_api_key(doi_app)
    lead = submit(doi_app, 1).get_json()
    (first,) = confirmation_tokens(doi_app, lead["id"])
    # Within 24 hours: a duplicate is refused as ever, and no further mail goes.
    duplicate = post_lead(doi_app, lead_payload(1), headers=bearer(key), path=f"/f/{SLUG}")
    assert duplicate.status_code == 409
    assert confirmation_tokens(doi_app, lead["id"]) == [first]

    # A day later, a duplicate by phone sends one new link to the lead's own address ...
    set_lead(doi_app, lead["id"], opt_in_sent_at=utcnow() - DAY - timedelta(seconds=5))
    by_phone = lead_payload(1, email="someone.else@example.com")
    duplicate = post_lead(doi_app, by_phone, headers=bearer(key), path=f"/f/{SLUG}")
    assert duplicate.status_code == 409 and set(duplicate.get_json()["errors"]) == {"phone"}
    tokens = confirmation_tokens(doi_app, lead["id"])
    assert len(tokens) == 2 and tokens[0] == first
    assert [mail["recipient"] for mail in confirmation_mails(doi_app)] == [lead["email"]] * 2
    # ... and only one: the next duplicate finds the new mail fresh.
    post_lead(doi_app, lead_payload(1), headers=bearer(key), path=f"/f/{SLUG}")
    assert len(confirmation_tokens(doi_app, lead["id"])) == 2

    # The new link replaces the earlier one; the earlier mail, not sent yet, is cancelled.
    assert outbox_statuses(doi_app, lead["id"]) == ["cancelled", "pending"]
    assert confirm_link(doi_app, first).status_code == 404
    assert confirm_link(doi_app, tokens[1]).status_code == 200
    assert len(created_deliveries(doi_app, lead["id"])) == 1


def test_a_confirmed_lead_gets_no_more_links(doi_app: Flask) -> None:
    key = create_api_key(doi_app)
    lead = submit(doi_app, 1).get_json()
    confirm_link(doi_app, confirmation_tokens(doi_app, lead["id"])[0])
    set_lead(doi_app, lead["id"], opt_in_sent_at=utcnow() - 2 * DAY)
    post_lead(doi_app, lead_payload(1), headers=bearer(key), path=f"/f/{SLUG}")
    assert len(confirmation_tokens(doi_app, lead["id"])) == 1


def test_a_concealed_duplicate_resends_too(make_app: Callable[..., Flask]) -> None:
    app = make_app(**MAIL_SETTINGS, LEADAPP_DUPLICATES_ANONYMOUS="conceal")
    put_form(app, SLUG, DOI_FORM)
    lead = submit(app, 1).get_json()
    set_lead(app, lead["id"], opt_in_sent_at=utcnow() - 2 * DAY)
    concealed = submit(app, 1, ip="203.0.113.99")
    assert concealed.status_code == 201 and concealed.get_json()["id"] != lead["id"]
    assert concealed.get_json()["opt_in"] == {"status": "pending", "confirmed_at": None}
    assert len(confirmation_tokens(app, lead["id"])) == 2


def test_a_honeypot_hit_looks_pending_and_sends_nothing(doi_app: Flask) -> None:
    decoy = submit(doi_app, 1, website="https://spam.example")
    assert decoy.status_code == 201
    assert decoy.get_json()["opt_in"] == {"status": "pending", "confirmed_at": None}
    assert confirmation_mails(doi_app) == []


def test_an_idempotent_replay_answers_the_first_201(doi_app: Flask) -> None:
    key = create_api_key(doi_app)
    headers = {**bearer(key), "Idempotency-Key": "opt-in-1"}
    first = post_lead(doi_app, lead_payload(1), headers=headers, path=f"/f/{SLUG}").get_json()
    confirm_link(doi_app, confirmation_tokens(doi_app, first["id"])[0])
    replay = post_lead(doi_app, lead_payload(1), headers=headers, path=f"/f/{SLUG}")
    assert replay.status_code == 201 and replay.headers["Idempotency-Replayed"] == "true"
    assert replay.get_json() == first  # opt_in pending, as answered then
    assert len(confirmation_tokens(doi_app, first["id"])) == 1


def test_expiry_erases_unconfirmed_leads_only_and_frees_them(doi_app: Flask) -> None:
    key = create_api_key(doi_app)
    stale = submit(doi_app, 1).get_json()
    young = submit(doi_app, 2, ip="203.0.113.78").get_json()
    kept = submit(doi_app, 3, ip="203.0.113.79").get_json()
    confirm_link(doi_app, confirmation_tokens(doi_app, kept["id"])[0])
    long_ago = utcnow() - 7 * DAY - timedelta(seconds=5)
    for lead in (stale, kept):
        set_lead(doi_app, lead["id"], created_at=long_ago)

    result = doi_app.test_cli_runner().invoke(args=["leads", "purge"])
    # Without LEADAPP_RETENTION_DAYS the purge still ends with its one-line error.
    assert result.exit_code == 1, (result.output, result.exception)
    assert result.output.splitlines()[0] == "Erased 1 lead left unconfirmed for 7 days."

    def exists(lead_id: str) -> bool:
        return (
            doi_app.test_client().get(f"/leads/{lead_id}", headers=bearer(key)).status_code == 200
        )

    assert not exists(stale["id"]) and exists(young["id"]) and exists(kept["id"])
    # Never announced, so no lead.erased; its confirmation mail is cancelled.
    assert [row for row in delivery_rows(doi_app) if row["event"] == "lead.erased"] == []
    assert outbox_statuses(doi_app, stale["id"]) == ["cancelled"]
    (event,) = audit_events(doi_app, "expire")
    assert event.api_key_name == "opt-in expiry" and event.lead_ids == [stale["id"]]
    # Its email, phone and IP are free again.
    assert submit(doi_app, 1).status_code == 201


def test_the_worker_runs_the_expiry(doi_app: Flask) -> None:
    assert opt_in.expiry_job in doi_app.extensions[PERIODIC_EXTENSION]
    lead = submit(doi_app, 1).get_json()
    set_lead(doi_app, lead["id"], created_at=utcnow() - 8 * DAY)
    opt_in.expiry_job(doi_app)
    with doi_app.app_context():
        assert db.session.get(Lead, uuid.UUID(lead["id"])) is None


def test_expiry_spares_a_lead_confirmed_meanwhile(doi_app: Flask) -> None:
    lead = submit(doi_app, 1).get_json()
    set_lead(
        doi_app,
        lead["id"],
        created_at=utcnow() - 8 * DAY,
        opt_in_status="confirmed",
        opt_in_confirmed_at=utcnow(),
    )
    with doi_app.app_context():
        assert opt_in.expire_unconfirmed() == 0


def test_the_token_is_stored_only_encrypted_and_as_a_hash(doi_app: Flask) -> None:
    lead = submit(doi_app, 1).get_json()
    (token,) = confirmation_tokens(doi_app, lead["id"])
    mails = Mail.__table__
    with doi_app.app_context(), db.engine.connect() as connection:
        raw = connection.execute(select(type_coerce(mails.c.token, String))).scalar_one()
    assert token not in raw


def test_concurrent_duplicates_resend_one_link(doi_app: Flask) -> None:
    key = create_api_key(doi_app)
    lead = submit(doi_app, 1).get_json()
    set_lead(doi_app, lead["id"], opt_in_sent_at=utcnow() - 2 * DAY)
    racers = 20
    barrier = threading.Barrier(racers, timeout=60)
    with ThreadedServer(doi_app) as server, ThreadPoolExecutor(max_workers=racers) as pool:
        answers = list(
            pool.map(
                lambda _n: server.request(
                    "POST",
                    f"/f/{SLUG}",
                    lead_payload(1),
                    headers=bearer(key),
                    before_send=barrier.wait,
                ),
                range(racers),
            )
        )
    assert [answer.status for answer in answers] == [409] * racers
    assert len(confirmation_tokens(doi_app, lead["id"])) == 2
