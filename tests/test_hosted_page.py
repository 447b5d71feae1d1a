"""The hosted page of a form and the no-JavaScript path (contract v3), with a Flask test client.

GET /f/<slug> is a real HTML form; a form-encoded POST /f/<slug> answers 303 to the form's
success_url, the thanks page, or an HTML page with the JSON path's status; framing follows the
form's origins.
"""

from __future__ import annotations

import json
import re
from html.parser import HTMLParser
from pathlib import Path
from typing import Any
from urllib.parse import quote, urlencode

import pytest
from flask import Flask
from sqlalchemy import func, select

from leadapp.extensions import db
from leadapp.models import Lead
from tests.support.apps import create_api_key
from tests.support.browser import expect
from tests.support.builders import lead_payload, phone_for
from tests.support.client import bearer
from tests.support.forms import ONE_OF_EACH, put
from tests.support.processes import flask_command
from tests.support.servers import LeadAppServer, leadapp_environment

URLENCODED = "application/x-www-form-urlencoded"
SUCCESS_URL = "https://thanks.example/done?from=leadapp"


class Page(HTMLParser):
    """The tags of a page: inputs, labels' targets, ids, the form's action."""

    def __init__(self, text: str) -> None:
        super().__init__()
        self.tags: list[tuple[str, dict[str, Any]]] = []
        self.feed(text)

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        self.tags.append((tag, dict(attrs)))

    def all(self, tag: str) -> list[dict[str, Any]]:
        return [attrs for name, attrs in self.tags if name == tag]

    def controls(self) -> dict[str, dict[str, Any]]:
        """Every named input, textarea and select by name (the tag under '_tag')."""
        return {
            attrs["name"]: {**attrs, "_tag": tag}
            for tag, attrs in self.tags
            if tag in ("input", "textarea", "select") and attrs.get("name")
        }


@pytest.fixture
def admin(app: Flask) -> dict[str, str]:
    return bearer(create_api_key(app))


def stored(app: Flask) -> int:
    with app.app_context():
        return db.session.scalar(select(func.count()).select_from(Lead))


def send(app: Flask, slug: str, data: Any, ip: str = "203.0.113.9", **kwargs: Any):
    body = data if isinstance(data, str | bytes) else urlencode(data)
    return app.test_client().post(
        f"/f/{slug}", data=body, content_type=URLENCODED, environ_base={"REMOTE_ADDR": ip}, **kwargs
    )


def good(n: int, **extra: Any) -> dict[str, Any]:
    return {**lead_payload(n), **extra}


FULL_VALUES = {
    "company": "Acme",
    "message": "line one\nline two",
    "budget": "5000.5",
    "start": "2026-02-28",
    "plan": "pro",
    "terms": "on",
    "site": "https://acme.example/about",
}


# --- The page --------------------------------------------------------------------------------


def test_page_has_labels_bound_fields_by_type_consent_honeypot_and_attribution(
    app: Flask, admin: dict
) -> None:
    put(
        app,
        admin,
        "full",
        {
            "title": "Spring <b>sale</b>",
            "fields": ONE_OF_EACH,
            "consent_text": "I agree to <be> contacted.",
            "labels": {"email": "Courriel"},
        },
    )
    response = app.test_client().get("/f/full?utm_source=news&page_url=https%3A%2F%2Fa.example%2F")
    assert response.status_code == 200
    assert response.mimetype == "text/html"
    text = response.get_data(as_text=True)
    assert "Spring &lt;b&gt;sale&lt;/b&gt;" in text and "<b>" not in text
    assert "I agree to &lt;be&gt; contacted." in text
    assert "Courriel" in text and "Full name" in text and "Send my details" in text
    page = Page(text)
    (form,) = page.all("form")
    assert form["method"] == "post" and form["action"] == "/f/full"
    controls = page.controls()
    kinds = {name: (c["_tag"], c.get("type")) for name, c in controls.items()}
    assert kinds["company"] == ("input", "text")
    assert kinds["message"] == ("textarea", None)
    assert kinds["budget"] == ("input", "number")
    assert kinds["start"] == ("input", "date")
    assert kinds["plan"] == ("select", None)
    assert kinds["terms"] == ("input", "checkbox")
    assert kinds["site"] == ("input", "url")
    assert kinds["consent"] == ("input", "checkbox")
    order = [name for name in controls if name in FULL_VALUES]
    assert order == [field["name"] for field in ONE_OF_EACH]
    assert controls["utm_source"]["type"] == "hidden" and controls["utm_source"]["value"] == "news"
    assert controls["page_url"]["value"] == "https://a.example/"
    # Every visible control has a label bound to it.
    ids = {c["id"] for name, c in controls.items() if c.get("type") != "hidden"}
    assert ids <= {label["for"] for label in page.all("label")}
    # The honeypot: out of the tab order, inside an aria-hidden container, never required.
    assert controls["website"]["tabindex"] == "-1"
    assert re.search(r'<div class="trap" aria-hidden="true">\s*<label for="website">', text)
    # Its scripts are files (the strict CSP): no inline script or style.
    assert [tag["src"] for tag in page.all("script")] == ["/assets/common.js", "/assets/form.js"]
    assert not re.search(r"<script[^>]*>[^<]", text) and "style=" not in text


def test_page_of_an_unknown_or_bad_slug_is_a_404_page(app: Flask) -> None:
    for slug in ("nope", "Bad_Slug", "x" * 41):
        response = app.test_client().get(f"/f/{slug}")
        assert response.status_code == 404
        assert response.mimetype == "text/html"
        assert "Not Found" in response.get_data(as_text=True)


def test_query_attribution_is_escaped(app: Flask) -> None:
    hostile = '"><script>alert(1)</script>'
    text = app.test_client().get("/f/default?utm_campaign=" + quote(hostile)).get_data(True)
    assert "<script>" not in text and "&#34;&gt;&lt;script&gt;" in text


# --- The no-JavaScript path: success looks ----------------------------------------------------


def test_post_stores_the_lead_and_answers_the_thanks_page(app: Flask, admin: dict) -> None:
    put(app, admin, "full", {"fields": ONE_OF_EACH, "labels": {"thanks": "Merci <3"}})
    response = send(app, "full", {**good(1), **FULL_VALUES, "utm_source": "news", "go": "Send"})
    assert response.status_code == 200, response.get_data(True)
    assert "Merci &lt;3" in response.get_data(as_text=True)
    listed = app.test_client().get("/leads", headers=admin).get_json()["items"]
    (lead,) = listed
    assert lead["form"] == "full" and lead["attribution"]["utm_source"] == "news"
    assert lead["fields"]["budget"] == 5000.5 and lead["fields"]["terms"] is True
    assert lead["fields"]["company"] == "Acme"


def test_success_honeypot_and_duplicates_redirect_to_success_url_exactly(
    app: Flask, admin: dict
) -> None:
    put(app, admin, "shop", {"success_url": SUCCESS_URL})
    first = send(app, "shop", good(2))
    assert first.status_code == 303 and first.headers["Location"] == SUCCESS_URL
    assert stored(app) == 1
    honeypot = send(app, "shop", good(3, website="https://spam.example"), ip="203.0.113.10")
    assert honeypot.status_code == 303 and honeypot.headers["Location"] == SUCCESS_URL
    again = send(app, "shop", good(2), ip="203.0.113.11")  # same email and phone
    assert again.status_code == 303 and again.headers["Location"] == SUCCESS_URL
    assert stored(app) == 1


def test_ip_only_conflict_is_a_409_page(app: Flask) -> None:
    assert send(app, "default", good(4)).status_code == 200
    response = send(app, "default", good(5))
    assert response.status_code == 409
    assert response.mimetype == "text/html"
    assert 'value="lead5@example.com"' in response.get_data(as_text=True)
    assert stored(app) == 1


# --- The no-JavaScript path: refusals are pages -----------------------------------------------


def test_invalid_fields_are_a_422_page_refilled_and_escaped(app: Flask, admin: dict) -> None:
    put(app, admin, "full", {"fields": ONE_OF_EACH})
    values = {**good(6, email="not-an-email"), **FULL_VALUES, "budget": "lots"}
    values["company"] = '<script>alert("x")</script>'
    values["website"] = ""
    response = send(app, "full", values)
    assert response.status_code == 422
    text = response.get_data(as_text=True)
    page = Page(text)
    controls = page.controls()
    assert controls["email"]["aria-invalid"] == "true"
    assert controls["email"]["aria-describedby"] == "email-error"
    assert 'id="email-error"' in text and 'id="field-budget-error"' in text
    assert controls["name"]["value"] == values["name"]
    assert controls["company"]["value"] == values["company"]  # as the browser reads it back
    assert "<script>" not in text
    assert "line one\nline two</textarea>" in text
    assert "checked" in str(controls["terms"])
    assert stored(app) == 0


def test_the_honeypot_is_never_refilled(app: Flask) -> None:
    response = send(app, "default", {**good(7, email="bad"), "website": ""})
    assert response.status_code == 422
    assert Page(response.get_data(as_text=True)).controls()["website"].get("value") is None


def test_consent_members_and_required_consent(app: Flask, admin: dict) -> None:
    put(app, admin, "agree", {"consent_text": "I agree."})
    missing = send(app, "agree", good(8))
    assert missing.status_code == 422
    assert 'id="consent-error"' in missing.get_data(as_text=True)
    for n, value in ((9, "on"), (10, "true"), (11, "1")):
        assert send(app, "agree", good(n, consent=value), ip=f"203.0.113.{n}").status_code == 200
    assert stored(app) == 3


def test_challenge_forms_need_javascript(app: Flask, admin: dict) -> None:
    put(app, admin, "guarded", {"challenge": True})
    response = send(app, "guarded", good(12))
    assert response.status_code == 422
    assert "needs JavaScript" in response.get_data(as_text=True)
    assert stored(app) == 0


@pytest.mark.parametrize(
    ("body", "status"),
    [
        ("&".join(f"m{n}=x" for n in range(101)), 413),
        ("name=" + "a" * (17 * 1024), 413),
        (b"name=%FF%FE&email=a%40example.com", 400),
        (b"name=\xff\xfe", 400),
        ("name=a&name=b&email=a%40example.com&phone=%2B442079460958", 422),
        ("name=a%00b&email=a%40example.com&phone=%2B442079460958", 422),
    ],
)
def test_hostile_bodies_are_pages_and_store_nothing(app: Flask, body: Any, status: int) -> None:
    response = send(app, "default", body)
    assert response.status_code == status
    assert response.mimetype == "text/html"
    assert "\x00" not in response.get_data(as_text=True)
    assert stored(app) == 0


def test_script_in_every_member_is_a_page_never_a_500(app: Flask, admin: dict) -> None:
    put(app, admin, "full", {"fields": ONE_OF_EACH})
    script = '"><script>alert(1)</script>'
    members = ["name", "email", "phone", "consent", "ip_address", "source", "utm_source"]
    members += ["page_url", "referrer", *FULL_VALUES, "challenge", "other"]
    response = send(app, "full", {name: script for name in members})
    assert response.status_code == 422
    text = response.get_data(as_text=True)
    assert "<script>" not in text
    assert stored(app) == 0


def test_blocked_and_rate_limited_posts_are_pages(make_app) -> None:
    limited = make_app(LEADAPP_RATELIMIT_LEADS="1 per minute")
    assert send(limited, "default", good(13)).status_code == 200
    response = send(limited, "default", good(14))
    assert response.status_code == 429 and response.mimetype == "text/html"
    assert response.headers["Retry-After"]
    assert 'value="lead14@example.com"' in response.get_data(as_text=True)
    blocked = make_app(LEADAPP_CACHE_SECONDS=0)
    added = blocked.test_cli_runner().invoke(args=["blocklist", "add", "203.0.113.0/24"])
    assert added.exit_code == 0
    refused = send(blocked, "default", good(15))
    assert refused.status_code == 403 and refused.mimetype == "text/html"


def test_unknown_form_post_is_a_404_page_and_leads_stays_json(app: Flask) -> None:
    response = send(app, "nope", good(16))
    assert response.status_code == 404 and response.mimetype == "text/html"
    leads = app.test_client().post("/leads", data=urlencode(good(17)), content_type=URLENCODED)
    assert leads.status_code == 415 and leads.mimetype == "application/problem+json"
    assert stored(app) == 0


# --- Framing ---------------------------------------------------------------------------------


def csp(response) -> dict[str, str]:
    return {
        part.strip().split(" ", 1)[0]: part.strip().partition(" ")[2]
        for part in response.headers["Content-Security-Policy"].split(";")
    }


def test_framing_follows_the_forms_origins(make_app) -> None:
    app = make_app(LEADAPP_CORS_ORIGINS=["https://site.example"])
    admin = bearer(create_api_key(app))
    put(app, admin, "embed", {"origins": ["https://a.example"], "success_url": SUCCESS_URL})
    page = app.test_client().get("/f/embed")
    policy = csp(page)
    assert policy["frame-ancestors"] == "https://a.example https://site.example"
    assert policy["form-action"] == "'self' https://thanks.example"
    assert "X-Frame-Options" not in page.headers
    error = send(app, "embed", good(18, email="bad"))
    assert error.status_code == 422
    assert csp(error)["frame-ancestors"] == "https://a.example https://site.example"
    assert "X-Frame-Options" not in error.headers
    # `/` is the default form's page: framed by LEADAPP_CORS_ORIGINS (default has no origins).
    default = app.test_client().get("/")
    assert csp(default)["frame-ancestors"] == "https://site.example"
    assert "X-Frame-Options" not in default.headers
    for other in (app.test_client().get("/admin"), app.test_client().get("/f/nope")):
        assert csp(other)["frame-ancestors"] == "'none'"
        assert other.headers["X-Frame-Options"] == "DENY"


def test_a_form_without_origins_is_not_framed(app: Flask, admin: dict) -> None:
    put(app, admin, "plain", {})
    page = app.test_client().get("/f/plain")
    assert csp(page)["frame-ancestors"] == "'none'"
    assert page.headers["X-Frame-Options"] == "DENY"
    thanks = send(app, "plain", good(19))
    assert thanks.status_code == 200
    assert csp(thanks)["frame-ancestors"] == "'none'"


# --- In Chromium with JavaScript off, against the server `make run` starts --------------------

CONSENT = "You may write to me about the webinar."
WEBINAR = {
    "title": "Webinar sign-up",
    "one_lead_per_ip": False,
    "consent_text": CONSENT,
    "fields": [
        {"name": "company", "label": "Company", "type": "text"},
        {"name": "seats", "label": "Seats", "type": "number", "min": 1},
        {"name": "track", "label": "Track", "type": "select", "options": ["Intro", "Advanced"]},
        {"name": "newsletter", "label": "Send me the newsletter", "type": "checkbox"},
    ],
}


def fill(page: Any, values: dict[str, Any]) -> None:
    """Fill the form's controls by their labels: text, a select's option, True checks a box."""
    for label, value in values.items():
        control = page.get_by_label(label)
        if value is True:
            control.check()
        elif label == "Track":
            control.select_option(value)
        else:
            control.fill(value)


@pytest.mark.browser
def test_without_javascript_a_person_sends_the_form_and_corrects_a_bad_email(
    test_keys: dict[str, str], tmp_path: Path, open_page
) -> None:
    env = leadapp_environment(test_keys, f"sqlite:///{tmp_path / 'leadapp.sqlite3'}")
    flask_command(env, "db", "upgrade")
    document = tmp_path / "webinar.json"
    document.write_text(json.dumps(WEBINAR), encoding="utf-8")
    flask_command(env, "forms", "put", "webinar", "--file", str(document))
    ada = {
        "Full name": "Ada Lovelace",
        "Email address": "ada@example.com",
        "Phone number": phone_for(61),
        "Company": "Analytical Engines <Ltd>",
        "Seats": "12",
        "Track": "Advanced",
        "Send me the newsletter": True,
        CONSENT: True,
    }
    grace = {
        "Full name": "Grace Hopper",
        "Email address": "grace.example.com",
        "Phone number": phone_for(62),
        "Company": "Navy <&> Co",
        "Seats": "3",
        "Track": "Intro",
        CONSENT: True,
    }
    with LeadAppServer(env, tmp_path / "server.log") as server:
        page = open_page(server.url + "/f/webinar?utm_source=partner", java_script_enabled=False)
        expect(page.get_by_role("heading", name="Webinar sign-up")).to_be_visible()
        fill(page, ada)
        page.get_by_role("button", name="Send my details").click()
        expect(page.get_by_role("status")).to_have_text("Thank you, we have your details.")
        assert page.url == server.url + "/f/webinar"

        # A second person mistypes the email: the 422 page, the message beside the field,
        # everything else kept.
        page.goto(server.url + "/f/webinar")
        fill(page, grace)
        page.get_by_role("button", name="Send my details").click()
        expect(page.locator("#email-error")).to_be_visible()
        expect(page.get_by_role("alert")).to_contain_text("need correcting")
        for label, value in grace.items():
            if value is True:
                expect(page.get_by_label(label)).to_be_checked()
            else:
                expect(page.get_by_label(label)).to_have_value(value)
        expect(page.get_by_label("Send me the newsletter")).not_to_be_checked()

        # Corrected, it goes through.
        page.get_by_label("Email address").fill("grace@example.com")
        page.get_by_role("button", name="Send my details").click()
        expect(page.get_by_role("status")).to_have_text("Thank you, we have your details.")

    exported = flask_command(env, "leads", "export", "--form", "webinar").stdout
    rows = exported.splitlines()
    assert len(rows) == 3, exported
    assert "ada@example.com" in exported and "grace@example.com" in exported
    assert "Analytical Engines <Ltd>" in exported and "partner" in exported


def test_the_page_leaves_a_frame_only_to_reach_a_success_url(make_app) -> None:
    app = make_app(LEADAPP_CORS_ORIGINS=["https://site.example"])
    admin = bearer(create_api_key(app))
    put(app, admin, "jump", {"origins": ["https://a.example"], "success_url": SUCCESS_URL})
    put(app, admin, "stay", {"origins": ["https://a.example"]})
    framed = {"Sec-Fetch-Dest": "iframe"}
    client = app.test_client()

    def form_tag(response) -> dict[str, Any]:
        (form,) = Page(response.get_data(as_text=True)).all("form")
        return form

    jump = form_tag(client.get("/f/jump", headers=framed))
    assert jump.get("target") == "_top"
    # What form.js needs: the origins it may tell of a lead, the JSON path, the form.
    assert jump["data-frame-origins"] == "https://a.example https://site.example"
    assert jump["data-endpoint"] == "/f/jump" and jump["data-form"] == "jump"
    # The refilled error page of a framed post leaves the frame too.
    error = send(app, "jump", good(20, email="bad"), headers=framed)
    assert error.status_code == 422 and form_tag(error).get("target") == "_top"
    assert "target" not in form_tag(client.get("/f/jump"))  # not in a frame
    assert "target" not in form_tag(client.get("/f/stay", headers=framed))  # thanks in the frame


def test_the_forms_list_gives_the_snippets_base_url(make_app) -> None:
    for configured in (None, "https://leads.example.org"):
        app = make_app(LEADAPP_PUBLIC_URL=configured)
        key = create_api_key(app, f"admin-{configured is not None}")
        listing = app.test_client().get("/forms", headers=bearer(key))
        assert listing.status_code == 200
        assert listing.get_json()["public_url"] == configured
