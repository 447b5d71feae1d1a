"""Regenerate the pages' screenshots in docs/ (the list is SHOTS).

Made-up leads only.

Run from the repository root: `.venv/bin/python docs/screenshots.py`. It serves a throwaway
app (temporary SQLite file, fresh keys) with waitress and drives Debian's Chromium.
"""

from __future__ import annotations

import os
import sys
import tempfile
from pathlib import Path

from cryptography.fernet import Fernet
from playwright.sync_api import Browser, Page, sync_playwright

ROOT = Path(__file__).resolve().parent.parent
DOCS = ROOT / "docs"
sys.path.insert(0, str(ROOT))
# The rest needs the repository on sys.path (this file is run as a script from docs/).
from tests.support.apps import build_app, create_api_key, dispose_app  # noqa: E402
from tests.support.browser import CHROMIUM, CHROMIUM_ARGS  # noqa: E402
from tests.support.client import bearer  # noqa: E402
from tests.support.servers import ThreadedServer  # noqa: E402
from tests.support.sites import StaticSite, framing_page  # noqa: E402

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


def post_lead(
    server: ThreadedServer, key: str, name: str, email: str, phone: str, ip: str | None
) -> None:
    """Create one lead through the API, as a partner's backend would."""
    body = {"name": name, "email": email, "phone": phone}
    if ip is not None:
        body["ip_address"] = ip
    answer = server.request("POST", "/leads", body, headers=bearer(key))
    assert answer.status == 201, answer  # noqa: S101


def shoot_form(page: Page, base: str) -> None:
    """The default form's page at `/` with the server's field errors under their fields."""
    page.goto(base + "/")
    page.get_by_label("Full name").fill("Grace Hopper")
    page.get_by_label("Email address").fill("grace@navy")
    page.get_by_label("Phone number").fill("+1 650 CALL NOW")
    page.get_by_role("button", name="Send my details").click()
    page.locator("#phone-error").wait_for()
    page.locator("body").click(position={"x": 5, "y": 5})  # no focus ring in the picture
    page.screenshot(path=DOCS / "form-errors.png", full_page=True)


def fill_webinar(page: Page, email: str) -> None:
    """Type a person into the webinar form (a page or a frame)."""
    page.get_by_label("Full name").fill("Ada Lovelace")
    page.get_by_label("Email address").fill(email)
    page.get_by_label("Phone number").fill("+44 20 7946 0958")
    page.get_by_label("Company").fill("Analytical Engines <Ltd>")
    page.get_by_label("Session").select_option("Morning (CET)")
    page.get_by_label("Seats").fill("3")


def shoot_hosted(browser: Browser, base: str, partner: StaticSite) -> None:
    """A form's page filled in, its error page without JavaScript, and the form in a frame."""
    page = browser.new_page(viewport={"width": 900, "height": 760})
    page.goto(base + "/f/webinar?utm_source=newsletter")
    fill_webinar(page, "ada@analytical-engines.example")
    page.screenshot(path=DOCS / "hosted-form.png", full_page=True)
    page.close()

    context = browser.new_context(viewport={"width": 900, "height": 760}, java_script_enabled=False)
    page = context.new_page()
    page.goto(base + "/f/webinar")
    fill_webinar(page, "ada@analytical-engines")
    page.get_by_label(WEBINAR["consent_text"]).check()
    page.get_by_role("button", name="Save my seat").click()
    page.locator("#email-error").wait_for()
    page.screenshot(path=DOCS / "hosted-error.png", full_page=True)
    context.close()

    partner.pages["/"] = framing_page(base + "/f/webinar")
    page = browser.new_page(viewport={"width": 900, "height": 1000})
    page.goto(partner.origin + "/")
    page.frame_locator("#leadapp").get_by_label("Full name").fill("Ada Lovelace")
    page.screenshot(path=DOCS / "hosted-embedded.png")
    page.close()


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


# The overview's chart: how many more made-up leads arrive on each of the last 30 days
# (oldest first), from which campaigns, and how many bots were turned away.
DAILY_LEADS = [
    1,
    2,
    1,
    3,
    2,
    4,
    2,
    1,
    3,
    5,
    4,
    2,
    3,
    6,
    5,
    3,
    2,
    4,
    7,
    5,
    4,
    6,
    8,
    5,
    3,
    6,
    7,
    9,
    6,
    4,
]
DAILY_SPAM = [
    0,
    1,
    0,
    2,
    5,
    1,
    0,
    3,
    1,
    0,
    2,
    8,
    1,
    0,
    2,
    1,
    4,
    0,
    1,
    2,
    0,
    3,
    1,
    6,
    2,
    1,
    0,
    2,
    3,
    1,
]
SOURCES = ["newsletter", "google", "newsletter", "partner-crm", "linkedin", None, "google"]


def spread_over_last_30_days(app, server: ThreadedServer, key: str) -> None:
    """Add leads over the last 30 days with sources, and spam counts, for the overview."""
    from datetime import UTC, datetime, time, timedelta

    from sqlalchemy import insert, update

    from leadapp.extensions import db
    from leadapp.models import Lead, SpamCount

    today = datetime.now(UTC).date()
    made: list[tuple[str, datetime, str | None]] = []
    n = 0
    for offset, count in enumerate(DAILY_LEADS):
        day = today - timedelta(days=len(DAILY_LEADS) - 1 - offset)
        for k in range(count):
            n += 1
            email = f"sample.{n}@example.com"
            # 020 7946 0xxx is reserved for drama: valid, never anyone's number.
            post_lead(server, key, f"Sample Lead {n}", email, f"+44 20 7946 0{n:03d}", None)
            when = datetime.combine(day, time(0, 0), tzinfo=UTC) + timedelta(minutes=7 * k + 1)
            made.append((email, when, SOURCES[n % len(SOURCES)]))
    leads = Lead.__table__
    with app.app_context(), db.engine.begin() as connection:
        rows = connection.execute(leads.select().with_only_columns(leads.c.id, leads.c.email))
        by_email = {row.email: row.id for row in rows}
        for email, when, source in made:
            connection.execute(
                update(leads)
                .where(leads.c.id == by_email[email])
                .values(created_at=when, source=source)
            )
        for offset, count in enumerate(DAILY_SPAM):
            if count:
                day = today - timedelta(days=len(DAILY_SPAM) - 1 - offset)
                connection.execute(
                    insert(SpamCount.__table__), {"day": day, "kind": "honeypot", "count": count}
                )


def shoot_overview(page: Page) -> None:
    """The admin page's overview (chart, top sources, Download CSV), after shoot_admin."""
    page.locator("#overview-chart g.chart-day").nth(29).wait_for()
    page.locator("#overview-section").screenshot(path=DOCS / "admin-overview.png")


# The default form's page at `/`, titled.
DEFAULT = {"title": "Get in touch"}
# A second form with one custom field of three types, and a lead of it.
WEBINAR = {
    "title": "Webinar: lead capture that respects people",
    "origins": ["https://www.example.org"],
    "consent_text": "You may write to me about this webinar.",
    "labels": {"submit": "Save my seat"},
    "one_lead_per_ip": False,
    "fields": [
        {"name": "company", "label": "Company", "type": "text", "required": True},
        {
            "name": "session",
            "label": "Session",
            "type": "select",
            "required": True,
            "options": ["Morning (CET)", "Evening (CET)"],
        },
        {"name": "seats", "label": "Seats", "type": "number", "required": False, "min": 1},
    ],
}


def add_webinar(server: ThreadedServer, key: str, partner: str) -> None:
    """Title the default form, PUT the webinar form (framed by `partner`), post a lead to it."""
    answer = server.request("PUT", "/forms/default", DEFAULT, headers=bearer(key))
    assert answer.status == 200, answer  # noqa: S101
    document = {**WEBINAR, "origins": [*WEBINAR["origins"], partner]}
    answer = server.request("PUT", "/forms/webinar", document, headers=bearer(key))
    assert answer.status == 201, answer  # noqa: S101
    body = {
        "name": "Barbara Liskov",
        "email": "barbara@example.edu",
        "phone": "+1 617 555 0134",
        "consent": True,
        "fields": {"company": "Example University", "session": "Evening (CET)", "seats": 2},
    }
    answer = server.request("POST", "/f/webinar", body, headers=bearer(key))
    assert answer.status == 201, answer  # noqa: S101


def shoot_forms(page: Page) -> None:
    """The Forms section with the webinar form open and one server error beside its member."""
    page.get_by_role("button", name="Edit webinar").click()
    page.locator("#form-fields > li").nth(2).wait_for()
    page.get_by_label("Allowed origins").fill("https://www.example.org/landing")
    page.get_by_role("button", name="Save form").click()
    page.locator("#form-origins-error").wait_for()
    page.locator("body").click(position={"x": 5, "y": 5})
    page.locator("#forms-section").screenshot(path=DOCS / "admin-forms.png")


SHOTS = [
    "form-errors.png",
    "hosted-form.png",
    "hosted-error.png",
    "hosted-embedded.png",
    "admin.png",
    "admin-overview.png",
    "admin-forms.png",
]


def main() -> int:
    """Serve a throwaway app, fill it with made-up leads and take the screenshots."""
    os.environ["LEADAPP_ENCRYPTION_KEYS"] = Fernet.generate_key().decode()
    os.environ["LEADAPP_BLIND_INDEX_KEY"] = Fernet.generate_key().decode()
    partner = StaticSite()
    with tempfile.TemporaryDirectory() as tmp:
        app = build_app(f"sqlite:///{tmp}/screenshots.db", TESTING=False)
        key = create_api_key(app, "screenshots")
        try:
            with ThreadedServer(app, threads=4) as server:
                spread_over_last_30_days(app, server, key)
                for lead in LEADS:
                    post_lead(server, key, *lead)
                add_webinar(server, key, partner.origin)
                with sync_playwright() as playwright:
                    browser = playwright.chromium.launch(
                        executable_path=CHROMIUM, args=CHROMIUM_ARGS
                    )
                    page = browser.new_page(viewport={"width": 900, "height": 760})
                    shoot_form(page, server.url)
                    shoot_hosted(browser, server.url, partner)
                    page.set_viewport_size({"width": 1440, "height": 900})
                    shoot_admin(page, server.url, key)
                    shoot_overview(page)
                    shoot_forms(page)
                    browser.close()
        finally:
            dispose_app(app)
            partner.close()
    for name in SHOTS:
        print(DOCS / name)
    return 0


if __name__ == "__main__":
    sys.exit(main())
