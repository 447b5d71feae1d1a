"""Mail in one process: cap and digest, erasure, headers, the API, a slow server, rotation."""

from __future__ import annotations

import threading
import uuid
from concurrent.futures import ThreadPoolExecutor
from datetime import timedelta
from pathlib import Path

import pytest
from cryptography.fernet import Fernet
from flask import Flask
from sqlalchemy import select

from leadapp.channels.mail.compose import Composer, UnsafeHeader
from leadapp.extensions import db
from leadapp.models.mail import Mail
from leadapp.models.outbox import OutboxMessage
from leadapp.outbox.worker import PERIODIC_EXTENSION
from leadapp.services.forms import Form
from leadapp.services.mail import autoresponse_allowed
from leadapp.services.mail_digest import digest_job, send_digests
from leadapp.services.retention import purge_job
from leadapp.timeutil import utcnow
from tests.support.apps import create_api_key, put_form
from tests.support.builders import lead_payload
from tests.support.client import bearer
from tests.support.forms import post
from tests.support.mail import OWNER
from tests.support.smtp_server import SmtpServer
from tests.support.waiting import wait_until

mails = Mail.__table__


@pytest.fixture
def smtp(tmp_path: Path):
    """A plain SMTP server that accepts everything."""
    with SmtpServer(tmp_path) as server:
        yield server


def _mail_rows(app: Flask) -> list:
    """Every mails row: kind, lead id, held hour, digest id, lead ids."""
    with app.app_context(), db.engine.connect() as connection:
        return connection.execute(
            select(mails.c.kind, mails.c.lead_id, mails.c.held_hour, mails.c.lead_ids)
        ).all()


def test_past_the_hourly_cap_the_leads_wait_for_one_digest(
    make_app, smtp: SmtpServer, worker_for
) -> None:
    app = make_app(
        **smtp.settings(), LEADAPP_MAIL_NOTIFY_PER_HOUR=2, LEADAPP_WEBHOOK_RETRY_SECONDS=0.2
    )
    key = create_api_key(app)
    put_form(app, "spring", {"title": "Spring", "notify": [OWNER], "one_lead_per_ip": False})
    ids = []
    for n in range(5):
        answer = post(app, "spring", lead_payload(300 + n))
        assert answer.status_code == 201, answer.get_json()
        ids.append(answer.get_json()["id"])
    held = [row for row in _mail_rows(app) if row.held_hour is not None]
    assert sorted(str(row.lead_id) for row in held) == sorted(ids[2:])
    # Erasing a lead takes its held notification with it: the digest lists the other two.
    erased = app.test_client().delete(f"/leads/{ids[4]}", headers=bearer(key))
    assert erased.status_code == 204
    assert uuid.UUID(ids[4]) not in {row.lead_id for row in _mail_rows(app)}

    with app.app_context():
        assert send_digests() == 0, "the hour has not ended"

    def digest_later(_: int) -> int:
        with app.app_context():
            return send_digests(utcnow() + timedelta(hours=1))

    with ThreadPoolExecutor(2) as pool:
        assert sorted(pool.map(digest_later, range(2))) == [0, 1]
    (digest,) = [row for row in _mail_rows(app) if row.kind == "digest"]
    assert digest.lead_ids == ",".join(ids[2:4])
    # Erasing the digest's last lead leaves it out; the digest still tells of the other one.
    erased = app.test_client().delete(f"/leads/{ids[3]}", headers=bearer(key))
    assert erased.status_code == 204

    worker_for(app)
    wait_until(lambda: len(smtp.to(OWNER)) == 3, timeout=15, what="2 notifications and a digest")
    subjects = sorted(m.message["Subject"] for m in smtp.to(OWNER))
    assert subjects == ["1 more new leads: Spring", "New lead: Spring", "New lead: Spring"]
    (mail,) = [m for m in smtp.to(OWNER) if m.message["Subject"].startswith("1 more")]
    text = mail.message.get_body(("plain",)).get_content()
    assert "Lead Person 302" in text
    assert not any(f"Lead Person {n}" in text for n in (300, 303, 304))
    assert mail.message["Reply-To"] is None


def test_every_worker_makes_the_digests_every_minute(make_app) -> None:
    periods = make_app().extensions[PERIODIC_EXTENSION]
    assert periods[digest_job] == 60.0 and periods[purge_job] == 3600.0


def test_no_header_is_built_from_a_value_with_a_line_break() -> None:
    composer = Composer("leads@example.org", None)
    form = Form(slug="spring", title="Spring")
    lead = {
        "name": "Ann",
        "email": "ann@example.org\r\nBcc: victim@example.net",
        "phone": "+14155550100",
        "created_at": utcnow(),
        "attribution": {},
        "consent": None,
        "fields": {},
    }
    with pytest.raises(UnsafeHeader):
        composer.notification(uuid.uuid4(), "owner@example.org", lead, form)
    with pytest.raises(UnsafeHeader):
        composer.notification(uuid.uuid4(), "owner@example.org\nBcc: x@example.net", lead, form)
    bad_title = Form(slug="spring", title="Spring\u2028Bcc: x@example.net")
    with pytest.raises(UnsafeHeader):
        composer.notification(
            uuid.uuid4(), "owner@example.org", {**lead, "email": "a@b.org"}, bad_title
        )
    with pytest.raises(UnsafeHeader):
        Composer("leads@example.org\nBcc: x@example.net", None)


def test_the_mail_deliveries_api_lists_state_never_a_recipient(make_app) -> None:
    app = make_app(LEADAPP_SMTP_URL="smtp://127.0.0.1:9", LEADAPP_MAIL_FROM="leads@example.org")
    key = create_api_key(app)
    put_form(app, "spring", {"notify": [OWNER], "autoresponder": {"subject": "S", "body": "B"}})
    lead = post(app, "spring", lead_payload(400)).get_json()
    # Nothing for a honeypot hit or a duplicate: they never store a lead.
    assert post(app, "spring", lead_payload(401, website="x"), ip="203.0.113.10").status_code == 201
    assert post(app, "spring", lead_payload(400), ip="203.0.113.11").status_code == 409
    client = app.test_client()
    answer = client.get("/mail/deliveries?status=pending", headers=bearer(key))
    assert answer.status_code == 200
    items = answer.get_json()["items"]
    assert sorted(item["kind"] for item in items) == ["autoresponse", "notification"]
    assert {item["lead_id"] for item in items} == {lead["id"]}
    assert OWNER not in answer.get_data(as_text=True)
    assert lead["email"] not in answer.get_data(as_text=True)
    assert client.get("/mail/deliveries").status_code == 401
    bad = client.get("/mail/deliveries?status=lost", headers=bearer(key))
    assert bad.status_code == 422 and "status" in bad.get_json()["errors"]


def test_a_slow_smtp_server_times_out_and_the_mail_is_sent_later(
    make_app, smtp: SmtpServer, worker_for
) -> None:
    app = make_app(**smtp.settings(), LEADAPP_WEBHOOK_TIMEOUT=1, LEADAPP_WEBHOOK_RETRY_SECONDS=0.2)
    put_form(app, "slow", {"notify": [OWNER]})
    smtp.delay = 2.5
    assert post(app, "slow", lead_payload(500)).status_code == 201
    worker_for(app)
    outbox = OutboxMessage.__table__

    def first_attempt():
        with app.app_context(), db.engine.connect() as connection:
            return connection.execute(
                select(outbox.c.status, outbox.c.last_error).where(outbox.c.attempts >= 1)
            ).first()

    failed = wait_until(first_attempt, timeout=10, what="the attempt to time out")
    assert failed.last_error == "timed out after 1 s"
    smtp.delay = 0.0
    wait_until(
        lambda: (row := first_attempt()) is not None and row.status == "delivered",
        timeout=15,
        what="the mail to be sent",
    )
    # The server may have kept the first copy after the client gave up: one Message-ID still.
    assert len({m.message["Message-ID"] for m in smtp.received()}) == 1


def test_queued_mail_is_sent_after_rotation_with_the_old_key_dropped(
    make_app, smtp: SmtpServer, worker_for
) -> None:
    old, new = Fernet.generate_key().decode(), Fernet.generate_key().decode()
    before = make_app(**smtp.settings(), LEADAPP_ENCRYPTION_KEYS=[old])
    put_form(before, "spring", {"title": "Spring", "notify": [OWNER]})
    assert post(before, "spring", lead_payload(600)).status_code == 201
    during = make_app(**smtp.settings(), LEADAPP_ENCRYPTION_KEYS=[new, old])
    rotated = during.test_cli_runner().invoke(args=["keys", "rotate"])
    assert rotated.exit_code == 0, rotated.output
    after = make_app(**smtp.settings(), LEADAPP_ENCRYPTION_KEYS=[new])
    worker_for(after)
    (mail,) = wait_until(lambda: smtp.to(OWNER), timeout=15, what="the notification")
    assert "Lead Person 600" in mail.message.get_body(("plain",)).get_content()


def test_one_autoresponse_per_address_per_day_even_at_once(make_app) -> None:
    app = make_app()
    bidx = uuid.uuid4().bytes * 2
    now = utcnow()
    start = threading.Barrier(8)

    def attempt(n: int) -> bool:
        with app.app_context(), db.engine.begin() as connection:
            connection.execute(select(1))  # connected before the race starts
            start.wait()
            # Each lead a moment apart, as they arrive.
            return autoresponse_allowed(connection, bidx, now + timedelta(microseconds=n))

    with ThreadPoolExecutor(8) as pool:
        assert sorted(pool.map(attempt, range(8))) == [False] * 7 + [True]
    with app.app_context(), db.engine.begin() as connection:
        assert not autoresponse_allowed(connection, bidx, now + timedelta(hours=23))
    with app.app_context(), db.engine.begin() as connection:
        assert autoresponse_allowed(connection, bidx, now + timedelta(hours=24, seconds=1))
