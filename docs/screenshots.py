"""Regenerate docs/form.png, docs/form-errors.png and docs/admin.png with made-up leads.

Run from the repository root: `.venv/bin/python docs/screenshots.py`. It serves a throwaway
app (temporary SQLite file, fresh keys) with waitress and drives Debian's Chromium.
"""

from __future__ import annotations

import os
import sys
import tempfile
from pathlib import Path

from cryptography.fernet import Fernet
from playwright.sync_api import Page, sync_playwright

ROOT = Path(__file__).resolve().parent.parent
DOCS = ROOT / "docs"
sys.path.insert(0, str(ROOT))
# The rest needs the repository on sys.path (this file is run as a script from docs/).
from tests.support.apps import build_app, create_api_key, dispose_app  # noqa: E402
from tests.support.browser import CHROMIUM, CHROMIUM_ARGS  # noqa: E402
from tests.support.client import bearer  # noqa: E402
from tests.support.servers import ThreadedServer  # noqa: E402

# Made-up people; the phone numbers are valid but drawn from ranges reserved for drama.
LEADS = [
    ("Ada Lovelace", "ada@lovelace.example", "+44 20 7946 0321", "203.0.113.17"),
    ("Grace Hopper", "grace.hopper@example.com", "+1 202 555 0143", "198.51.100.23"),
    ("Alan Turing", "alan.turing@example.co.uk", "+44 161 496 0752", "203.0.113.58"),
    ("Katherine Johnson", "kjohnson@example.org", "+1 415 555 0199", "198.51.100.101"),
    ("Hedy Lamarr", "hedy@example.at", "+49 30 901820", "2001:db8::1f"),
    ("Marie Curie", "marie.curie@example.fr", "+33 1 42 68 53 00", "192.0.2.44"),
    ("Edsger Dijkstra", "e.w.dijkstra@example.nl", "+31 20 123 4567", "192.0.2.91"),
    ("Margaret Hamilton", "margaret@example.com", "+1 650 253 0000", "198.51.100.7"),
]


def post_lead(server: ThreadedServer, key: str, name: str, email: str, phone: str, ip: str) -> None:
    """Create one lead through the API, as a partner's backend would."""
    body = {"name": name, "email": email, "phone": phone, "ip_address": ip}
    answer = server.request("POST", "/leads", body, headers=bearer(key))
    assert answer.status == 201, answer  # noqa: S101


def shoot_form(page: Page, base: str) -> None:
    """The form, filled in, and the same form with the server's field errors."""
    page.goto(base + "/")
    page.get_by_label("Full name").fill("Ada Lovelace")
    page.get_by_label("Email address").fill("ada@analytical-engines.example")
    page.get_by_label("Phone number").fill("+44 20 7946 0958")
    page.screenshot(path=DOCS / "form.png", full_page=True)

    page.goto(base + "/")
    page.get_by_label("Full name").fill("Grace Hopper")
    page.get_by_label("Email address").fill("grace@navy")
    page.get_by_label("Phone number").fill("+1 650 CALL NOW")
    page.get_by_role("button", name="Send my details").click()
    page.locator("#phone-error").wait_for()
    page.locator("body").click(position={"x": 5, "y": 5})  # no focus ring in the picture
    page.screenshot(path=DOCS / "form-errors.png", full_page=True)


def shoot_admin(page: Page, base: str, key: str) -> None:
    """The admin page listing leads."""
    page.goto(base + "/admin")
    page.get_by_label("API key", exact=True).fill(key)
    page.get_by_role("button", name="Show leads").click()
    page.locator("#leads-body tr").nth(len(LEADS) - 1).wait_for()
    page.get_by_label("Per page").select_option("10")
    page.locator("#leads-body tr").nth(len(LEADS) - 1).wait_for()
    page.locator("body").click(position={"x": 5, "y": 5})
    page.screenshot(path=DOCS / "admin.png", full_page=True)


def main() -> int:
    """Serve a throwaway app, fill it with made-up leads and take the screenshots."""
    os.environ["LEADAPP_ENCRYPTION_KEYS"] = Fernet.generate_key().decode()
    os.environ["LEADAPP_BLIND_INDEX_KEY"] = Fernet.generate_key().decode()
    with tempfile.TemporaryDirectory() as tmp:
        app = build_app(f"sqlite:///{tmp}/screenshots.db", TESTING=False)
        key = create_api_key(app, "screenshots")
        try:
            with ThreadedServer(app, threads=4) as server:
                for lead in LEADS:
                    post_lead(server, key, *lead)
                with sync_playwright() as playwright:
                    browser = playwright.chromium.launch(
                        executable_path=CHROMIUM, args=CHROMIUM_ARGS
                    )
                    page = browser.new_page(viewport={"width": 900, "height": 760})
                    shoot_form(page, server.url)
                    page.set_viewport_size({"width": 1200, "height": 720})
                    shoot_admin(page, server.url, key)
                    browser.close()
        finally:
            dispose_app(app)
    for name in ("form.png", "form-errors.png", "admin.png"):
        print(DOCS / name)
    return 0


if __name__ == "__main__":
    sys.exit(main())
