"""Forms (contract v3): the document's rules, the admin API, leads of a form and their fields."""

from __future__ import annotations

import json
from collections import Counter
from concurrent.futures import ThreadPoolExecutor

import pytest
from flask import Flask
from sqlalchemy import select

from leadapp.extensions import db
from leadapp.models import AuditEvent, Lead
from tests.support.apps import create_api_key
from tests.support.builders import lead_payload
from tests.support.client import bearer
from tests.support.forms import GOOD_VALUES, ONE_OF_EACH, post, put
from tests.support.servers import ThreadedServer


@pytest.fixture
def admin(app: Flask) -> dict[str, str]:
    """The Authorization header of a fresh API key."""
    return bearer(create_api_key(app))


# --- The document ------------------------------------------------------------------------


def test_put_creates_then_replaces_with_defaults(app: Flask, admin: dict) -> None:
    created = put(app, admin, "spring", {"title": "Spring sale"})
    assert created.status_code == 201
    body = created.get_json()
    assert body["slug"] == "spring" and body["title"] == "Spring sale"
    assert body["fields"] == [] and body["one_lead_per_ip"] is True and body["leads"] == 0
    replaced = put(app, admin, "spring", {**body, "title": "Spring"})
    assert replaced.status_code == 200, replaced.get_json()
    assert replaced.get_json()["created_at"] == body["created_at"]
    assert put(app, admin, "plain", {}).get_json()["title"] == "plain"
    listed = app.test_client().get("/forms", headers=admin).get_json()["items"]
    assert [form["slug"] for form in listed] == ["default", "plain", "spring"]


@pytest.mark.parametrize(
    ("document", "path"),
    [
        (
            {"fields": [{"name": f"f{n}", "label": "L", "type": "text"} for n in range(21)]},
            "fields",
        ),
        ({"fields": [{"name": "email", "label": "L", "type": "text"}]}, "fields.0.name"),
        ({"fields": [{"name": "utm_x", "label": "L", "type": "text"}]}, "fields.0.name"),
        (
            {"fields": [{"name": "a", "label": "L", "type": "text"}] * 2},
            "fields.1.name",
        ),
        (
            {"fields": [{"name": "a", "label": "L", "type": "text", "options": ["x"]}]},
            "fields.0.options",
        ),
        ({"fields": [{"name": "a", "label": "L", "type": "select"}]}, "fields.0.options"),
        (
            {"fields": [{"name": "a", "label": "L", "type": "select", "options": ["x", "x"]}]},
            "fields.0.options",
        ),
        (
            {"fields": [{"name": "a", "label": "L", "type": "number", "min": 5, "max": 1}]},
            "fields.0.min",
        ),
        ({"fields": [{"name": "a", "label": "L", "type": "color"}]}, "fields.0.type"),
        ({"fields": [{"name": "a", "type": "text"}]}, "fields.0.label"),
        ({"origins": ["https://example.com/path"]}, "origins.0"),
        ({"origins": ["https://example.com/"]}, "origins.0"),
        ({"origins": ["ftp://example.com"]}, "origins.0"),
        ({"origins": ["https://example.com", "https://Shop.example"]}, "origins.1"),
        ({"labels": {"submit": ""}}, "labels.submit"),
        ({"labels": {"colour": "x"}}, "labels.colour"),
        ({"notify": ["not an address"]}, "notify.0"),
        ({"success_url": "javascript:alert(1)"}, "success_url"),
        ({"title": "a\x00b"}, "title"),
        ({"colour": "red"}, "colour"),
        ({"slug": "other"}, "slug"),
        ({"leads": 7}, "leads"),
        ({"challenge": "yes"}, "challenge"),
        ({"notify": ["ops@example.com"]}, "notify"),
        ({"autoresponder": {"subject": "Hi", "body": "Thanks"}}, "autoresponder"),
        ({"double_opt_in": True}, "double_opt_in"),
    ],
)
def test_a_bad_document_is_422_by_dotted_path(
    app: Flask, admin: dict, document: dict, path: str
) -> None:
    response = put(app, admin, "campaign", document)
    assert response.status_code == 422, response.get_json()
    assert path in response.get_json()["errors"], response.get_json()
    assert app.test_client().get("/forms/campaign", headers=admin).status_code == 404


def test_mail_members_need_mail_settings(make_app) -> None:
    app = make_app(LEADAPP_SMTP_URL="smtp://mail.example", LEADAPP_MAIL_FROM="a@example.com")
    admin = bearer(create_api_key(app))
    ok = put(app, admin, "mailed", {"notify": ["ops@example.com"], "autoresponder": None})
    assert ok.status_code == 201, ok.get_json()
    refused = put(app, admin, "optin", {"double_opt_in": True})
    assert "LEADAPP_PUBLIC_URL" in refused.get_json()["errors"]["double_opt_in"][0]


def test_hostile_documents_are_never_500(app: Flask, admin: dict) -> None:
    client = app.test_client()
    huge_number = (
        '{"fields": [{"name": "a", "label": "L", "type": "number", "min": ' + "9" * 5000 + "}]}"
    )
    response = client.put(
        "/forms/x", data=huge_number, content_type="application/json", headers=admin
    )
    assert response.status_code == 400
    big = json.dumps({"title": "t", "consent_text": "x" * (65 * 1024)})
    assert (
        client.put("/forms/x", data=big, content_type="application/json", headers=admin).status_code
        == 413
    )
    # Between 16 and 64 KiB is taken (then judged by the rules).
    medium = json.dumps({"title": "t", "consent_text": "x" * (30 * 1024)})
    answer = client.put("/forms/x", data=medium, content_type="application/json", headers=admin)
    assert answer.status_code == 422 and "consent_text" in answer.get_json()["errors"]
    assert client.put("/forms/Bad_Slug", json={}, headers=admin).get_json()["errors"]["slug"]
    assert client.put("/forms/x", data="title=x", headers=admin).status_code == 415


def test_remove_keeps_leads_and_is_audited(app: Flask, admin: dict) -> None:
    put(app, admin, "gone", {})
    lead = post(app, "gone", lead_payload(1)).get_json()
    client = app.test_client()
    assert client.delete("/forms/default", headers=admin).status_code == 409
    assert client.delete("/forms/gone", headers=admin).status_code == 204
    assert client.delete("/forms/gone", headers=admin).status_code == 404
    assert post(app, "gone", lead_payload(2)).status_code == 404
    assert client.get("/f/gone/settings").status_code == 404
    assert client.get(f"/leads/{lead['id']}", headers=admin).get_json()["form"] == "gone"
    assert put(app, admin, "gone", {}).status_code == 201  # created anew
    with app.app_context():
        actions = list(db.session.scalars(select(AuditEvent.action).order_by(AuditEvent.id)))
    assert [a for a in actions if a.startswith("form.")] == [
        "form.put",
        "form.remove",
        "form.put",
    ]


# --- Leads of a form ---------------------------------------------------------------------


def test_custom_fields_of_each_type_are_stored_and_returned(app: Flask, admin: dict) -> None:
    put(app, admin, "full", {"fields": ONE_OF_EACH})
    response = post(app, "full", {**lead_payload(1), "fields": GOOD_VALUES})
    assert response.status_code == 201, response.get_json()
    lead = response.get_json()
    assert lead["form"] == "full" and lead["opt_in"] is None
    assert lead["fields"] == {**GOOD_VALUES, "company": "Acme", "plan": "pro"}
    read = app.test_client().get(f"/leads/{lead['id']}", headers=admin).get_json()
    assert read["fields"] == lead["fields"]
    items = app.test_client().get("/leads", headers=admin).get_json()["items"]
    assert items[0]["fields"] == lead["fields"]
    plain = app.test_client().post(
        "/leads", json=lead_payload(2), environ_base={"REMOTE_ADDR": "198.51.100.2"}
    )
    assert plain.get_json()["form"] == "default" and plain.get_json()["fields"] == {}


@pytest.mark.parametrize(
    ("values", "path"),
    [
        ({"company": ""}, "fields.company"),
        ({"company": "a\tb"}, "fields.company"),
        ({"message": "x" * 51}, "fields.message"),
        ({"budget": "5000"}, "fields.budget"),
        ({"budget": -1}, "fields.budget"),
        ({"budget": 1.23456789012345678}, "fields.budget"),
        ({"start": "2026-02-30"}, "fields.start"),
        ({"start": "28/02/2026"}, "fields.start"),
        ({"plan": "gold"}, "fields.plan"),
        ({"terms": False}, "fields.terms"),
        ({"terms": "true"}, "fields.terms"),
        ({"site": "javascript:alert(1)"}, "fields.site"),
        ({"site": "https://x.example/" + "a" * 2048}, "fields.site"),
        ({"unknown": 1}, "fields.unknown"),
    ],
)
def test_bad_custom_values_are_422(app: Flask, admin: dict, values: dict, path: str) -> None:
    put(app, admin, "full", {"fields": ONE_OF_EACH})
    response = post(app, "full", {**lead_payload(1), "fields": {**GOOD_VALUES, **values}})
    assert response.status_code == 422, response.get_json()
    assert path in response.get_json()["errors"]


def test_fields_must_be_an_object_and_unknown_forms_are_404(app: Flask, admin: dict) -> None:
    put(app, admin, "full", {"fields": ONE_OF_EACH})
    assert "fields" in post(app, "full", {**lead_payload(1), "fields": []}).get_json()["errors"]
    assert post(app, "nope", lead_payload(2)).status_code == 404
    assert post(app, "Bad_Slug", lead_payload(2)).status_code == 404
    # Form-encoded is the no-JavaScript path (tests/test_hosted_page.py): an HTML page.
    urlencoded = app.test_client().post("/f/full", data={"name": "x"})
    assert urlencoded.status_code == 422 and urlencoded.mimetype == "text/html"
    # A 5,000-digit number is refused by the strict parser: 400, never 500.
    huge = (
        '{"name": "a", "email": "a@example.com", "phone": "+442079460000", "fields": {"budget": '
        + "9" * 5000
        + "}}"
    )
    answer = app.test_client().post("/f/full", data=huge, content_type="application/json")
    assert answer.status_code == 400


def test_one_lead_per_ip_off_takes_leads_from_one_address(app: Flask, admin: dict) -> None:
    put(app, admin, "office", {"one_lead_per_ip": False})
    put(app, admin, "strict", {})
    ip = "198.51.100.50"
    assert post(app, "office", lead_payload(1), ip=ip).status_code == 201
    assert post(app, "office", lead_payload(2), ip=ip).status_code == 201
    # The exempt leads hold no IP: a form that keeps the rule takes one lead from it...
    assert post(app, "strict", lead_payload(3), ip=ip).status_code == 201
    # ... and then refuses the next, on any form that keeps the rule.
    refused = post(app, "default", lead_payload(4), ip=ip)
    assert refused.status_code == 409 and list(refused.get_json()["errors"]) == ["ip_address"]
    assert post(app, "office", lead_payload(5), ip=ip).status_code == 201


def test_email_and_phone_duplicates_are_global(app: Flask, admin: dict) -> None:
    put(app, admin, "office", {"one_lead_per_ip": False})
    assert post(app, "default", lead_payload(1), ip="198.51.100.1").status_code == 201
    again = post(app, "office", lead_payload(1), ip="198.51.100.2")
    assert again.status_code == 409
    assert set(again.get_json()["errors"]) == {"email", "phone"}


def test_form_consent_and_challenge_are_in_force(app: Flask, admin: dict) -> None:
    put(app, admin, "gdpr", {"consent_text": "I agree.", "challenge": True})
    settings = app.test_client().get("/f/gdpr/settings").get_json()
    assert settings["consent_text"] == "I agree." and settings["challenge"] is True
    refused = post(app, "gdpr", lead_payload(1))
    assert {"consent", "challenge"} <= set(refused.get_json()["errors"])
    keyed = post(app, "gdpr", {**lead_payload(2), "consent": True}, headers=admin)
    assert keyed.status_code == 201
    assert keyed.get_json()["consent"]["text"] == "I agree."


def test_idempotency_body_includes_the_form(app: Flask, admin: dict) -> None:
    put(app, admin, "other", {"one_lead_per_ip": False})
    key = {"Idempotency-Key": "k-1", **admin}
    assert post(app, "default", lead_payload(1), headers=key).status_code == 201
    assert post(app, "other", lead_payload(1), headers=key).status_code == 422


def test_honeypot_decoy_looks_like_a_lead_of_the_form(app: Flask, admin: dict) -> None:
    put(app, admin, "full", {"fields": ONE_OF_EACH})
    decoy = post(app, "full", {**lead_payload(1), "website": "x", "fields": GOOD_VALUES})
    assert decoy.status_code == 201
    body = decoy.get_json()
    assert body["form"] == "full" and body["opt_in"] is None and body["fields"]["company"] == "Acme"
    with app.app_context():
        assert db.session.scalar(select(Lead.id)) is None


def test_one_lead_per_ip_holds_under_a_race(make_app) -> None:
    app = make_app(LEADAPP_RATELIMIT_LEADS="1000 per minute")
    admin = bearer(create_api_key(app))
    put(app, admin, "strict", {"one_lead_per_ip": True})
    bodies = [lead_payload(3000 + n) for n in range(24)]
    with ThreadedServer(app, threads=8) as server, ThreadPoolExecutor(len(bodies)) as pool:
        answers = list(
            pool.map(
                lambda body: server.request("POST", "/f/strict", body, source_ip="127.0.0.77"),
                bodies,
            )
        )
    assert Counter(answer.status for answer in answers) == Counter({201: 1, 409: 23})
