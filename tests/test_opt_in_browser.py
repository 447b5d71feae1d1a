"""Double opt-in in Chromium: the link's page, its button, and the redirect CSP must allow."""

from __future__ import annotations

import uuid
from collections.abc import Callable
from typing import Any

from sqlalchemy import select

from leadapp.extensions import db
from leadapp.models import Lead
from tests.support.apps import put_form
from tests.support.browser import Site
from tests.support.builders import lead_payload
from tests.support.client import post_lead
from tests.support.opt_in import DOI_FORM, MAIL_SETTINGS, confirmation_tokens


def opt_in_status(site: Site, lead_id: str) -> str | None:
    """The lead's stored opt-in status."""
    with site.app.app_context():
        return db.session.scalar(select(Lead.opt_in_status).where(Lead.id == uuid.UUID(lead_id)))


def test_the_button_confirms_and_lands_on_the_success_url(
    make_site: Callable[..., Site], open_page: Callable[..., Any]
) -> None:
    # Another origin (another port) as the form's success_url: the page's form-action must
    # allow the redirect, or Chromium blocks it and reports a CSP violation.
    elsewhere = make_site()
    site = make_site(**MAIL_SETTINGS)
    success_url = f"{elsewhere.server.url}/f/default"
    put_form(site.app, "news", {**DOI_FORM, "success_url": success_url})
    lead = post_lead(site.app, lead_payload(1), path="/f/news").get_json()
    (token,) = confirmation_tokens(site.app, lead["id"])

    # Without JavaScript, as a mail client's browser may be; opening confirms nothing.
    page = open_page(f"{site.server.url}/confirm/{token}", java_script_enabled=False)
    assert page.locator("h1").inner_text() == "Confirm your address"
    assert opt_in_status(site, lead["id"]) == "pending"

    page.locator("#confirm-button").click()
    page.wait_for_url(success_url)
    assert opt_in_status(site, lead["id"]) == "confirmed"

    # The link opened again says so.
    again = open_page(f"{site.server.url}/confirm/{token}")
    assert again.locator("#confirm-result").get_attribute("data-outcome") == "already-confirmed"
