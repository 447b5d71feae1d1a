"""Double opt-in with real mail: the link arrives by SMTP, and pressing it releases the rest.

Through the real server (its own worker) and a real SMTP server on loopback: a lead of a
double opt-in form that notifies and answers gets only its confirmation mail; the link in
that mail, opened, confirms nothing; pressed, it brings the notification and the
autoresponse, once.
"""

from __future__ import annotations

import json
import re
import time
from pathlib import Path
from urllib.parse import urlsplit

import pytest

from tests.support.builders import lead_payload
from tests.support.mail import AUTORESPONDER, OWNER, PUBLIC_URL, mail_environment
from tests.support.processes import flask_command
from tests.support.servers import LeadAppServer
from tests.support.smtp_server import SmtpServer
from tests.support.waiting import wait_until

pytestmark = [pytest.mark.slow]

FORM_ENCODED = {"Content-Type": "application/x-www-form-urlencoded"}
# The `spring` form of tests/support/mail.py, with double opt-in.
WEBINAR = {
    "title": "Webinar",
    "notify": [OWNER],
    "autoresponder": AUTORESPONDER,
    "double_opt_in": True,
    "one_lead_per_ip": False,
}
LINK = re.compile(re.escape(PUBLIC_URL) + r"/confirm/[A-Za-z0-9_-]{43}")


def test_the_mailed_link_confirms_once_and_releases_notification_and_autoresponse(
    tmp_path: Path, test_keys: dict[str, str]
) -> None:
    with SmtpServer(tmp_path) as smtp:
        env = mail_environment(tmp_path, test_keys, smtp)
        flask_command(env, "forms", "put", "webinar", "--file", "-", input=json.dumps(WEBINAR))
        lead = lead_payload(7, name="Grace <b>Hopper</b> www.spam.example")
        with LeadAppServer(env, tmp_path / "server.log") as server:
            created = server.request("POST", "/f/webinar", lead)
            assert created.status == 201, created.body
            assert created.body["opt_in"] == {"status": "pending", "confirmed_at": None}

            wait_until(lambda: smtp.to(lead["email"]), timeout=15, what="the confirmation")
            time.sleep(1.0)  # anything else queued would have left by now
            (confirmation,) = smtp.received()
            message = confirmation.message
            assert message["Auto-Submitted"] == "auto-generated"
            assert message["From"] == env["LEADAPP_MAIL_FROM"]
            raw = confirmation.data.decode()
            assert "Hopper" not in raw and "spam.example" not in raw, "a typed value was mailed"
            links = set(LINK.findall(message.get_body(("plain",)).get_content()))
            assert len(links) == 1, links
            path = urlsplit(links.pop()).path

            opened = server.request("GET", path)
            assert opened.status == 200 and "<form" in opened.body
            time.sleep(1.0)
            assert len(smtp.received()) == 1, "opening the link sent mail"

            pressed = [server.request("POST", path, headers=FORM_ENCODED) for _ in range(3)]
            assert [answer.status for answer in pressed] == [200, 200, 200]
            assert "already" not in pressed[0].body and "already" in pressed[1].body
            wait_until(lambda: len(smtp.received()) == 3, timeout=15, what="the released mails")
            time.sleep(1.0)  # a second release would show up by now
        assert len(smtp.to(OWNER)) == 1 and len(smtp.to(lead["email"])) == 2
        (notification,) = smtp.to(OWNER)
        assert notification.message["Subject"] == "New lead: Webinar"
        assert notification.message["Reply-To"] == lead["email"]
        answers = [m.message for m in smtp.to(lead["email"]) if m is not confirmation]
        assert [m["Subject"] for m in answers] == [AUTORESPONDER["subject"]]
