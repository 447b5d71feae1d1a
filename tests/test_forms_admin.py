"""Forms as an operator manages them: the `forms` commands, one form's leads (GET /leads?form=)."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from flask import Flask
from sqlalchemy import event, select

from leadapp.extensions import db
from leadapp.models import AuditEvent
from tests.support.apps import put_form
from tests.support.client import bearer, store_lead
from tests.support.processes import flask_command
from tests.support.servers import leadapp_environment

SPRING = {
    "title": "Spring sale",
    "fields": [{"name": "company", "label": "Company", "type": "text", "required": True}],
    "challenge": True,
}


def cli(app: Flask, *args: str, input: str | None = None):
    """Run `flask --app leadapp forms ARGS` through the app's CLI runner."""
    return app.test_cli_runner().invoke(args=["forms", *args], input=input)


# --- the command line -------------------------------------------------------------------------


def test_put_list_show_remove(app: Flask, api_key: str, tmp_path: Path) -> None:
    document = tmp_path / "spring.json"
    document.write_text(json.dumps(SPRING), encoding="utf-8")
    created = cli(app, "put", "spring", "--file", str(document))
    assert created.exit_code == 0, created.stderr
    assert "Created form 'spring'" in created.stdout
    replaced = cli(app, "put", "spring", "--file", "-", input=json.dumps({**SPRING, "title": "Sp"}))
    assert replaced.exit_code == 0 and "Replaced form 'spring'" in replaced.stdout
    store_lead(app, api_key, 1, path="/f/spring", fields={"company": "Acme"})

    # The API sees what the command line wrote, at once.
    answer = app.test_client().get("/forms/spring", headers=bearer(api_key)).get_json()
    assert answer["title"] == "Sp" and answer["challenge"] is True and answer["leads"] == 1

    listed = cli(app, "list").stdout.splitlines()
    assert listed[0].split()[:5] == ["SLUG", "TITLE", "LEADS", "FIELDS", "USES"]
    rows = {line.split()[0]: line for line in listed[1:]}
    assert list(rows) == ["default", "spring"]
    assert rows["spring"].split()[1:5] == ["Sp", "1", "1", "challenge"]
    assert rows["default"].split()[1:] == ["default", "0", "0", "-"]

    shown = cli(app, "show", "spring")
    assert shown.exit_code == 0
    assert json.loads(shown.stdout) == answer

    removed = cli(app, "remove", "spring")
    assert removed.exit_code == 0 and "Removed form 'spring'" in removed.stdout
    assert app.test_client().get("/f/spring/settings").status_code == 404
    assert [line.split()[0] for line in cli(app, "list").stdout.splitlines()[1:]] == ["default"]
    for args in (["show", "spring"], ["remove", "spring"], ["show", "NO"]):
        missing = cli(app, *args)
        assert missing.exit_code == 1 and "No form with this slug" in missing.stderr, args

    # Each change is audited under the command line's actor.
    with app.app_context(), db.engine.connect() as connection:
        audited = connection.execute(
            select(AuditEvent.api_key_name, AuditEvent.action).where(
                AuditEvent.action.like("form.%")
            )
        ).all()
    assert sorted(audited) == [
        ("command line", "form.put"),
        ("command line", "form.put"),
        ("command line", "form.remove"),
    ]


def test_the_default_form_cannot_be_removed(app: Flask) -> None:
    refused = cli(app, "remove", "default")
    assert refused.exit_code == 1
    assert refused.stderr.strip().splitlines() == ["Error: The default form cannot be removed."]
    assert "default" in cli(app, "list").stdout


def test_a_bad_document_is_one_line_per_member_and_changes_nothing(app: Flask) -> None:
    bad = {
        "title": "",
        "origins": ["https://example.com/path"],
        "fields": [{"name": "email", "label": "E", "type": "text"}],
        "colour": "red",
    }
    result = cli(app, "put", "spring", "--file", "-", input=json.dumps(bad))
    assert result.exit_code == 1
    lines = result.stderr.strip().splitlines()
    assert sorted(line.split(":")[0] for line in lines) == [
        "colour",
        "fields.0.name",
        "origins.0",
        "title",
    ]
    assert all(len(line.split(": ", 1)) == 2 and "Traceback" not in line for line in lines)
    assert result.stdout == ""
    assert "spring" not in cli(app, "list").stdout

    # A document that is not a strict JSON object: one line, nothing changed.
    for document in ("{", "[]", '{"title": "a", "title": "b"}', "\xff"):
        result = cli(app, "put", "spring", "--file", "-", input=document)
        assert result.exit_code == 1, document
        assert len(result.stderr.strip().splitlines()) == 1, result.stderr
    huge = json.dumps({"title": "x" * (64 * 1024)})
    assert "larger than 64 KiB" in cli(app, "put", "spring", "--file", "-", input=huge).stderr
    assert "spring" not in cli(app, "list").stdout


def test_forms_put_from_stdin_in_a_real_process(tmp_path: Path, test_keys) -> None:
    env = leadapp_environment(test_keys, f"sqlite:///{tmp_path / 'forms.sqlite3'}")
    flask_command(env, "db", "upgrade")
    put = flask_command(env, "forms", "put", "webinar", "--file", "-", input=json.dumps(SPRING))
    assert "Created form 'webinar'" in put.stdout
    shown = json.loads(flask_command(env, "forms", "show", "webinar").stdout)
    assert shown["title"] == "Spring sale" and shown["challenge"] is True
    assert [field["name"] for field in shown["fields"]] == ["company"]
    bad = flask_command(
        env, "forms", "put", "webinar", "--file", "-", input='{"challenge": "yes"}', check=False
    )
    assert bad.returncode == 1
    assert bad.stderr.strip().splitlines() == ["challenge: Must be true or false."]
    refused = flask_command(env, "forms", "remove", "default", check=False)
    assert refused.returncode == 1 and len(refused.stderr.strip().splitlines()) == 1


# --- GET /leads?form= -------------------------------------------------------------------------


def _page(app: Flask, key: str, query: str):
    """GET /leads?QUERY with the key."""
    return app.test_client().get(f"/leads?{query}", headers=bearer(key))


def _walk(app: Flask, key: str, query: str) -> list[str]:
    """Every lead id of a listing, page by page (two per page), following its cursors."""
    seen: list[str] = []
    cursor = None
    while True:
        answer = _page(app, key, query + (f"&cursor={cursor}" if cursor else ""))
        assert answer.status_code == 200, answer.get_json()
        body = answer.get_json()
        seen += [item["id"] for item in body["items"]]
        cursor = body["next_cursor"]
        if cursor is None:
            return seen


def test_one_forms_leads_page_by_page(app: Flask, api_key: str) -> None:
    put_form(app, "spring")
    put_form(app, "autumn")
    leads = {"spring": [], "autumn": [], "default": []}
    for n in range(1, 16):
        form = ("spring", "autumn", "default")[n % 3]
        path = "/leads" if form == "default" else f"/f/{form}"
        leads[form].append(store_lead(app, api_key, n, path=path)["id"])
    for form, ids in leads.items():
        assert _walk(app, api_key, f"form={form}&limit=2") == ids[::-1], form
    assert len(_walk(app, api_key, "limit=2")) == 15

    # A removed form's leads are still listed; a slug no form ever had gives an empty page.
    assert cli(app, "remove", "autumn").exit_code == 0
    assert _walk(app, api_key, "form=autumn&limit=2") == leads["autumn"][::-1]
    assert _page(app, api_key, "form=never").get_json() == {"items": [], "next_cursor": None}


@pytest.mark.parametrize("slug", ["Spring", "-a", "a-", "a_b", "x" * 41, "", "%C3%A9"])
def test_a_malformed_form_slug_is_422(app: Flask, api_key: str, slug: str) -> None:
    answer = _page(app, api_key, f"form={slug}")
    assert answer.status_code == 422
    assert "form" in answer.get_json()["errors"]


def test_a_cursor_continues_only_its_own_listing(app: Flask, api_key: str) -> None:
    put_form(app, "spring")
    put_form(app, "autumn")
    for n in range(1, 5):
        store_lead(app, api_key, n, path="/f/spring")
        store_lead(app, api_key, 100 + n, path="/f/autumn")
        store_lead(app, api_key, 200 + n)
    spring = _page(app, api_key, "form=spring&limit=1").get_json()["next_cursor"]
    every = _page(app, api_key, "limit=1").get_json()["next_cursor"]
    for query in (
        f"form=autumn&cursor={spring}",
        f"cursor={spring}",
        f"form=spring&cursor={every}",
    ):
        answer = _page(app, api_key, query)
        assert answer.status_code == 422, query
        assert "cursor" in answer.get_json()["errors"]
    assert _page(app, api_key, f"form=spring&cursor={spring}").status_code == 200
    assert _page(app, api_key, f"cursor={every}").status_code == 200


@pytest.mark.parametrize("database_url", ["sqlite"], indirect=True)
def test_the_listing_of_a_form_walks_its_index(app: Flask, api_key: str) -> None:
    """On SQLite, the plan of the page query the service runs uses (form, created_at, id)."""
    statements: list[tuple[str, tuple]] = []

    def capture(_conn, _cursor, statement, parameters, *_args) -> None:
        if "FROM leads" in statement and "ORDER BY" in statement:
            statements.append((statement, parameters))

    put_form(app, "spring")
    with app.app_context():
        event.listen(db.engine, "before_cursor_execute", capture)
        try:
            cursor = _page(app, api_key, "form=spring&limit=1").get_json()["next_cursor"]
            _page(app, api_key, "form=spring&limit=1" + (f"&cursor={cursor}" if cursor else ""))
        finally:
            event.remove(db.engine, "before_cursor_execute", capture)
        assert len(statements) == 2
        with db.engine.connect() as connection:
            for statement, parameters in statements:
                plan = " ".join(
                    str(row[-1])
                    for row in connection.exec_driver_sql(
                        "EXPLAIN QUERY PLAN " + statement, parameters
                    )
                )
                assert "ix_leads_form_created_at_id" in plan, plan
                assert "TEMP B-TREE" not in plan, plan
