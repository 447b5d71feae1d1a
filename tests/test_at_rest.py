"""No plaintext personal data anywhere in the database's bytes."""

from __future__ import annotations

import os
import subprocess
from pathlib import Path

from flask import Flask
from sqlalchemy import text

from leadapp.extensions import db
from tests.support.apps import build_app, create_api_key, dispose_app, put_form
from tests.support.builders import lead_payload
from tests.support.client import bearer, post_lead
from tests.support.postgres import empty_tables
from tests.support.services import require_service

DISTINCTIVE = [
    {
        "name": "  Zebulon Quartzfeather ",
        "email": "Zebulon.Quartz@Xylophonic-Example.ORG",
        "phone": "+44 (20) 7946-0321",
        "ip": "198.51.100.173",
        "attribution": {
            "utm_source": "newsletter",
            "utm_term": "quartzfeather-term-7731",
            "utm_content": "xylo-banner-variant-22",
            "page_url": "https://landing.example/offer?ref=QuartzLanding991",
            "referrer": "https://search.example/?q=feathered+quartz+8812",
        },
        "idempotency_key": "idem-ZebulonKey-4417",
    },
    {
        "name": "Wilhelmina Übersprung",
        "email": "wilhelmina@überspring-test.de",
        "phone": "+1 (650) 253-0199",
        "ip": "2001:db8:abcd:12::77",
        "attribution": {
            "utm_term": "übersprung-suchwort-51",
            "page_url": "https://seite.example/anfrage/Wilhelmina-Landing-6620",
        },
        "idempotency_key": "idem-WilhelminaKey-0093",
    },
]


def plaintext_forms(lead: dict[str, str]) -> set[str]:
    """Every way a value could appear: as given, trimmed, normalized, lower-cased, E.164, bare."""
    email = lead["email"]
    local, _, domain = email.rpartition("@")
    phone_digits = "".join(c for c in lead["phone"] if c.isdigit())
    forms = {
        lead["name"],
        lead["name"].strip(),
        email,
        email.lower(),
        f"{local}@{domain.lower()}",
        domain.lower().encode("idna").decode("ascii"),
        local,
        local.lower(),
        lead["phone"],
        "+" + phone_digits,
        phone_digits,
        phone_digits[-10:],
        lead["ip"],
        lead["idempotency_key"],
    }
    # Campaign-level members (source, utm_source, ...) may be plaintext; these may not.
    for name in ("utm_term", "utm_content", "page_url", "referrer"):
        if name in lead["attribution"]:
            forms.add(lead["attribution"][name])
    return {form for form in forms if len(form) >= 6}


def encodings(form: str) -> list[bytes]:
    """The byte sequences a database could hold a string as."""
    return [form.encode("utf-8"), form.encode("utf-16-le")]


# Mail settings, so the default form can notify and answer: each lead then queues mail
# rows holding its email as a recipient, which must be encrypted too (no mail is sent here).
MAIL = {"LEADAPP_SMTP_URL": "smtp://127.0.0.1:9", "LEADAPP_MAIL_FROM": "leads@example.org"}


def create_distinctive_leads(app: Flask) -> None:
    """Post the distinctive leads through the API (anonymous, from their IPs), each mailed."""
    put_form(
        app,
        "default",
        {"notify": ["owner@example.org"], "autoresponder": {"subject": "Hi", "body": "Thanks"}},
    )
    client = app.test_client()
    for lead in DISTINCTIVE:
        body = {key: lead[key] for key in ("name", "email", "phone", "attribution")}
        response = post_lead(
            client, body, ip=lead["ip"], headers={"Idempotency-Key": lead["idempotency_key"]}
        )
        assert response.status_code == 201, response.get_json()


def test_sqlite_file_and_wal_hold_no_plaintext(tmp_path: Path) -> None:
    path = tmp_path / "at-rest.sqlite3"
    app = build_app(f"sqlite:///{path}", TESTING=False, **MAIL)
    create_distinctive_leads(app)
    files = [p for p in (path, path.with_name(path.name + "-wal")) if p.exists()]
    assert path.with_name(path.name + "-wal").exists(), "WAL mode should be on"
    raw = b"".join(p.read_bytes() for p in files)
    assert len(raw) > 0
    for lead in DISTINCTIVE:
        for form in plaintext_forms(lead):
            for encoded in encodings(form):
                assert encoded not in raw, f"plaintext {form!r} found in the database file"


def test_no_column_of_any_row_holds_plaintext(make_app) -> None:
    app = make_app(**MAIL)
    create_distinctive_leads(app)
    with app.app_context():
        rows = db.session.execute(text("SELECT * FROM leads")).all()
        mails = db.session.execute(text("SELECT * FROM mails")).all()
        queued = db.session.execute(text("SELECT * FROM outbox WHERE channel = 'mail'")).all()
    # A row per autoresponse; a notification lives in its outbox row alone.
    assert len(mails) == len(DISTINCTIVE)
    assert len(queued) == 2 * len(DISTINCTIVE)
    dumped = repr(rows) + repr(mails) + repr(queued)
    assert len(rows) == len(DISTINCTIVE)
    for lead in DISTINCTIVE:
        for form in plaintext_forms(lead):
            assert form not in dumped


def test_pg_dump_holds_no_plaintext(postgres_schema: str) -> None:
    database_url = postgres_schema
    empty_tables(database_url)
    bindir = os.environ.get("LEADAPP_TEST_PG_BINDIR", "/usr/lib/postgresql/15/bin")
    pg_dump = Path(bindir) / "pg_dump"
    if not os.access(pg_dump, os.X_OK):
        require_service("pg_dump", f"{pg_dump} is not executable")
    app = build_app(database_url, **MAIL)
    create_distinctive_leads(app)
    dispose_app(app)
    dump = subprocess.run(
        [str(pg_dump), "--data-only", database_url.replace("postgresql+psycopg", "postgresql")],
        capture_output=True,
        check=True,
        timeout=120,
    ).stdout
    assert b"COPY public.leads" in dump
    assert b"newsletter" in dump  # campaign level is plaintext, so the dump is readable
    for lead in DISTINCTIVE:
        for form in plaintext_forms(lead):
            for encoded in encodings(form):
                assert encoded not in dump, f"plaintext {form!r} found in pg_dump"


CUSTOM_VALUES = {"company": "Quartzfeather Holdings 3391", "message": "Secret plan Xylo-7720"}


def test_custom_values_are_not_plaintext_in_the_file(tmp_path: Path) -> None:
    path = tmp_path / "custom.sqlite3"
    app = build_app(f"sqlite:///{path}", TESTING=False)
    admin = bearer(create_api_key(app))
    client = app.test_client()
    fields = [
        {"name": "company", "label": "Company", "type": "text"},
        {"name": "message", "label": "Message", "type": "textarea"},
    ]
    assert client.put("/forms/rest", json={"fields": fields}, headers=admin).status_code == 201
    body = {**lead_payload(1), "fields": CUSTOM_VALUES}
    assert client.post("/f/rest", json=body).status_code == 201
    raw = b"".join(p.read_bytes() for p in (path, path.with_name(path.name + "-wal")) if p.exists())
    for value in CUSTOM_VALUES.values():
        for encoded in encodings(value):
            assert encoded not in raw, f"plaintext custom value {value!r} in the database file"
