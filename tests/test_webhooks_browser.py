"""The admin page's read-only webhook section, in a real browser."""

from __future__ import annotations

from flask import Flask
from sqlalchemy import update

from leadapp.extensions import db
from leadapp.models.outbox import OutboxMessage
from tests.support.browser import Site, expect, sign_in
from tests.support.webhook_receiver import add_endpoint


def _fail_every_delivery(app: Flask) -> None:
    """Mark the queued deliveries failed, as the worker does after its last attempt."""
    with app.app_context(), db.engine.begin() as connection:
        connection.execute(
            update(OutboxMessage.__table__).values(
                status="failed", attempts=12, last_error="connection refused"
            )
        )


def test_admin_shows_endpoints_and_failed_deliveries_never_secrets(
    site: Site,
    open_page,
) -> None:
    key = site.api_key()
    _, secret = add_endpoint(site.app, "https://crm.example.com/<b>hook</b>")
    lead = site.add_lead(1, key)
    _fail_every_delivery(site.app)
    page = open_page(site.url + "/admin")
    expect(page.locator("#webhooks-section")).to_be_hidden()
    sign_in(page, key)

    expect(page.locator("#webhooks-section")).to_be_visible()
    endpoint = page.locator("#endpoints-body tr")
    expect(endpoint).to_have_count(1)
    expect(endpoint.locator("td").nth(0)).to_have_text("https://crm.example.com/<b>hook</b>")
    expect(endpoint.locator("td").nth(1)).to_have_text("lead.created, lead.erased")
    assert page.locator("#endpoints-body b").count() == 0
    failed = page.locator("#failed-body tr")
    expect(failed).to_have_count(1)
    expect(failed.locator("td").nth(2)).to_have_text(lead["id"])
    expect(failed.locator("td").nth(4)).to_have_text("12")
    expect(failed.locator("td").nth(5)).to_have_text("connection refused")
    assert secret not in page.content()

    site.add_lead(2, key)
    _fail_every_delivery(site.app)
    page.get_by_role("button", name="Refresh webhooks").click()
    expect(failed).to_have_count(2)

    page.get_by_role("button", name="Forget key").click()
    expect(page.locator("#webhooks-section")).to_be_hidden()
    expect(failed).to_have_count(0)
