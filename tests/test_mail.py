"""Mail through the real server and worker processes, to a real SMTP server on loopback."""

from __future__ import annotations

import json
import time
import uuid
from pathlib import Path

import pytest

from tests.support.builders import lead_payload
from tests.support.client import bearer
from tests.support.mail import (
    AUTORESPONDER,
    OWNER,
    PUBLIC_URL,
    SPRING,
    mail_environment,
    mail_rows,
    put_notify_form,
)
from tests.support.processes import flask_command
from tests.support.servers import LeadAppServer, WorkerProcess
from tests.support.smtp_server import SmtpServer, trickling_server
from tests.support.waiting import wait_until

pytestmark = [pytest.mark.slow]


@pytest.fixture
def smtp(tmp_path: Path):
    """A plain SMTP server that accepts everything until told otherwise."""
    with SmtpServer(tmp_path) as server:
        yield server


def _message_id(outbox_id: object) -> str:
    """The Message-ID LeadApp gives the mail of this outbox row."""
    return f"<{uuid.UUID(str(outbox_id)).hex}@leadapp.test>"


def test_notification_and_autoresponse_from_a_real_server(
    tmp_path: Path, test_keys: dict[str, str], smtp: SmtpServer
) -> None:
    env = mail_environment(tmp_path, test_keys, smtp)
    key = flask_command(env, "apikeys", "create", "ops").stdout.strip().splitlines()[-1]
    body = lead_payload(
        1,
        name="<script>alert(1)</script> Ann",
        fields={"company": "Acme & <b>Co</b>"},
        attribution={"utm_source": "news<letter>"},
    )
    with LeadAppServer(env, tmp_path / "server.log") as server:
        answer = server.request("POST", "/f/spring", body)
        assert answer.status == 201, answer.body
        lead_id = answer.body["id"]
        wait_until(lambda: len(smtp.received()) == 2, timeout=15, what="two mails")
        (note,) = smtp.to(OWNER)
        (reply,) = smtp.to(body["email"])

        message = note.message
        assert message["Subject"] == "New lead: Spring <offer> & more"
        assert message["From"] == "leads@leadapp.test"
        assert message["Reply-To"] == body["email"]
        assert message["Auto-Submitted"] == "auto-generated"
        assert message["Date"]
        outbox = {row["event"]: row for row in mail_rows(env["LEADAPP_DATABASE_URL"])}
        assert message["Message-ID"] == _message_id(outbox["mail.notification"]["id"])
        text = message.get_body(("plain",)).get_content()
        html = message.get_body(("html",)).get_content()
        for shown in ("<script>alert(1)</script> Ann", body["email"], "Acme & <b>Co</b>"):
            assert shown in text
        assert "&lt;script&gt;alert(1)&lt;/script&gt; Ann" in html
        assert "<script>" not in html and "<b>Co</b>" not in html
        assert "Acme &amp; &lt;b&gt;Co&lt;/b&gt;" in html and "news&lt;letter&gt;" in html
        assert f'href="{PUBLIC_URL}/admin"' in html and f"{PUBLIC_URL}/admin" in text

        answer_mail = reply.message
        assert answer_mail["Subject"] == AUTORESPONDER["subject"]
        assert answer_mail["Auto-Submitted"] == "auto-replied"
        assert answer_mail.get_content() == AUTORESPONDER["body"] + "\n"
        assert not answer_mail.is_multipart()
        assert "Ann" not in reply.data.decode()

        # Erased, then sent again within the day: notified again, answered no second time.
        assert server.request("DELETE", f"/leads/{lead_id}", headers=bearer(key)).status == 204
        again = server.request("POST", "/f/spring", {**body, "name": "Ann again"})
        assert again.status == 201, again.body
        wait_until(lambda: len(smtp.to(OWNER)) == 2, timeout=15, what="the second notification")
        time.sleep(1.0)
        assert len(smtp.to(body["email"])) == 1
        assert [m.session for m in smtp.received()].count(note.session) >= 2, "not kept alive"


def test_mail_waits_while_smtp_is_unset_then_a_worker_sends_it(
    tmp_path: Path, test_keys: dict[str, str], smtp: SmtpServer
) -> None:
    env = mail_environment(tmp_path, test_keys, None)
    with LeadAppServer(env, tmp_path / "server.log") as server:
        assert server.request("POST", "/f/spring", lead_payload(2)).status == 201
        time.sleep(2.0)
    rows = mail_rows(env["LEADAPP_DATABASE_URL"])
    assert [(r["status"], r["attempts"]) for r in rows] == [("pending", 0)] * 2
    listed = flask_command(env, "mail", "deliveries", "--status", "pending").stdout
    assert "notification" in listed and OWNER in listed and "autoresponse" in listed
    worker = WorkerProcess({**env, **smtp.settings()}, tmp_path / "worker.log")
    try:
        wait_until(lambda: len(smtp.received()) == 2, timeout=15, what="the queued mails")
    finally:
        assert worker.stop() == 0
    assert {r["status"] for r in mail_rows(env["LEADAPP_DATABASE_URL"])} == {"delivered"}


def test_a_notify_address_removed_before_sending_gets_no_mail(
    tmp_path: Path, test_keys: dict[str, str], smtp: SmtpServer
) -> None:
    env = mail_environment(tmp_path, test_keys, None)
    with LeadAppServer(env, tmp_path / "server.log") as server:
        assert server.request("POST", "/f/spring", lead_payload(3)).status == 201
    sending = {**env, **smtp.settings()}
    moved = json.dumps({**SPRING, "notify": ["other@example.org"]})
    flask_command(sending, "forms", "put", "spring", "--file", "-", input=moved)
    listed = flask_command(env, "mail", "deliveries", "--status", "pending").stdout
    assert "notification" in listed and OWNER not in listed
    worker = WorkerProcess(sending, tmp_path / "worker.log")
    try:
        wait_until(
            lambda: "pending" not in {r["status"] for r in mail_rows(env["LEADAPP_DATABASE_URL"])},
            timeout=15,
            what="both mails settled",
        )
    finally:
        assert worker.stop() == 0
    settled = {(r["event"], r["status"]) for r in mail_rows(env["LEADAPP_DATABASE_URL"])}
    assert settled == {("mail.notification", "cancelled"), ("mail.autoresponse", "delivered")}
    assert len(smtp.received()) == 1
    assert smtp.to(OWNER) == [] and smtp.to("other@example.org") == []


def test_smtp_down_under_intake_then_every_mail_delivered_once(
    tmp_path: Path, test_keys: dict[str, str], smtp: SmtpServer
) -> None:
    env = mail_environment(tmp_path, test_keys, smtp)
    smtp.stop()
    with LeadAppServer(env, tmp_path / "server.log") as server:
        started = time.monotonic()
        answers = [server.request("POST", "/f/spring", lead_payload(100 + n)) for n in range(20)]
        took = time.monotonic() - started
        assert [a.status for a in answers] == [201] * 20
        assert took < 5, f"20 posts took {took:.1f} s with SMTP down"
        wait_until(
            lambda: any(r["attempts"] >= 2 for r in mail_rows(env["LEADAPP_DATABASE_URL"])),
            timeout=15,
            what="failed attempts while SMTP is down",
        )
        smtp.start()
        wait_until(lambda: len(smtp.received()) == 40, timeout=60, what="40 mails")
        time.sleep(2.0)  # a duplicate would show up by now
    received = smtp.received()
    assert len(received) == 40
    assert len({m.message["Message-ID"] for m in received}) == 40
    assert len(smtp.to(OWNER)) == 20
    assert {r["status"] for r in mail_rows(env["LEADAPP_DATABASE_URL"])} == {"delivered"}


def test_451_is_retried_until_the_attempts_run_out(
    tmp_path: Path, test_keys: dict[str, str], smtp: SmtpServer
) -> None:
    env = mail_environment(tmp_path, test_keys, smtp, LEADAPP_WEBHOOK_MAX_ATTEMPTS="3")
    put_notify_form(env, "plain", "a@example.org")
    smtp.refuse = "451 4.3.0 Try again later"
    with LeadAppServer(env, tmp_path / "server.log") as server:
        assert server.request("POST", "/f/plain", lead_payload(3)).status == 201
        url = env["LEADAPP_DATABASE_URL"]
        (row,) = wait_until(
            lambda: [r for r in mail_rows(url) if r["status"] == "failed"],
            timeout=20,
            what="the mail to fail",
        )
        assert (row["attempts"], row["last_status"]) == (3, 451)
        assert row["last_error"] == "SMTP 451 4.3.0 (message refused)"
        assert smtp.attempts == 3 and smtp.received() == []
        smtp.refuse = None
        retried = flask_command(env, "mail", "retry", "--failed").stdout
        assert "Queued 1 failed mail again." in retried
        wait_until(lambda: smtp.received(), timeout=10, what="the retried mail")
    (sent,) = smtp.received()
    assert sent.message["Message-ID"] == _message_id(row["id"])


def test_550_fails_at_once_and_mail_retry_sends_it_once(
    tmp_path: Path, test_keys: dict[str, str], smtp: SmtpServer
) -> None:
    env = mail_environment(tmp_path, test_keys, smtp)
    put_notify_form(env, "plain", "b@example.org")
    smtp.refuse_rcpt = "550 5.1.1 <b@example.org>: user unknown"
    with LeadAppServer(env, tmp_path / "server.log") as server:
        assert server.request("POST", "/f/plain", lead_payload(4)).status == 201
        url = env["LEADAPP_DATABASE_URL"]
        (row,) = wait_until(
            lambda: [r for r in mail_rows(url) if r["status"] == "failed"],
            timeout=10,
            what="the mail to fail",
        )
        assert (row["attempts"], row["last_status"]) == (1, 550)
        assert row["last_error"] == "SMTP 550 5.1.1 (recipient refused)"
        assert "b@example.org" not in server.log()
        failed = flask_command(env, "mail", "deliveries", "--status", "failed").stdout
        assert str(row["id"]) in failed and "SMTP 550 5.1.1" in failed
        smtp.refuse_rcpt = None
        assert (
            "Queued 1 failed mail again."
            in flask_command(env, "mail", "retry", str(row["id"])).stdout
        )
        wait_until(lambda: smtp.received(), timeout=10, what="the retried mail")
        time.sleep(1.5)
        refused = flask_command(env, "mail", "retry", str(row["id"]), check=False)
    assert refused.returncode == 1 and "delivered, not failed" in refused.stderr
    assert len(smtp.received()) == 1
    assert smtp.received()[0].message["Message-ID"] == _message_id(row["id"])


@pytest.mark.parametrize("mode", ["starttls", "smtps"])
def test_mail_test_over_tls_trusts_the_ca_file_only(
    tmp_path: Path, test_keys: dict[str, str], mode: str
) -> None:
    with SmtpServer(tmp_path, mode) as smtp:
        env = mail_environment(tmp_path, test_keys, smtp)
        sent = flask_command(env, "mail", "test", "ops@example.org")
        assert sent.stdout.strip() == "Sent: the SMTP server answered 250."
        (received,) = smtp.received()
        assert received.recipients == ["ops@example.org"]
        assert received.message["Auto-Submitted"] == "auto-generated"
        untrusted = {k: v for k, v in env.items() if k != "LEADAPP_SMTP_CA_FILE"}
        refused = flask_command(untrusted, "mail", "test", "ops@example.org", check=False)
    assert refused.returncode == 1
    assert refused.stderr.strip() == "Error: Not sent: TLS certificate not verified."
    assert len(smtp.received()) == 1


def test_mail_test_says_what_went_wrong_in_one_line(
    tmp_path: Path, test_keys: dict[str, str], smtp: SmtpServer
) -> None:
    env = mail_environment(tmp_path, test_keys, smtp)
    smtp.refuse_rcpt = "550 5.1.1 user unknown"
    refused = flask_command(env, "mail", "test", "nobody@example.org", check=False)
    assert (refused.returncode, refused.stderr.strip()) == (
        1,
        "Error: Not sent: SMTP 550 5.1.1 (recipient refused).",
    )
    smtp.stop()
    down = flask_command(env, "mail", "test", "nobody@example.org", check=False)
    assert (down.returncode, down.stderr.strip()) == (1, "Error: Not sent: connection refused.")
    bad = flask_command(env, "mail", "test", "nobody@example.org\nBcc: x@example.net", check=False)
    assert bad.returncode == 1 and len(bad.stderr.strip().splitlines()) == 1
    unset = {k: v for k, v in env.items() if k != "LEADAPP_SMTP_URL"}
    assert flask_command(unset, "mail", "test", "a@example.org", check=False).returncode == 1


def test_login_after_starttls_with_the_urls_user_and_password(
    tmp_path: Path, test_keys: dict[str, str]
) -> None:
    with SmtpServer(tmp_path, "starttls", login=("leads@example.org", "p@ss:word")) as smtp:
        env = mail_environment(tmp_path, test_keys, smtp)
        url = f"smtp+starttls://leads%40example.org:p%40ss%3Aword@127.0.0.1:{smtp.port}"
        sent = flask_command({**env, "LEADAPP_SMTP_URL": url}, "mail", "test", "a@example.org")
        assert sent.stdout.strip() == "Sent: the SMTP server answered 250."
        wrong = url.replace("p%40ss", "guess")
        refused = flask_command(
            {**env, "LEADAPP_SMTP_URL": wrong}, "mail", "test", "a@example.org", check=False
        )
        anonymous = flask_command(env, "mail", "test", "a@example.org", check=False)
    assert refused.returncode == 1
    assert refused.stderr.strip() == "Error: Not sent: SMTP 535 5.7.8 (connect)."
    assert "guess" not in refused.stderr + refused.stdout
    assert anonymous.returncode == 1 and "SMTP 530" in anonymous.stderr
    assert len(smtp.received()) == 1


def test_a_server_that_trickles_is_cut_at_the_timeout(
    tmp_path: Path, test_keys: dict[str, str], smtp: SmtpServer
) -> None:
    env = mail_environment(tmp_path, test_keys, smtp, LEADAPP_WEBHOOK_TIMEOUT="1")
    with trickling_server() as port:
        started = time.monotonic()
        url = f"smtp://127.0.0.1:{port}"
        cut = flask_command(
            {**env, "LEADAPP_SMTP_URL": url}, "mail", "test", "a@example.org", check=False
        )
        # The command's own start-up comes on top of the attempt's 1 s.
        took = time.monotonic() - started
    assert (cut.returncode, cut.stderr.strip()) == (1, "Error: Not sent: timed out after 1 s.")
    assert took < 10
