"""The CSV export: columns, order, range, formula injection, audit, auth, bad parameters."""

from __future__ import annotations

import csv
import io
import json
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from flask import Flask

from leadapp.services.export import COLUMNS, as_text, defuse
from tests.support.apps import create_api_key, put_form
from tests.support.builders import lead_payload
from tests.support.client import bearer, store_lead
from tests.support.forms import GOOD_VALUES, ONE_OF_EACH, post, put
from tests.support.operator_data import add_lead_at, audit_events, set_lead
from tests.support.opt_in import DOI_FORM, MAIL_SETTINGS
from tests.support.servers import ThreadedServer

LEAD_HEADER = (
    "id,created_at,name,email,phone,ip_address,source,utm_source,utm_medium,utm_campaign,"
    "utm_term,utm_content,page_url,referrer,consent_given_at,consent_text,resubmissions,"
    "last_resubmitted_at,form,opt_in_status,opt_in_confirmed_at"
)
HEADER = LEAD_HEADER + ",fields"
T0 = datetime(2026, 3, 1, 12, 0, tzinfo=UTC)


def parse(body: bytes, header: str = HEADER) -> list[dict[str, str]]:
    """The CSV as dicts, after checking it is UTF-8 with the contract's exact header row."""
    text = body.decode("utf-8")
    assert text.split("\r\n", 1)[0] == header
    return list(csv.DictReader(io.StringIO(text, newline="")))


def export(client, key: str, query: str = ""):
    """GET /leads/export.csv with the key."""
    return client.get("/leads/export.csv" + query, headers=bearer(key))


def test_header_row_is_the_contracts() -> None:
    assert ",".join(COLUMNS) == HEADER


def test_every_lead_oldest_first_with_every_column(app: Flask, client, api_key: str) -> None:
    ids = [add_lead_at(app, api_key, n, T0 - timedelta(hours=n)) for n in range(5)]
    attribution = {
        "source": "newsletter",
        "utm_source": "mail",
        "utm_medium": "email",
        "utm_campaign": "spring",
        "utm_term": "crm tools",
        "utm_content": "hero",
        "page_url": "https://example.com/offer?x=1",
        "referrer": "https://search.example/",
    }
    set_lead(
        app, ids[0], **attribution, resubmissions=3, last_resubmitted_at=T0 + timedelta(minutes=5)
    )
    response = export(client, api_key)
    assert response.status_code == 200
    assert response.headers["Content-Type"] == "text/csv; charset=utf-8"
    assert response.headers["Content-Disposition"].startswith("attachment")
    assert ".csv" in response.headers["Content-Disposition"]
    rows = parse(response.data)
    assert [row["id"] for row in rows] == list(reversed(ids))
    first = rows[-1]
    assert first == {
        "id": ids[0],
        "created_at": "2026-03-01T12:00:00Z",
        "name": "Lead Person 0",
        "email": "lead0@example.com",
        "phone": "+442070000000",
        "ip_address": "",
        **attribution,
        "consent_given_at": "",
        "consent_text": "",
        "resubmissions": "3",
        "last_resubmitted_at": "2026-03-01T12:05:00Z",
        "form": "default",
        "opt_in_status": "",
        "opt_in_confirmed_at": "",
        "fields": "{}",
    }
    assert rows[0]["resubmissions"] == "0" and rows[0]["last_resubmitted_at"] == ""


def test_consent_text_and_time_are_exported(app: Flask, client, api_key: str) -> None:
    from sqlalchemy import insert

    from leadapp.extensions import db
    from leadapp.models import ConsentText

    lead_id = store_lead(app, api_key, 1)["id"]
    with app.app_context(), db.engine.begin() as connection:
        text_id = connection.execute(
            insert(ConsentText.__table__).returning(ConsentText.__table__.c.id),
            {"text_hash": b"h" * 32, "text": 'I agree, "really", to be called.', "created_at": T0},
        ).scalar_one()
    set_lead(app, lead_id, consent_given_at=T0, consent_text_id=text_id)
    (row,) = parse(export(client, api_key).data)
    assert row["consent_given_at"] == "2026-03-01T12:00:00Z"
    assert row["consent_text"] == 'I agree, "really", to be called.'


@pytest.mark.parametrize(
    ("query", "expected"),
    [
        ("", [0, 1, 2, 3]),
        ("?from=2026-03-02", [1, 2, 3]),
        ("?to=2026-03-02", [0]),
        ("?from=2026-03-02&to=2026-03-03", [1, 2]),
        ("?from=2026-03-02T23:59:59.999999Z", [2, 3]),
        ("?to=2026-03-02T23:59:59.999999Z", [0, 1]),
        # 01:00+02:00 is 23:00 UTC the day before.
        ("?from=2026-03-03T01:00:00%2B02:00", [2, 3]),
        ("?from=2026-03-04&to=2026-03-04", []),
    ],
)
def test_range_is_from_inclusive_to_exclusive_in_utc(
    app: Flask, client, api_key: str, query: str, expected: list[int]
) -> None:
    times = [
        datetime(2026, 3, 1, 23, 59, 59, 999999, tzinfo=UTC),
        datetime(2026, 3, 2, 0, 0, tzinfo=UTC),
        datetime(2026, 3, 2, 23, 59, 59, 999999, tzinfo=UTC),
        datetime(2026, 3, 3, 0, 0, tzinfo=UTC),
    ]
    ids = [add_lead_at(app, api_key, n, at) for n, at in enumerate(times)]
    rows = parse(export(client, api_key, query).data)
    assert [row["id"] for row in rows] == [ids[n] for n in expected]


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        ('=HYPERLINK("http://x")', '\'=HYPERLINK("http://x")'),
        ("+1+1", "'+1+1"),
        ("-2+3", "'-2+3"),
        ("@SUM(A1)", "'@SUM(A1)"),
        ("\tx", "'\tx"),
        ("\rx", "'\rx"),
        ("a=b", "a=b"),
        ("plain", "plain"),
        ("", ""),
    ],
)
def test_defuse(value: str, expected: str) -> None:
    assert defuse(value) == expected


def test_formula_cells_are_defused_but_the_phone_is_not(app: Flask, client, api_key: str) -> None:
    formulas = {
        "source": "@evil",
        "utm_source": "-10",
        "utm_campaign": "+cmd",
        "utm_term": "\tterm",
        "utm_content": "\rcontent",
        "referrer": "=IMPORTXML(x)",
    }
    lead_id = store_lead(app, api_key, 7, name="=1+2 Mallory")["id"]
    set_lead(app, lead_id, **formulas)
    (row,) = parse(export(client, api_key).data)
    cells = {"name": "=1+2 Mallory", **formulas}
    assert {column: row[column] for column in cells} == {
        column: "'" + value for column, value in cells.items()
    }
    assert row["phone"] == "+442070000007"


def test_one_audit_event_with_the_count(app: Flask, client, api_key: str) -> None:
    for n in range(3):
        store_lead(app, api_key, n)
    assert len(parse(export(client, api_key).data)) == 3
    assert parse(export(client, api_key, "?from=2099-01-01").data) == []
    events = audit_events(app, "export")
    assert [(event.lead_count, event.lead_ids, event.api_key_name) for event in events] == [
        (3, [], "partner"),
        (0, [], "partner"),
    ]


def test_a_download_cut_short_is_audited_with_what_was_sent(
    app: Flask, client, api_key: str
) -> None:
    for n in range(3):
        store_lead(app, api_key, n)
    response = export(client, api_key)
    response.close()  # the client went away before reading a single row
    assert [event.lead_count for event in audit_events(app, "export")] == [0]


def test_without_a_key_is_401(client) -> None:
    response = client.get("/leads/export.csv")
    assert response.status_code == 401
    assert response.headers["WWW-Authenticate"].startswith("Bearer")
    assert response.mimetype == "application/problem+json"


@pytest.mark.parametrize(
    ("query", "field"),
    [
        ("?from=yesterday", "from"),
        ("?from=2026-02-30", "from"),
        ("?to=2026-03-01T10:00:00", "to"),
        ("?to=2026-03-01T25:00:00Z", "to"),
        ("?from=", "from"),
        ("?from=2026-03-02&to=2026-03-01", "from"),
        ("?from=2026-03-01&from=2026-03-02", "from"),
        ("?limit=5", "limit"),
    ],
)
def test_bad_parameters_are_problems(client, api_key: str, query: str, field: str) -> None:
    response = export(client, api_key, query)
    assert response.status_code == 422
    assert response.mimetype == "application/problem+json"
    assert field in response.get_json()["errors"]


def test_streamed_by_waitress_in_batches(app: Flask, api_key: str, monkeypatch) -> None:
    import http.client

    from leadapp.services import export as export_service

    # Small batches: the export must come out in several chunks, and all of it.
    monkeypatch.setattr(export_service, "BATCH_SIZE", 2)
    ids = [add_lead_at(app, api_key, n, T0 + timedelta(seconds=n)) for n in range(7)]
    with ThreadedServer(app) as server:
        connection = http.client.HTTPConnection("127.0.0.1", server.port, timeout=30)
        connection.request("GET", "/leads/export.csv", headers=bearer(api_key))
        response = connection.getresponse()
        assert response.status == 200
        assert response.getheader("Transfer-Encoding") == "chunked"
        body = response.read()
        connection.close()
    assert [row["id"] for row in parse(body)] == ids
    assert [event.lead_count for event in audit_events(app, "export")] == [7]


def test_cli_exports_the_same_csv_with_progress_on_stderr(
    app: Flask, api_key: str, tmp_path: Path
) -> None:
    ids = [add_lead_at(app, api_key, n, T0 + timedelta(days=n)) for n in range(3)]
    output = tmp_path / "leads.csv"
    runner = app.test_cli_runner()
    result = runner.invoke(
        args=["leads", "export", "--from", "2026-03-02", "--output", str(output)]
    )
    assert result.exit_code == 0, result.output
    assert "Exporting leads" in result.stderr and "Exported 2 leads." in result.stderr
    assert [row["id"] for row in parse(output.read_bytes())] == ids[1:]
    assert [event.api_key_name for event in audit_events(app, "export")] == ["command line"]

    to_stdout = runner.invoke(args=["leads", "export", "--to", "2026-03-02"])
    assert to_stdout.exit_code == 0
    assert [row["id"] for row in parse(to_stdout.stdout_bytes)] == ids[:1]

    bad = runner.invoke(args=["leads", "export", "--from", "soon"])
    assert bad.exit_code == 2 and "Traceback" not in bad.output
    assert "RFC 3339" in bad.output


def test_cli_export_in_a_real_process(database_url: str, test_keys, tmp_path: Path) -> None:
    from leadapp import create_app
    from leadapp.extensions import db
    from tests.support.processes import flask_command
    from tests.support.servers import leadapp_environment

    app = create_app({"SQLALCHEMY_DATABASE_URI": database_url})
    with app.app_context():
        db.create_all()
    try:
        store_lead(app, create_api_key(app, "cli-test"), 1)
        result = flask_command(leadapp_environment(test_keys, database_url), "leads", "export")
    finally:
        with app.app_context():
            db.engine.dispose()
    # Text mode turned CRLF into LF; the bytes are checked by the runner test above.
    lines = result.stdout.splitlines()
    assert lines[0] == HEADER and len(lines) == 2
    assert "Exported 1 lead." in result.stderr and "id,created_at" not in result.stderr


# --- Forms (v3): the form, opt-in and custom values columns -------------------------------

# ONE_OF_EACH, and an optional checkbox so that `false` is stored too.
WITH_NEWS = [*ONE_OF_EACH, {"name": "news", "label": "News", "type": "checkbox"}]
FIELD_NAMES = ",".join(definition["name"] for definition in WITH_NEWS)


def store_form_lead(app: Flask, key: str, slug: str, n: int, **fields) -> str:
    """Store lead n on a form with these custom values (as an API-key caller); return its id."""
    response = post(app, slug, {**lead_payload(n), "fields": fields}, headers=bearer(key))
    assert response.status_code == 201, response.get_json()
    return response.get_json()["id"]


def test_fields_column_is_the_custom_values_as_json_keys_sorted(
    app: Flask, client, api_key: str
) -> None:
    assert put(app, bearer(api_key), "full", {"fields": WITH_NEWS}).status_code == 201
    plain = store_lead(app, api_key, 1)["id"]
    full = store_form_lead(app, api_key, "full", 2, **GOOD_VALUES, news=False)
    rows = {row["id"]: row for row in parse(export(client, api_key).data)}
    assert rows[plain]["form"] == "default" and rows[plain]["fields"] == "{}"
    stored = {**GOOD_VALUES, "company": "Acme", "plan": "pro", "news": False}
    assert rows[full]["fields"] == json.dumps(
        stored, sort_keys=True, ensure_ascii=False, separators=(",", ":")
    )
    assert list(json.loads(rows[full]["fields"])) == sorted(stored)
    assert rows[full]["form"] == "full"
    assert rows[full]["opt_in_status"] == rows[full]["opt_in_confirmed_at"] == ""


def test_one_forms_export_has_a_column_per_field_in_the_forms_order(
    app: Flask, client, api_key: str
) -> None:
    put(app, bearer(api_key), "full", {"fields": WITH_NEWS})
    store_lead(app, api_key, 1)  # the default form's: not in the form's export
    every = store_form_lead(app, api_key, "full", 2, **GOOD_VALUES, news=False)
    fewest = store_form_lead(app, api_key, "full", 3, company="Beta", terms=True, budget=7)
    rows = parse(export(client, api_key, "?form=full").data, LEAD_HEADER + "," + FIELD_NAMES)
    assert [row["id"] for row in rows] == [every, fewest]
    custom = [{name: row[name] for name in FIELD_NAMES.split(",")} for row in rows]
    assert custom == [
        {
            "company": "Acme",
            "message": "line one\nline two",
            "budget": "5000.5",
            "start": "2026-02-28",
            "plan": "pro",
            "terms": "true",
            "site": "https://acme.example/about",
            "news": "false",
        },
        {
            "company": "Beta",
            "message": "",
            "budget": "7",
            "start": "",
            "plan": "",
            "terms": "true",
            "site": "",
            "news": "",
        },
    ]
    assert all(row["form"] == "full" and "fields" not in row for row in rows)


def test_a_field_removed_from_the_form_leaves_its_column_but_not_the_values(
    app: Flask, client, api_key: str
) -> None:
    admin = bearer(api_key)
    text = {"label": "L", "type": "text"}
    put(app, admin, "shop", {"fields": [{"name": "size", **text}, {"name": "color", **text}]})
    lead_id = store_form_lead(app, api_key, "shop", 1, size="XL", color="red")
    put(app, admin, "shop", {"fields": [{"name": "color", **text}, {"name": "gift", **text}]})
    (row,) = parse(export(client, api_key, "?form=shop").data, LEAD_HEADER + ",color,gift")
    assert (row["id"], row["color"], row["gift"]) == (lead_id, "red", "")
    (row,) = parse(export(client, api_key).data)
    assert json.loads(row["fields"]) == {"color": "red", "size": "XL"}


def test_custom_values_are_defused_in_both_shapes(app: Flask, client, api_key: str) -> None:
    put(app, bearer(api_key), "full", {"fields": ONE_OF_EACH})
    formula = '=HYPERLINK("http://evil.example")'
    store_form_lead(app, api_key, "full", 1, company=formula, message="@SUM(A1)", terms=True)
    (row,) = parse(
        export(client, api_key, "?form=full").data,
        LEAD_HEADER + "," + ",".join(field["name"] for field in ONE_OF_EACH),
    )
    assert row["company"] == "'" + formula and row["message"] == "'@SUM(A1)"
    # The JSON object starts with `{`: a spreadsheet shows it as text.
    (row,) = parse(export(client, api_key).data)
    assert json.loads(row["fields"])["company"] == formula


def test_as_text_writes_each_kind_of_value() -> None:
    assert [as_text(value) for value in (None, True, False, 7, -2.5, 1e20, "x")] == [
        "",
        "true",
        "false",
        "7",
        "-2.5",
        "1e+20",
        "x",
    ]
    # A negative number is a cell starting with `-`: defused, as every cell is.
    assert defuse(as_text(-2.5)) == "'-2.5"


def test_a_removed_forms_export_has_its_leads_with_its_last_fields(
    app: Flask, client, api_key: str
) -> None:
    admin = bearer(api_key)
    put(app, admin, "gone", {"fields": [{"name": "topic", "label": "Topic", "type": "text"}]})
    lead_id = store_form_lead(app, api_key, "gone", 1, topic="pricing")
    assert client.delete("/forms/gone", headers=admin).status_code == 204
    response = export(client, api_key, "?form=gone")
    assert response.status_code == 200
    (row,) = parse(response.data, LEAD_HEADER + ",topic")
    assert (row["id"], row["form"], row["topic"]) == (lead_id, "gone", "pricing")


def test_a_slug_no_form_ever_had_is_the_header_alone(app: Flask, client, api_key: str) -> None:
    store_lead(app, api_key, 1)
    response = export(client, api_key, "?form=never")
    assert response.status_code == 200
    assert parse(response.data, LEAD_HEADER) == []
    assert [event.lead_count for event in audit_events(app, "export")] == [0]


@pytest.mark.parametrize("slug", ["Bad_Slug", "-x", "", "a" * 41, "sp%C3%A9cial"])
def test_a_malformed_form_is_422(client, api_key: str, slug: str) -> None:
    response = export(client, api_key, "?form=" + slug)
    assert response.status_code == 422
    assert "form" in response.get_json()["errors"]


def test_cli_exports_one_form(app: Flask, api_key: str) -> None:
    put(app, bearer(api_key), "full", {"fields": ONE_OF_EACH})
    store_lead(app, api_key, 1)
    lead_id = store_form_lead(app, api_key, "full", 2, company="Acme", terms=True)
    runner = app.test_cli_runner()
    result = runner.invoke(args=["leads", "export", "--form", "full"])
    assert result.exit_code == 0, result.output
    header = LEAD_HEADER + "," + ",".join(field["name"] for field in ONE_OF_EACH)
    (row,) = parse(result.stdout_bytes, header)
    assert (row["id"], row["company"], row["terms"]) == (lead_id, "Acme", "true")
    assert "Exported 1 lead." in result.stderr

    bad = runner.invoke(args=["leads", "export", "--form", "Bad_Slug"])
    assert bad.exit_code == 2 and "Traceback" not in bad.output
    assert "slug" in bad.output


def test_opt_in_columns_hold_the_state_in_both_shapes(make_app) -> None:
    app = make_app(**MAIL_SETTINGS)
    key = create_api_key(app)
    put_form(app, "news", DOI_FORM)
    pending = store_lead(app, key, 1, path="/f/news")["id"]
    confirmed = store_lead(app, key, 2, path="/f/news")["id"]
    plain = store_lead(app, key, 3)["id"]
    set_lead(app, confirmed, opt_in_status="confirmed", opt_in_confirmed_at=T0)
    client = app.test_client()
    every = {row["id"]: row for row in parse(export(client, key).data)}
    one_form = {
        row["id"]: row for row in parse(export(client, key, "?form=news").data, LEAD_HEADER)
    }
    assert set(one_form) == {pending, confirmed}
    for rows in (every, one_form):
        assert (rows[pending]["opt_in_status"], rows[pending]["opt_in_confirmed_at"]) == (
            "pending",
            "",
        )
        assert (rows[confirmed]["opt_in_status"], rows[confirmed]["opt_in_confirmed_at"]) == (
            "confirmed",
            "2026-03-01T12:00:00Z",
        )
    assert (every[plain]["opt_in_status"], every[plain]["opt_in_confirmed_at"]) == ("", "")
