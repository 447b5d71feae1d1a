"""Web pages in a real browser: how tests launch Chromium, serve a site and watch a page.

Debian's Chromium through Playwright (never `playwright install`): the system browser,
without sandbox, GPU or background traffic. docs/screenshots.py launches it the same way.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from typing import Any

from flask import Flask

from tests.support.apps import create_api_key, revoke_api_key
from tests.support.builders import lead_payload
from tests.support.client import bearer
from tests.support.servers import ThreadedServer

CHROMIUM = "/usr/bin/chromium"
CHROMIUM_ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--no-first-run",
]

TIMEOUT_MS = 10_000
# The browser logs every 4xx/5xx answer as a console error; on the API those are expected
# (the page shows them; a revoked key is refused by every admin call it makes: leads,
# webhooks, stats, forms), and so are the hosted form's pages answering a refused post with
# its status (/f/<slug>); anywhere else (a missing script, stylesheet or icon) they are not.
EXPECTED_API_FAILURE = re.compile(
    r"/(leads(/[0-9a-f-]+|/export\.csv)?|webhooks(/deliveries)?|stats|forms(/[^/?]+)?|f/[^/?]+)"
    r"(\?.*)?$"
)
# Reported by the page itself, so a violation is seen even if Chromium's wording changes.
REPORT_CSP_VIOLATIONS = """
document.addEventListener("securitypolicyviolation", (event) => {
  console.error("CSP violation: " + event.violatedDirective + " blocked " + event.blockedURI);
});
"""


@dataclass
class Site:
    """A LeadApp served by waitress on loopback, and how to reach it."""

    app: Flask
    server: ThreadedServer

    @property
    def url(self) -> str:
        """The base URL."""
        return self.server.url

    def api_key(self, name: str = "browser-test") -> str:
        """Create an API key through the CLI, as an operator does."""
        return create_api_key(self.app, name)

    def revoke(self, name: str) -> None:
        """Revoke an API key through the CLI."""
        revoke_api_key(self.app, name)

    def add_lead(self, n: int, key: str | None = None, **overrides: Any) -> dict[str, Any]:
        """Create lead number n: with a key from its own IP address, else from 127.0.0.2."""
        body = lead_payload(n, **overrides)
        headers = {}
        if key is not None:
            body.setdefault("ip_address", f"198.51.100.{n % 250 + 1}" if n < 250 else None)
            headers = bearer(key)
        answer = self.server.request("POST", "/leads", body, headers=headers, source_ip="127.0.0.2")
        assert answer.status == 201, answer.body
        return answer.body

    def lead_status(self, key: str, lead_id: str) -> int:
        """GET /leads/<id> with a key: 200 or 404."""
        return self.server.request("GET", f"/leads/{lead_id}", headers=bearer(key)).status


@dataclass
class PageLog:
    """What a page reported that a user would never see: console errors, uncaught errors."""

    errors: list[str] = field(default_factory=list)

    def on_console(self, message: Any) -> None:
        """Keep console errors, except the expected refusals of API calls."""
        if message.type != "error":
            return
        url = (message.location or {}).get("url", "")
        if message.text.startswith("Failed to load resource") and EXPECTED_API_FAILURE.search(url):
            return
        self.errors.append(f"console: {message.text} ({url})")

    def on_page_error(self, error: Any) -> None:
        """Keep uncaught exceptions."""
        self.errors.append(f"pageerror: {error}")


def expect(target: Any) -> Any:
    """Playwright's auto-waiting assertions."""
    from playwright.sync_api import expect as playwright_expect

    return playwright_expect(target)


def fill_form(page: Any, name: str, email: str, phone: str) -> None:
    """Type a lead into the form."""
    page.get_by_label("Full name").fill(name)
    page.get_by_label("Email address").fill(email)
    page.get_by_label("Phone number").fill(phone)


def no_horizontal_scroll(page: Any) -> bool:
    """Whether the page fits its viewport's width."""
    return page.evaluate(
        "() => document.documentElement.scrollWidth <= document.documentElement.clientWidth"
    )


def sign_in(page: Any, key: str) -> None:
    """Enter an API key on the admin page."""
    page.get_by_label("API key", exact=True).fill(key)
    page.get_by_role("button", name="Show leads").click()


def rows(page: Any) -> Any:
    """The lead rows of the table."""
    return page.locator("#leads-body tr")
