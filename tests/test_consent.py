"""Consent as evidence: required with a configured text, stored once per text, immutable."""

from __future__ import annotations

from collections.abc import Callable

import pytest
from flask import Flask
from sqlalchemy import func, select

from leadapp.extensions import db
from leadapp.models import ConsentText, Lead
from tests.support.apps import create_api_key
from tests.support.builders import lead_payload
from tests.support.client import bearer, post_lead

TEXT = "I agree that Example Ltd may contact me about my enquiry."


def count(app: Flask, model: type) -> int:
    """Rows of one model."""
    with app.app_context():
        return db.session.scalar(select(func.count()).select_from(model))


@pytest.mark.parametrize("consent", ["missing", False, "true", 1, None])
def test_configured_text_requires_consent_true(
    make_app: Callable[..., Flask], consent: object
) -> None:
    app = make_app(LEADAPP_CONSENT_TEXT=TEXT)
    body = lead_payload() if consent == "missing" else lead_payload(consent=consent)
    response = post_lead(app.test_client(), body)
    assert response.status_code == 422
    assert list(response.get_json()["errors"]) == ["consent"]
    assert count(app, Lead) == 0


def test_api_key_callers_need_consent_too(make_app: Callable[..., Flask]) -> None:
    app = make_app(LEADAPP_CONSENT_TEXT=TEXT)
    key = create_api_key(app)
    response = app.test_client().post("/leads", json=lead_payload(), headers=bearer(key))
    assert response.status_code == 422
    assert "consent" in response.get_json()["errors"]


def test_consent_is_stored_with_the_text_in_force(make_app: Callable[..., Flask]) -> None:
    app = make_app(LEADAPP_CONSENT_TEXT=TEXT)
    response = post_lead(app.test_client(), lead_payload(consent=True))
    assert response.status_code == 201
    lead = response.get_json()
    assert lead["consent"] == {"given_at": lead["created_at"], "text": TEXT}


def test_each_distinct_text_is_stored_once_and_old_leads_keep_theirs(
    make_app: Callable[..., Flask],
) -> None:
    first = make_app(LEADAPP_CONSENT_TEXT=TEXT)
    a = post_lead(first.test_client(), lead_payload(consent=True), ip="203.0.113.1").get_json()
    b = post_lead(first.test_client(), lead_payload(consent=True), ip="203.0.113.2").get_json()
    # A second process with the same text finds the stored one.
    again = make_app(LEADAPP_CONSENT_TEXT=TEXT)
    post_lead(again.test_client(), lead_payload(consent=True), ip="203.0.113.3")
    assert count(first, ConsentText) == 1
    # The operator changes the wording: new leads carry the new text, old ones the old.
    changed = make_app(LEADAPP_CONSENT_TEXT="New wording.")
    c = post_lead(changed.test_client(), lead_payload(consent=True), ip="203.0.113.4").get_json()
    assert c["consent"]["text"] == "New wording."
    key = create_api_key(changed, "reader")
    client = changed.test_client()
    for old in (a, b):
        stored = client.get(f"/leads/{old['id']}", headers=bearer(key)).get_json()
        assert stored["consent"] == {"given_at": old["created_at"], "text": TEXT}
    assert count(changed, ConsentText) == 2


def test_without_a_text_consent_is_optional_and_recorded_without_one(app: Flask) -> None:
    client = app.test_client()
    assert post_lead(client, lead_payload(), ip="203.0.113.5").get_json()["consent"] is None
    declined = post_lead(client, lead_payload(consent=False), ip="203.0.113.6").get_json()
    assert declined["consent"] is None
    given = post_lead(client, lead_payload(consent=True), ip="203.0.113.7").get_json()
    assert given["consent"] == {"given_at": given["created_at"], "text": None}
    assert post_lead(client, lead_payload(consent="yes"), ip="203.0.113.8").status_code == 422


def test_form_settings_report_the_text(make_app: Callable[..., Flask]) -> None:
    app = make_app(LEADAPP_CONSENT_TEXT=TEXT)
    response = app.test_client().get("/form-settings")
    assert response.status_code == 200
    # v3: the default form's settings gain slug, title, labels and fields beside these.
    body = response.get_json()
    assert {name: body[name] for name in ("challenge", "consent_text")} == {
        "challenge": False,
        "consent_text": TEXT,
    }
    plain = make_app().test_client().get("/form-settings").get_json()
    assert {name: plain[name] for name in ("challenge", "consent_text")} == {
        "challenge": False,
        "consent_text": None,
    }
