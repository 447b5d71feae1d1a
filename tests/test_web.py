"""The web pages through the test client: served, self-contained, and free of inline script."""

from __future__ import annotations

import re
from collections.abc import Iterator
from html.parser import HTMLParser
from pathlib import Path

import pytest
from flask import Flask
from flask.testing import FlaskClient

from tests.support.apps import app_builder

STATIC = Path(__file__).resolve().parent.parent / "leadapp" / "web" / "static"
PAGES = ["/", "/admin"]
ASSET_TYPES = {
    ".js": ("text/javascript", "application/javascript"),
    ".css": ("text/css",),
    ".svg": ("image/svg+xml",),
}


class PageParser(HTMLParser):
    """Collects every start tag with its attributes, and the text inside <script> elements."""

    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self.tags: list[tuple[str, dict[str, str]]] = []
        self.script_text: list[str] = []
        self._in_script = False

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        self.tags.append((tag, {name: value or "" for name, value in attrs}))
        self._in_script = tag == "script"

    def handle_endtag(self, tag: str) -> None:
        if tag == "script":
            self._in_script = False

    def handle_data(self, data: str) -> None:
        if self._in_script:
            self.script_text.append(data)

    def find(self, tag: str, **attrs: str) -> list[dict[str, str]]:
        """Every `tag` whose attributes include `attrs`."""
        return [
            found
            for name, found in self.tags
            if name == tag and all(found.get(key) == value for key, value in attrs.items())
        ]


@pytest.fixture
def app(tmp_path: Path) -> Iterator[Flask]:
    """The pages need no particular database: one SQLite app (overrides the parametrized one)."""
    with app_builder(f"sqlite:///{tmp_path}/w.db") as build:
        yield build()


def parse(client: FlaskClient, path: str) -> PageParser:
    """Fetch a page and parse it."""
    response = client.get(path)
    assert response.status_code == 200
    parser = PageParser()
    parser.feed(response.get_data(as_text=True))
    return parser


# Written out, not imported from the code: a weakened policy in security_headers.py must fail.
EXPECTED_CSP = (
    "default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self' data:; "
    "connect-src 'self'; form-action 'self'; base-uri 'none'; object-src 'none'; "
    "frame-ancestors 'none'"
)


@pytest.mark.parametrize("path", PAGES)
def test_page_is_html_with_the_security_headers(client: FlaskClient, path: str) -> None:
    response = client.get(path)
    assert response.status_code == 200
    assert response.content_type == "text/html; charset=utf-8"
    assert response.headers["Content-Security-Policy"] == EXPECTED_CSP
    assert response.headers["X-Content-Type-Options"] == "nosniff"
    assert response.headers["X-Frame-Options"] == "DENY"
    # Pages are revalidated on every visit, so a deploy never mixes old HTML with new scripts.
    assert {"no-cache", "no-store"} & set(re.split(r",\s*", response.headers["Cache-Control"]))
    assert "X-Request-ID" in response.headers


@pytest.mark.parametrize("path", PAGES)
def test_page_has_no_inline_script_or_style(client: FlaskClient, path: str) -> None:
    page = parse(client, path)
    scripts = page.find("script")
    assert scripts, "the page has behaviour, so it loads scripts"
    assert all(script.get("src") for script in scripts)
    assert "".join(page.script_text).strip() == ""
    for tag, attrs in page.tags:
        assert tag != "style"
        assert "style" not in attrs, tag
        assert not [name for name in attrs if name.startswith("on")], (tag, attrs)
        for name in ("href", "src", "action"):
            assert not attrs.get(name, "").strip().lower().startswith("javascript:"), attrs


@pytest.mark.parametrize("path", PAGES)
def test_every_referenced_asset_is_served_by_the_app(client: FlaskClient, path: str) -> None:
    page = parse(client, path)
    urls = [attrs["src"] for attrs in page.find("script")]
    urls += [attrs["href"] for tag, attrs in page.tags if tag == "link"]
    assert len(urls) >= 4
    for url in urls:
        assert url.startswith("/assets/"), f"{url}: not served by the app itself (no CDN)"
        response = client.get(url)
        assert response.status_code == 200, url
        assert response.mimetype in ASSET_TYPES[Path(url).suffix], (url, response.mimetype)
        assert response.headers["X-Content-Type-Options"] == "nosniff"
        assert "no-store" not in response.headers.get("Cache-Control", "")


def test_stylesheet_references_only_served_files(client: FlaskClient) -> None:
    css = client.get("/assets/style.css").get_data(as_text=True)
    for url in re.findall(r"url\(\s*['\"]?([^'\")]+)", css):
        assert not re.match(r"[a-z]+:|//", url), url
        assert client.get(f"/assets/{url}").status_code == 200, url


def script_code(name: str) -> str:
    """A script's source without its comments (which may name what the code must not do)."""
    source = (STATIC / name).read_text(encoding="utf-8")
    source = re.sub(r"/\*.*?\*/", "", source, flags=re.DOTALL)
    return re.sub(r"^\s*//.*$", "", source, flags=re.MULTILINE)


def test_scripts_never_write_html_or_use_lasting_storage() -> None:
    scripts = sorted(path.name for path in STATIC.glob("*.js"))
    assert scripts == [
        "admin-forms.js",
        "admin-mail.js",
        "admin-overview.js",
        "admin-snippets.js",
        "admin.js",
        "common.js",
        "form.js",
    ]
    for script in scripts:
        source = script_code(script)
        for forbidden in ("innerHTML", "outerHTML", "insertAdjacentHTML", "document.write"):
            assert forbidden not in source, f"{script} uses {forbidden}"
        assert not re.search(r"\beval\(|new Function\(", source), script
        assert "localStorage" not in source, script
        assert "document.cookie" not in source, script
    assert "sessionStorage" in script_code("common.js")


def test_form_fields_are_labelled_and_typed(client: FlaskClient) -> None:
    page = parse(client, "/")
    labels = {attrs["for"] for attrs in page.find("label")}
    expected = {"name": ("text", "name"), "email": ("email", "email"), "phone": ("tel", "tel")}
    for field, (type_, autocomplete) in expected.items():
        (control,) = page.find("input", id=field)
        assert control["name"] == field
        assert control["type"] == type_
        assert control["autocomplete"] == autocomplete
        assert "required" in control
        assert field in labels
        assert page.find("p", id=f"{field}-error")
    # `/` is the default form's page: without JavaScript it posts itself form-encoded to
    # /f/default; form.js posts JSON to /leads.
    (form,) = page.find("form", id="lead-form")
    assert form["action"] == "/f/default"
    assert form["method"] == "post"
    assert form["data-endpoint"] == "/leads"
    (alert,) = page.find("div", id="form-alert")
    assert alert["role"] == "alert"
    assert page.find("meta", name="viewport")
    assert page.find("html", lang="en")


def test_admin_page_has_a_labelled_key_field_and_is_not_indexed(client: FlaskClient) -> None:
    page = parse(client, "/admin")
    (key,) = page.find("input", id="api-key")
    assert key["type"] == "password"
    assert key["autocomplete"] == "off"
    assert page.find("label", **{"for": "api-key"})
    assert page.find("meta", name="robots", content="noindex, nofollow")
    assert page.find("div", id="admin-alert", role="alert")
    assert page.find("div", id="admin-status", role="status")
    # The leads table's own headers (the page has other tables: overview, webhooks).
    start = next(i for i, (tag, attrs) in enumerate(page.tags) if attrs.get("id") == "leads-table")
    end = next((i for i in range(start + 1, len(page.tags)) if page.tags[i][0] == "table"), None)
    headers = [attrs for tag, attrs in page.tags[start:end] if tag == "th"]
    # name, email, phone, IP, created, source, form and custom values, resubmissions, actions
    assert len(headers) == 9


def test_missing_asset_is_a_problem_404(client: FlaskClient) -> None:
    response = client.get("/assets/nope.js")
    assert response.status_code == 404
    assert response.mimetype == "application/problem+json"


def test_pages_do_not_answer_other_methods(client: FlaskClient) -> None:
    assert client.post("/admin").status_code == 405
    assert client.delete("/").status_code == 405


def test_root_serves_what_the_default_forms_page_serves(client: FlaskClient) -> None:
    root, default = client.get("/?utm_source=x"), client.get("/f/default?utm_source=x")
    assert root.status_code == default.status_code == 200
    assert root.get_data() == default.get_data()
    assert root.headers["Content-Security-Policy"] == default.headers["Content-Security-Policy"]
    # One form markup: the static copy is gone, so the honeypot exists once.
    assert not (STATIC / "form.html").exists()
