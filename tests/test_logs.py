"""Logs: one structured line per request, and no personal data, key or SQL parameter ever."""

from __future__ import annotations

import json
import logging

import pytest
from flask import Flask

from tests.support.apps import create_api_key
from tests.support.client import bearer

DISTINCT = {
    "name": "Quillon Marchbanks",
    "email": "quillon.marchbanks@logscan-example.net",
    "phone": "+44 20 7946 0777",
}
CLIENT_IP = "198.51.100.201"


def test_access_line_per_request(client, caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.INFO, logger="leadapp")
    client.get("/healthz", headers={"X-Request-ID": "req-log-1"})
    lines = [json.loads(r.getMessage()) for r in caplog.records if r.name == "leadapp.access"]
    assert len(lines) == 1
    line = lines[0]
    assert line["request_id"] == "req-log-1"
    assert (line["method"], line["path"], line["status"]) == ("GET", "/healthz", 200)
    assert line["duration_ms"] >= 0
    assert len(line["client"]) == 16 and "127.0.0.1" not in line["client"]


def test_no_personal_data_or_keys_in_any_log_line(
    make_app, caplog: pytest.LogCaptureFixture, monkeypatch: pytest.MonkeyPatch
) -> None:
    caplog.set_level(logging.DEBUG)
    app: Flask = make_app(LEADAPP_RATELIMIT_LEADS="100 per minute")
    client = app.test_client()
    key = create_api_key(app)
    env = {"REMOTE_ADDR": CLIENT_IP}
    # Each request must have run as intended, or "no secret in the logs" proves nothing.
    assert client.post("/leads", json=DISTINCT, environ_base=env).status_code == 201
    assert client.post("/leads", json=DISTINCT, environ_base=env).status_code == 409
    invalid = {**DISTINCT, "phone": "+1 555 CALL"}
    assert client.post("/leads", json=invalid, environ_base=env).status_code == 422
    wrong_key = bearer(key + "x")
    assert (
        client.post("/leads", json=DISTINCT, headers=wrong_key, environ_base=env).status_code == 401
    )
    found = client.get(f"/leads?email={DISTINCT['email']}", headers=bearer(key), environ_base=env)
    assert found.status_code == 200 and len(found.get_json()["items"]) == 1

    # An unexpected failure deep in the insert, carrying the SQL, must not leak either.
    from leadapp.services import leads

    def fail(*_args, **_kwargs):
        raise RuntimeError("boom")

    monkeypatch.setattr(leads, "_refuse_duplicate", fail)
    # A 500, after a real IntegrityError.
    assert client.post("/leads", json=DISTINCT, environ_base=env).status_code == 500

    text = caplog.text + "\n".join(str(r.exc_info) for r in caplog.records if r.exc_info)
    assert "leadapp.access" in caplog.text
    for secret in [
        DISTINCT["name"],
        DISTINCT["email"],
        "quillon",
        "Quillon",
        "+442079460777",
        "2079460777",
        "7946 0777",
        CLIENT_IP,
        key,
        key[4:20],
    ]:
        assert secret not in text, secret
