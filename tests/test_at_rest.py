"""No plaintext personal data anywhere in the database's bytes."""

from __future__ import annotations

from pathlib import Path

from flask import Flask
from sqlalchemy import text

from leadapp.extensions import db
from tests.support.apps import build_app
from tests.support.client import post_lead

DISTINCTIVE = [
    {
        "name": "  Zebulon Quartzfeather ",
        "email": "Zebulon.Quartz@Xylophonic-Example.ORG",
        "phone": "+44 (20) 7946-0321",
        "ip": "198.51.100.173",
    },
    {
        "name": "Wilhelmina Übersprung",
        "email": "wilhelmina@überspring-test.de",
        "phone": "+1 (650) 253-0199",
        "ip": "2001:db8:abcd:12::77",
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
    }
    return {form for form in forms if len(form) >= 6}


def encodings(form: str) -> list[bytes]:
    """The byte sequences a database could hold a string as."""
    return [form.encode("utf-8"), form.encode("utf-16-le")]


def create_distinctive_leads(app: Flask) -> None:
    """Post the distinctive leads through the API (anonymous, from their IPs)."""
    client = app.test_client()
    for lead in DISTINCTIVE:
        body = {key: lead[key] for key in ("name", "email", "phone")}
        response = post_lead(client, body, ip=lead["ip"])
        assert response.status_code == 201, response.get_json()


def test_sqlite_file_and_wal_hold_no_plaintext(tmp_path: Path) -> None:
    path = tmp_path / "at-rest.sqlite3"
    app = build_app(f"sqlite:///{path}", TESTING=False)
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
    app = make_app()
    create_distinctive_leads(app)
    with app.app_context():
        rows = db.session.execute(text("SELECT * FROM leads")).all()
    dumped = repr(rows)
    assert len(rows) == len(DISTINCTIVE)
    for lead in DISTINCTIVE:
        for form in plaintext_forms(lead):
            assert form not in dumped
