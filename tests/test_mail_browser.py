"""The admin page's failed mails, beside the failed webhook deliveries, in a real browser."""

from __future__ import annotations

from flask import Flask
from sqlalchemy import update

from leadapp.extensions import db
from leadapp.models.outbox import OutboxMessage
from tests.support.apps import put_form
from tests.support.browser import expect, sign_in

MAIL = {"LEADAPP_SMTP_URL": "smtp://127.0.0.1:9", "LEADAPP_MAIL_FROM": "leads@example.org"}


def _fail_every_mail(app: Flask) -> None:
    """Mark the queued mails failed, as the worker does on a 5xx answer."""
    outbox = OutboxMessage.__table__
    with app.app_context(), db.engine.begin() as connection:
        connection.execute(
            update(outbox)
            .where(outbox.c.channel == "mail")
            .values(status="failed", attempts=1, last_status=550, last_error="SMTP 550 5.1.1 (x)")
        )


def test_admin_shows_failed_mails_without_their_recipients(make_site, open_page) -> None:
    site = make_site(**MAIL)
    put_form(site.app, "default", {"title": "Default", "notify": ["owner@example.org"]})
    key = site.api_key()
    lead = site.add_lead(1, key)
    _fail_every_mail(site.app)
    page = open_page(site.url + "/admin")
    expect(page.locator("#failed-mails")).to_be_hidden()
    sign_in(page, key)

    failed = page.locator("#failed-mails-body tr")
    expect(failed).to_have_count(1)
    expect(failed.locator("td").nth(1)).to_have_text("notification")
    expect(failed.locator("td").nth(2)).to_have_text("default")
    expect(failed.locator("td").nth(3)).to_have_text(lead["id"])
    expect(failed.locator("td").nth(5)).to_have_text("SMTP 550 5.1.1 (x)")
    assert "owner@example.org" not in page.locator("#webhooks-section").inner_text()

    site.add_lead(2, key)
    _fail_every_mail(site.app)
    page.get_by_role("button", name="Refresh webhooks").click()
    expect(failed).to_have_count(2)

    page.get_by_role("button", name="Forget key").click()
    expect(page.locator("#failed-mails")).to_be_hidden()
    expect(failed).to_have_count(0)
