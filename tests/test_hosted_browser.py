"""The hosted page against the server `make run` starts: with JavaScript on, embedded in other
sites' frames, without JavaScript onto a success URL, and hostile form-encoded bodies.

Other sites are pages served on other loopback ports: a partner the form allows (it hears of
each lead through `postMessage`), a site it does not allow (the frame is refused), and a
success page a form redirects to.
"""

from __future__ import annotations

import http.client
import json
import re
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from urllib.parse import urlencode

import pytest

from tests.support.browser import TIMEOUT_MS, expect, sign_in
from tests.support.builders import e164_for, phone_for
from tests.support.processes import flask_command
from tests.support.servers import LeadAppServer, leadapp_environment
from tests.support.sites import StaticSite, framing_page

URLENCODED = "application/x-www-form-urlencoded"
UUID = re.compile(r"^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$")
CONSENT = "You may write to me about the webinar."
SUCCESS_PAGE = (
    '<!doctype html><title>Thanks</title><link rel="icon" href="data:,">'
    "<h1>Thanks from the partner</h1>"
)


@dataclass
class World:
    """LeadApp under `make run`'s command, its environment, and the other sites."""

    leadapp: LeadAppServer
    env: dict[str, str]
    key: str
    partner: StaticSite
    stranger: StaticSite

    def export(self, slug: str) -> list[str]:
        """The form's leads as CSV lines (header first), read through the CLI."""
        return flask_command(self.env, "leads", "export", "--form", slug).stdout.splitlines()


def put_form(env: dict[str, str], directory: Path, slug: str, document: dict[str, Any]) -> None:
    """Create a form through the CLI, as an operator does."""
    path = directory / f"{slug}.json"
    path.write_text(json.dumps(document), encoding="utf-8")
    flask_command(env, "forms", "put", slug, "--file", str(path))


@pytest.fixture(scope="module")
def world(test_keys: dict[str, str], tmp_path_factory: pytest.TempPathFactory) -> Iterator[World]:
    """One LeadApp server and three other sites for the module's tests."""
    directory = tmp_path_factory.mktemp("hosted-browser")
    partner, stranger = StaticSite(), StaticSite()
    env = leadapp_environment(
        test_keys,
        f"sqlite:///{directory / 'leadapp.sqlite3'}",
        LEADAPP_RATELIMIT_LEADS="1000 per minute",
    )
    flask_command(env, "db", "upgrade")
    anyone = {"one_lead_per_ip": False}
    put_form(
        env,
        directory,
        "webinar",
        {
            **anyone,
            "title": "Webinar sign-up",
            "challenge": True,
            "consent_text": CONSENT,
            "fields": [
                {"name": "company", "label": "Company", "type": "text", "required": True},
                {"name": "seats", "label": "Seats", "type": "number", "min": 1, "max": 50},
                {"name": "newsletter", "label": "Send me the newsletter", "type": "checkbox"},
            ],
        },
    )
    put_form(env, directory, "embed", {**anyone, "title": "Embedded", "origins": [partner.origin]})
    put_form(
        env,
        directory,
        "jump",
        {
            **anyone,
            "title": "Jump",
            "origins": [partner.origin],
            "success_url": partner.origin + "/done?campaign=spring",
        },
    )
    key = flask_command(env, "apikeys", "create", "admin").stdout.strip().splitlines()[-1]
    server = LeadAppServer(env, directory / "server.log").start()
    partner.pages["/done"] = SUCCESS_PAGE
    for slug in ("embed", "jump", "webinar"):
        page = framing_page(f"{server.url}/f/{slug}")
        partner.pages[f"/{slug}"] = page
        stranger.pages[f"/{slug}"] = page
    try:
        yield World(server, env, key, partner, stranger)
    finally:
        server.stop()
        partner.close()
        stranger.close()
    assert "unhandled error" not in server.log()
    assert '"status": 500' not in server.log()


def fill_person(target: Any, n: int, name: str = "Ada Lovelace") -> None:
    """Type a person into a form (a page or a frame)."""
    target.get_by_label("Full name").fill(name)
    target.get_by_label("Email address").fill(f"person{n}@example.com")
    target.get_by_label("Phone number").fill(phone_for(n))


# --- With JavaScript ---------------------------------------------------------------------------


@pytest.mark.browser
def test_with_javascript_errors_show_under_fields_and_the_challenge_is_solved(
    world: World, open_page
) -> None:
    page = open_page(world.leadapp.url + "/f/webinar?utm_source=partner")
    expect(page.get_by_role("heading", name="Webinar sign-up")).to_be_visible()
    # The notice that the form needs JavaScript is not for this visitor.
    expect(page.locator("#needs-javascript")).to_be_hidden()

    # Caught on the page, before anything is sent: the required custom field and the consent.
    fill_person(page, 71)
    page.get_by_role("button", name="Send my details").click()
    expect(page.locator("#field-company-error")).to_have_text("Please fill this in.")
    expect(page.locator("#consent-error")).to_contain_text("tick the box")
    expect(page.get_by_label("Company")).to_be_focused()

    # Caught by the server: a phone it refuses and seats over the form's maximum, each under
    # its field; the challenge was solved on the page for the post.
    page.get_by_label("Company").fill("Analytical Engines")
    page.get_by_label("Seats").fill("51")
    page.get_by_label(CONSENT).check()
    page.get_by_label("Phone number").fill("+1 650 CALL NOW")
    with page.expect_request("**/challenge"):
        page.get_by_role("button", name="Send my details").click()
    expect(page.locator("#phone-error")).to_contain_text("only digits", timeout=60_000)
    expect(page.locator("#field-seats-error")).to_be_visible()
    expect(page.get_by_label("Seats")).to_have_attribute("aria-invalid", "true")
    expect(page.locator("#form-alert")).to_contain_text("Please correct the fields marked below")
    # Editing a field withdraws its message.
    page.get_by_label("Seats").fill("12")
    expect(page.locator("#field-seats-error")).to_be_hidden()

    page.get_by_label("Phone number").fill(phone_for(71))
    page.get_by_label("Send me the newsletter").check()
    with page.expect_request("**/f/webinar") as sent:
        page.get_by_role("button", name="Send my details").click()
    body = sent.value.post_data_json
    assert sent.value.header_value("content-type") == "application/json"
    assert body["fields"] == {"company": "Analytical Engines", "seats": 12, "newsletter": True}
    assert body["consent"] is True and body["challenge"]
    assert body["attribution"]["utm_source"] == "partner"
    success = page.locator("#lead-success")
    expect(success).to_be_visible(timeout=60_000)
    expect(success).to_contain_text("Thank you, we have your details.")
    expect(success.locator("[data-lead=phone]")).to_have_text(e164_for(71))
    expect(success.locator("[data-lead=id]")).to_have_text(UUID)
    expect(page.locator("#lead-form")).to_be_hidden()

    header, row = world.export("webinar")
    assert "person71@example.com" in row and "Analytical Engines" in row and "partner" in row
    assert header.endswith("company,seats,newsletter")
    assert row.endswith("Analytical Engines,12,true")


# --- Embedded in another site's page ---------------------------------------------------------


@pytest.mark.browser
def test_an_allowed_site_frames_the_form_and_hears_of_the_lead(world: World, open_page) -> None:
    page = open_page(world.partner.origin + "/embed")
    frame = page.frame_locator("#leadapp")
    expect(frame.get_by_role("heading", name="Embedded")).to_be_visible()
    fill_person(frame, 72, name="Grace Hopper")
    frame.get_by_role("button", name="Send my details").click()
    expect(frame.locator("#lead-success")).to_be_visible()
    lead_id = frame.locator("[data-lead=id]").text_content()

    page.wait_for_function("() => window.leadappMessages.length > 0")
    messages = page.evaluate("() => window.leadappMessages")
    assert messages == [
        {
            "origin": world.leadapp.url,
            "data": {"type": "leadapp:lead", "form": "embed", "id": lead_id},
        }
    ]
    assert any(lead_id in line for line in world.export("embed"))


@pytest.mark.browser
def test_a_site_not_allowed_cannot_frame_the_form(world: World, browser: Any) -> None:
    context = browser.new_context()
    context.set_default_timeout(TIMEOUT_MS)
    try:
        page = context.new_page()
        console: list[str] = []
        page.on("console", lambda message: console.append(message.text))
        page.goto(world.stranger.origin + "/embed")
        expect(page.get_by_role("heading", name="Partner site")).to_be_visible()
        page.wait_for_load_state("load")
        # The browser refused the frame: nothing of the form was rendered in it.
        frame = page.frame_locator("#leadapp")
        expect(frame.get_by_label("Full name")).to_have_count(0)
        assert any("frame-ancestors" in text for text in console), console
        assert page.evaluate("() => window.leadappMessages") == []
    finally:
        context.close()


# --- Without JavaScript ------------------------------------------------------------------------


@pytest.mark.browser
def test_without_javascript_the_form_lands_on_its_success_url_in_the_whole_window(
    world: World, open_page
) -> None:
    # On LeadApp's own page: the 303 goes to the partner's page exactly as configured.
    page = open_page(world.leadapp.url + "/f/jump", java_script_enabled=False)
    fill_person(page, 73)
    page.get_by_role("button", name="Send my details").click()
    expect(page.get_by_role("heading", name="Thanks from the partner")).to_be_visible()
    assert page.url == world.partner.origin + "/done?campaign=spring"

    # In the partner's frame: the form is sent from the whole window (target=_top), so the
    # success page is not squeezed into the frame (mautic #3087).
    page = open_page(world.partner.origin + "/jump", java_script_enabled=False)
    frame = page.frame_locator("#leadapp")
    expect(frame.locator("#lead-form")).to_have_attribute("target", "_top")
    fill_person(frame, 74)
    frame.get_by_role("button", name="Send my details").click()
    expect(page.get_by_role("heading", name="Thanks from the partner")).to_be_visible()
    assert page.url == world.partner.origin + "/done?campaign=spring"
    assert len(page.frames) == 1
    assert len(world.export("jump")) == 3


@pytest.mark.browser
def test_without_javascript_a_form_without_success_url_thanks_inside_the_frame(
    world: World, open_page
) -> None:
    page = open_page(world.partner.origin + "/embed", java_script_enabled=False)
    frame = page.frame_locator("#leadapp")
    expect(frame.locator("#lead-form")).not_to_have_attribute("target", "_top")
    fill_person(frame, 75)
    frame.get_by_role("button", name="Send my details").click()
    expect(frame.get_by_role("status")).to_have_text("Thank you, we have your details.")
    assert page.url == world.partner.origin + "/embed"


# --- The admin page's snippets, used on another site ---------------------------------------------


@pytest.mark.browser
def test_the_admin_pages_snippets_work_on_another_site(world: World, open_page) -> None:
    admin = open_page(world.leadapp.url + "/admin")
    sign_in(admin, world.key)
    admin.locator("#forms-body tr[data-slug=webinar]").get_by_role("button", name="Edit").click()
    expect(admin.locator("#embed-form-note")).to_be_visible()  # its challenge needs JavaScript
    expect(admin.locator("#embed-form")).to_have_value(re.compile(re.escape(CONSENT)))
    admin.locator("#forms-body tr[data-slug=embed]").get_by_role("button", name="Edit").click()
    page_url = world.leadapp.url + "/f/embed"
    frame_snippet = admin.locator("#embed-iframe")
    expect(frame_snippet).to_have_value(re.compile(f'^<iframe src="{re.escape(page_url)}"'))
    expect(admin.locator("#embed-form-note")).to_be_hidden()
    form_snippet = admin.locator("#embed-form").input_value()
    assert form_snippet.startswith(f'<form method="post" action="{page_url}"')
    admin.get_by_role("button", name="Copy the form snippet").click()
    expect(admin.locator("#embed-status")).to_contain_text("form snippet")

    # The frame snippet on the partner's page shows the form; the plain form, with JavaScript
    # off, sends a lead and lands on the thanks page.
    world.partner.pages["/snippets"] = (
        '<!doctype html><html lang="en"><head><meta charset="utf-8"><title>Snippets</title>'
        f'<link rel="icon" href="data:,"></head><body>{frame_snippet.input_value()}'
        f"{form_snippet}</body></html>"
    )
    page = open_page(world.partner.origin + "/snippets", java_script_enabled=False)
    expect(page.frame_locator("iframe").get_by_role("heading", name="Embedded")).to_be_visible()
    plain = page.locator("form")
    fill_person(plain, 77, name="Katherine Johnson")
    plain.get_by_role("button", name="Send my details").click()
    expect(page.get_by_role("status")).to_have_text("Thank you, we have your details.")
    assert page.url == page_url
    assert any("person77@example.com" in line for line in world.export("embed"))


# --- Hostile form-encoded bodies, against the real server ----------------------------------------


def post_raw(server: LeadAppServer, slug: str, body: bytes) -> tuple[int, str, str]:
    """POST a raw form-encoded body; the status, the media type and the page's text."""
    connection = http.client.HTTPConnection("127.0.0.1", server.port, timeout=30)
    try:
        connection.request("POST", f"/f/{slug}", body=body, headers={"Content-Type": URLENCODED})
        response = connection.getresponse()
        text = response.read().decode("utf-8", "replace")
        return response.status, response.getheader("Content-Type", ""), text
    finally:
        connection.close()


PERSON = {"name": "Eve", "email": "eve@example.com", "phone": phone_for(76)}
HOSTILE = {
    "101 members": ("&".join(f"m{n}=x" for n in range(101)).encode(), 413, "more than 100"),
    "17 KiB": (urlencode({**PERSON, "company": "a" * (17 * 1024)}).encode(), 413, "Too Large"),
    "invalid UTF-8": (b"name=%FF%FE&email=eve%40example.com", 400, "UTF-8"),
    "raw invalid UTF-8": (b"name=\xff\xfe&email=eve%40example.com", 400, "UTF-8"),
    "repeated": (urlencode(PERSON).encode() + b"&name=Mallory", 422, "Give this argument once"),
    "%00": (urlencode({**PERSON, "name": "Eve\x00"}).encode(), 422, "need correcting"),
}


@pytest.mark.parametrize("case", list(HOSTILE))
def test_hostile_bodies_get_a_clear_page_from_the_server_and_store_nothing(
    world: World, case: str
) -> None:
    body, status, words = HOSTILE[case]
    answered, media_type, text = post_raw(world.leadapp, "embed", body)
    assert (answered, media_type) == (status, "text/html; charset=utf-8"), text[:500]
    assert words in text
    assert "\x00" not in text and "Eve" not in text.split("<form", 1)[0]
    assert not any("eve@example.com" in line for line in world.export("embed"))


def test_script_in_every_member_is_escaped_by_the_server(world: World) -> None:
    script = '"><script>alert(1)</script>'
    members = [*PERSON, "consent", "website", "source", "utm_source", "page_url", "referrer"]
    body = urlencode({name: script for name in members if name != "website"}).encode()
    before = world.export("embed")
    status, media_type, text = post_raw(world.leadapp, "embed", body)
    assert status == 422 and media_type.startswith("text/html")
    assert "<script>alert" not in text and "&lt;script&gt;" in text
    assert world.export("embed") == before
