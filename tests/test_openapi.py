"""The OpenAPI document: valid, complete, and not contradicted by the live app (schemathesis)."""

from __future__ import annotations

import json
import re
import subprocess
import sys
import uuid
from pathlib import Path

import pytest
from flask import Flask
from openapi_spec_validator import validate

from leadapp.api.openapi import build_openapi, documented_methods, is_static_files, openapi_path
from leadapp.api.ops import API_VERSION
from leadapp.api.responses import ATTRIBUTE, UndeclaredView, declared
from tests.support.apps import create_api_key
from tests.support.client import bearer
from tests.support.observed import SUITE, Observations, check_suite
from tests.support.servers import ThreadedServer

# Schema-valid is not always acceptable: phone validity (numbering plans) and full email
# syntax can't be expressed in JSON Schema, so schemathesis's positive-data check would
# flag a well-formed but unassigned number. Every other check runs.
EXCLUDED_CHECKS = "positive_data_acceptance"


def test_document_is_valid_openapi(client) -> None:
    response = client.get("/openapi.json")
    assert response.status_code == 200
    document = response.get_json()
    validate(document)
    assert document["openapi"].startswith("3.")
    assert document["components"]["securitySchemes"]["bearer"]["scheme"] == "bearer"
    post = document["paths"]["/leads"]["post"]
    body_schema = post["requestBody"]["content"]["application/json"]["schema"]
    assert body_schema["$ref"].endswith("LeadCreate")
    statuses = {"201", "400", "401", "403", "409", "413", "415", "422", "429", "503"}
    assert set(post["responses"]) >= statuses


def test_every_route_is_documented(app: Flask, client) -> None:
    documented = set(client.get("/openapi.json").get_json()["paths"])
    routes = {
        re.sub(r"<(?:\w+:)?(\w+)>", r"{\1}", rule.rule)
        for rule in app.url_map.iter_rules()
        if not rule.endpoint.endswith("static")
    }
    assert routes == documented


def test_every_route_and_method_of_the_url_map_is_documented(app: Flask, client) -> None:
    paths = client.get("/openapi.json").get_json()["paths"]
    walked = 0
    for rule in app.url_map.iter_rules():
        if is_static_files(rule):
            continue
        for method in documented_methods(rule):
            walked += 1
            operation = paths.get(openapi_path(rule.rule), {}).get(method.lower())
            assert operation is not None, f"{method} {rule.rule} is not in the document"
            assert operation["responses"], f"{method} {rule.rule} documents no response"
    assert walked == sum(len(ops) - ("parameters" in ops) for ops in paths.values())


def test_keyed_views_document_the_pipeline_statuses_and_problems_their_fields(client) -> None:
    document = client.get("/openapi.json").get_json()
    listing = document["paths"]["/leads"]["get"]["responses"]
    assert {"200", "401", "403", "422", "429", "500", "503"} <= set(listing)
    assert "Retry-After" in listing["429"]["headers"]
    assert "errors_omitted" in document["components"]["schemas"]["Problem"]["properties"]


def test_the_suite_records_what_its_clients_see(client) -> None:
    assert client.get("/healthz").status_code == 200
    assert ("/healthz", "GET", 200) in SUITE.seen


def test_the_drift_check_fails_when_a_declared_status_is_removed(
    app: Flask, api_key: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    observations = Observations()
    with observations.recording():
        missing_lead = f"/leads/{uuid.uuid4()}"
        answer = app.test_client().get(missing_lead, headers=bearer(api_key))
    assert answer.status_code == 404
    assert ("/leads/<uuid:lead_id>", "GET", 404) in observations.seen
    assert check_suite(observations) == []
    # The same response read from a server process's access log is checked the same way.
    from_log = Observations()
    line = {"method": "GET", "path": missing_lead, "status": 404}
    from_log.read_access_log("2026-01-01 INFO leadapp.access " + json.dumps(line) + "\n")
    assert from_log.undocumented(app) == []

    view = app.view_functions["leads.get_lead"]
    monkeypatch.setattr(view, ATTRIBUTE, declared(view) - {404})
    expected = ["GET /leads/{lead_id} answered 404; the document lacks it"]
    assert observations.undocumented(app) == expected
    assert from_log.undocumented(app) == expected


def test_a_view_that_declares_nothing_cannot_be_documented(
    app: Flask, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delattr(app.view_functions["ops.healthz"], ATTRIBUTE)
    with pytest.raises(UndeclaredView, match="healthz"):
        build_openapi(app, API_VERSION)


def test_schemathesis_finds_no_5xx_and_no_contradiction(make_app, tmp_path: Path) -> None:
    app = make_app(
        LEADAPP_RATELIMIT_LEADS="100000 per minute",
        LEADAPP_RATELIMIT_INTEGRATIONS="100000 per minute",
    )
    key = create_api_key(app, "schemathesis")
    with ThreadedServer(app) as server:
        result = subprocess.run(
            [
                str(Path(sys.executable).with_name("schemathesis")),
                "run",
                f"http://127.0.0.1:{server.port}/openapi.json",
                "--checks",
                "all",
                "--exclude-checks",
                EXCLUDED_CHECKS,
                "--max-examples",
                "30",
                "--seed",
                "20261126",
                "--request-timeout",
                "10",
                "--header",
                f"Authorization: Bearer {key}",
            ],
            capture_output=True,
            text=True,
            timeout=300,
            cwd=tmp_path,
            check=False,
        )
    assert result.returncode == 0, result.stdout[-6000:] + result.stderr[-2000:]


def test_intake_fields_headers_and_endpoints_are_documented(client) -> None:
    document = client.get("/openapi.json").get_json()
    schemas = document["components"]["schemas"]
    create = schemas["LeadCreate"]["properties"]
    assert {"attribution", "consent", "challenge", "website"} <= create.keys()
    attribution = schemas["Attribution"]
    assert attribution["additionalProperties"] is False
    assert set(attribution["properties"]) == {
        "source",
        "utm_source",
        "utm_medium",
        "utm_campaign",
        "utm_term",
        "utm_content",
        "page_url",
        "referrer",
    }
    lead = schemas["Lead"]["properties"]
    assert {"attribution", "consent", "resubmissions", "last_resubmitted_at"} <= lead.keys()
    post = document["paths"]["/leads"]["post"]
    assert [p["name"] for p in post["parameters"]] == ["Idempotency-Key"]
    assert "Idempotency-Replayed" in post["responses"]["201"]["headers"]
    assert "idempotency-key-reused" in post["responses"]["422"]["description"]
    challenge = document["paths"]["/challenge"]["get"]["responses"]["200"]
    assert challenge["content"]["application/json"]["schema"]["$ref"].endswith("Challenge")
    assert set(schemas["Challenge"]["properties"]) == {
        "algorithm",
        "challenge",
        "maxnumber",
        "salt",
        "signature",
    }
    settings = document["paths"]["/form-settings"]["get"]["responses"]["200"]
    assert settings["content"]["application/json"]["schema"]["$ref"].endswith("FormSettings")
