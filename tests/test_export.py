"""The CSV export: columns, order, range, formula injection, audit, auth, bad parameters."""

from __future__ import annotations

import csv
import io
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from flask import Flask

from leadapp.services.export import COLUMNS, defuse
from tests.support.apps import create_api_key
from tests.support.client import bearer, store_lead
from tests.support.operator_data import add_lead_at, audit_events, set_lead
from tests.support.servers import ThreadedServer

HEADER = (
    "id,created_at,name,email,phone,ip_address,source,utm_source,utm_medium,utm_campaign,"
    "utm_term,utm_content,page_url,referrer,consent_given_at,consent_text,resubmissions,"
    "last_resubmitted_at"
)
T0 = datetime(2026, 3, 1, 12, 0, tzinfo=UTC)


def parse(body: bytes) -> list[dict[str, str]]:
    """The CSV as dicts, after checking it is UTF-8 with the contract's exact header row."""
    text = body.decode("utf-8")
    assert text.split("\r\n", 1)[0] == HEADER
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
