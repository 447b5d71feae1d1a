"""The form page's v2 duties in real Chromium: attribution, consent, proof of work, honeypot."""

# The fixtures (browser, make_site, site, open_page) are test_browser.py's, imported by
# name so pytest finds them; test arguments of the same names are not redefinitions.

from __future__ import annotations

import re
import time
from collections.abc import Callable
from typing import Any

from sqlalchemy import func, select

from leadapp.extensions import db
from leadapp.models import Lead
from tests.support.browser import Site, expect, fill_form, sign_in
from tests.support.builders import phone_for

CONSENT_TEXT = "I agree that Example Ltd may contact me about my enquiry (see our privacy notice)."


def stored_leads(site: Site) -> list[Lead]:
    """Every stored lead, decrypted."""
    with site.app.app_context():
        return list(db.session.scalars(select(Lead)))


def test_utm_parameters_and_page_travel_with_the_lead(site: Site, open_page) -> None:
    query = "?utm_source=newsletter&utm_medium=email&utm_campaign=spring%20sale&utm_term=ada%40x"
    page = open_page(site.url + "/" + query)
    fill_form(page, "Ada Lovelace", "ada@example.com", phone_for(41))
    page.get_by_role("button", name="Send my details").click()
    expect(page.locator("#lead-success")).to_be_visible()
    [lead] = stored_leads(site)
    assert lead.utm_source == "newsletter"
    assert lead.utm_medium == "email"
    assert lead.utm_campaign == "spring sale"
    assert lead.utm_term == "ada@x"
    assert lead.utm_content is None
    assert lead.page_url == site.url + "/" + query


def test_referrer_is_sent(site: Site, open_page) -> None:
    page = open_page(site.url + "/admin")
    # A same-origin navigation with a referrer (the pages' own policy is no-referrer).
    page.goto(site.url + "/?utm_source=ref-test", referer=site.url + "/pricing")
    fill_form(page, "Grace Hopper", "grace@example.com", phone_for(42))
    with page.expect_request("**/leads") as request:
        page.get_by_role("button", name="Send my details").click()
    assert request.value.post_data_json["attribution"]["referrer"] == site.url + "/pricing"
    expect(page.locator("#lead-success")).to_be_visible()


def test_consent_checkbox_shows_the_text_and_is_required(
    make_site: Callable[..., Site], open_page
) -> None:
    site = make_site(LEADAPP_CONSENT_TEXT=CONSENT_TEXT)
    page = open_page(site.url + "/")
    checkbox = page.get_by_label(CONSENT_TEXT)
    expect(checkbox).to_be_visible()
    expect(checkbox).not_to_be_checked()
    fill_form(page, "Ada Lovelace", "ada@example.com", phone_for(43))
    page.get_by_role("button", name="Send my details").click()
    expect(page.locator("#consent-error")).to_have_text(re.compile("tick the box"))
    expect(checkbox).to_have_attribute("aria-invalid", "true")
    assert stored_leads(site) == []
    checkbox.check()
    expect(page.locator("#consent-error")).to_be_hidden()
    page.get_by_role("button", name="Send my details").click()
    expect(page.locator("#lead-success")).to_be_visible()
    [lead] = stored_leads(site)
    assert lead.consent_given_at is not None


def test_without_a_consent_text_there_is_no_checkbox(site: Site, open_page) -> None:
    page = open_page(site.url + "/")
    page.wait_for_load_state("networkidle")
    expect(page.locator("#consent-field")).to_be_hidden()


def test_a_person_passes_the_challenge(make_site: Callable[..., Site], open_page) -> None:
    site = make_site(LEADAPP_CHALLENGE=True)
    page = open_page(site.url + "/")
    page.wait_for_load_state("networkidle")
    fill_form(page, "Katherine Johnson", "katherine@example.com", phone_for(44))
    # Hold the challenge to see the page say what it is doing, then let it through.
    held: list[Any] = []
    page.route("**/challenge", lambda route: held.append(route))
    page.get_by_role("button", name="Send my details").click()
    status = page.get_by_role("status")
    expect(status).to_have_text(re.compile("Checking that you are not a robot"))
    expect(page.locator("#submit")).to_be_disabled()
    started = time.monotonic()
    held[0].continue_()
    expect(page.locator("#lead-success")).to_be_visible(timeout=60_000)
    took = time.monotonic() - started
    print(f"\nChromium solved the challenge and stored the lead in {took:.2f} s")
    print(f"the page said: {page.locator('#challenge-status').text_content()}")
    assert len(stored_leads(site)) == 1


def test_honeypot_is_invisible_unreachable_and_hidden_from_screen_readers(
    site: Site, open_page
) -> None:
    page = open_page(site.url + "/")
    trap = page.locator("#website")
    expect(trap).to_have_attribute("tabindex", "-1")
    box = trap.bounding_box()
    viewport = page.viewport_size
    assert box is not None and viewport is not None
    assert box["x"] + box["width"] <= 0 or box["x"] >= viewport["width"], box
    # Not in the accessibility tree: no textbox named Website, nothing under aria-hidden.
    expect(page.get_by_role("textbox", name="Website")).to_have_count(0)
    snapshot = page.locator("body").aria_snapshot()
    assert "Full name" in snapshot
    assert "Website" not in snapshot and "website" not in snapshot
    # Tab walks the form without ever landing on it.
    visited = []
    for _ in range(8):
        page.keyboard.press("Tab")
        visited.append(page.evaluate("() => document.activeElement && document.activeElement.id"))
    assert "website" not in visited
    assert visited[:4] == ["name", "email", "phone", "submit"]


def test_a_bot_that_fills_the_honeypot_is_shown_success_and_stored_nowhere(
    site: Site, open_page
) -> None:
    page = open_page(site.url + "/")
    fill_form(page, "Spam Bot", "bot@example.com", phone_for(45))
    page.locator("#website").fill("http://spam.example", force=True)
    page.get_by_role("button", name="Send my details").click()
    expect(page.locator("#lead-success")).to_be_visible()
    with site.app.app_context():
        assert db.session.scalar(select(func.count()).select_from(Lead)) == 0


def test_admin_shows_each_leads_source_and_resubmissions(site: Site, open_page) -> None:
    key = site.api_key("crm-sync")
    site.add_lead(1, key)  # source defaults to the key's name
    site.add_lead(2, key, attribution={"source": "trade-fair"})
    anonymous = {"name": "Ann", "email": "ann@example.com", "phone": phone_for(3)}
    anonymous["attribution"] = {"utm_source": "newsletter"}
    status = site.server.request("POST", "/leads", anonymous, source_ip="127.0.0.3").status
    assert status == 201
    for n in range(2):  # two refused resubmissions of Ann's email
        duplicate = {**anonymous, "phone": phone_for(10 + n)}
        status = site.server.request(
            "POST", "/leads", duplicate, source_ip=f"127.0.0.{10 + n}"
        ).status
        assert status == 409
    page = open_page(site.url + "/admin")
    sign_in(page, key)
    table = page.locator("#leads-body tr")
    expect(table).to_have_count(3)
    expect(page.get_by_role("columnheader", name="Source")).to_be_visible()
    expect(page.get_by_role("columnheader", name="Resubmissions")).to_be_visible()
    ann = table.nth(0)
    expect(ann.locator("td[data-label=Source]")).to_have_text("newsletter")
    expect(ann.locator("td[data-label=Resubmissions]")).to_have_text(re.compile(r"^2 last \d{4}"))
    expect(table.nth(1).locator("td[data-label=Source]")).to_have_text("trade-fair")
    expect(table.nth(2).locator("td[data-label=Source]")).to_have_text("crm-sync")
    expect(table.nth(2).locator("td[data-label=Resubmissions]")).to_have_text("0")
