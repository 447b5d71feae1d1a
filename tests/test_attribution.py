"""Attribution on POST /leads: strict validation by dotted path, storage, defaults, output."""

from __future__ import annotations

import json
import uuid

import pytest
from flask import Flask
from flask.testing import FlaskClient
from sqlalchemy import String, select, type_coerce

from leadapp.extensions import db
from leadapp.models import Lead
from tests.support.builders import lead_payload
from tests.support.client import bearer, post_lead

FULL = {
    "source": "  spring-landing ",
    "utm_source": "newsletter",
    "utm_medium": "email",
    "utm_campaign": "spring-sale",
    "utm_term": "ada@example.com",
    "utm_content": "banner-2",
    "page_url": "https://example.com/offer?utm_source=newsletter",
    "referrer": "http://news.example.org/",
}
EMPTY = dict.fromkeys(FULL)


def test_full_attribution_is_stored_trimmed_and_returned(client: FlaskClient, app: Flask) -> None:
    response = post_lead(client, lead_payload(attribution=FULL))
    assert response.status_code == 201, response.get_json()
    body = response.get_json()
    assert body["attribution"] == {**FULL, "source": "spring-landing"}
    with app.app_context():
        lead = db.session.get(Lead, uuid.UUID(body["id"]))
        assert lead.utm_campaign == "spring-sale"
        assert lead.page_url == FULL["page_url"]


def test_every_member_is_present_and_null_when_not_given(client: FlaskClient) -> None:
    body = post_lead(client, lead_payload()).get_json()
    assert body["attribution"] == EMPTY
    assert body["consent"] is None
    assert body["resubmissions"] == 0
    assert body["last_resubmitted_at"] is None


def test_empty_string_is_absent(client: FlaskClient) -> None:
    body = post_lead(client, lead_payload(attribution={"utm_source": "", "referrer": "  "}))
    assert body.status_code == 201
    assert body.get_json()["attribution"] == EMPTY


def test_api_key_name_is_the_default_source(client: FlaskClient, api_key: str) -> None:
    body = client.post("/leads", json=lead_payload(), headers=bearer(api_key)).get_json()
    assert body["attribution"]["source"] == "partner"
    given = client.post(
        "/leads", json=lead_payload(attribution={"source": "fair"}), headers=bearer(api_key)
    ).get_json()
    assert given["attribution"]["source"] == "fair"


def test_anonymous_callers_have_no_default_source(client: FlaskClient) -> None:
    assert post_lead(client, lead_payload()).get_json()["attribution"]["source"] is None


def test_encrypted_members_are_not_plaintext_in_the_row(client: FlaskClient, app: Flask) -> None:
    body = post_lead(client, lead_payload(attribution=FULL)).get_json()
    table = Lead.__table__
    with app.app_context(), db.engine.connect() as connection:
        raw = connection.execute(
            select(
                *(
                    type_coerce(table.c[name], String).label(name)
                    for name in ("utm_term", "utm_content", "page_url", "referrer", "utm_source")
                )
            ).where(table.c.id == uuid.UUID(body["id"]))
        ).one()
    for name in ("utm_term", "utm_content", "page_url", "referrer"):
        assert raw._mapping[name] != FULL[name]
        assert raw._mapping[name].startswith("gAAAAA")  # a Fernet token
    assert raw.utm_source == "newsletter"  # campaign level: plaintext, for statistics


@pytest.mark.parametrize(
    ("attribution", "path", "fragment"),
    [
        ({"page_url": "javascript:alert(1)"}, "attribution.page_url", "http or https"),
        ({"page_url": "JAVASCRIPT://example.com/%0aalert(1)"}, "attribution.page_url", "http"),
        ({"referrer": "data:text/html,<script>x</script>"}, "attribution.referrer", "http"),
        ({"referrer": "/relative/path"}, "attribution.referrer", "absolute"),
        ({"page_url": "https://"}, "attribution.page_url", "absolute"),
        ({"page_url": "https://exa mple.com/"}, "attribution.page_url", "spaces"),
        ({"page_url": "https://example.com:99999/"}, "attribution.page_url", "absolute"),
        ({"page_url": "ftp://example.com/file"}, "attribution.page_url", "http"),
        ({"page_url": "https://example.com/" + "a" * 2048}, "attribution.page_url", "2048"),
        ({"utm_source": "x" * 201}, "attribution.utm_source", "200"),
        ({"utm_term": "x" * 201}, "attribution.utm_term", "200"),
        ({"source": "s" * 101}, "attribution.source", "100"),
        ({"utm_medium": 5}, "attribution.utm_medium", "string"),
        ({"utm_campaign": ["a"]}, "attribution.utm_campaign", "string"),
        ({"utm_content": {"a": 1}}, "attribution.utm_content", "string"),
        ({"utm_source": None}, "attribution.utm_source", "null"),
        ({"utm_source": True}, "attribution.utm_source", "string"),
        ({"utm_source": "a\x00b"}, "attribution.utm_source", "control"),
        ({"gclid": "abc"}, "attribution.gclid", "Unknown"),
    ],
)
def test_hostile_attribution_is_422_by_dotted_path(
    client: FlaskClient, app: Flask, attribution: dict, path: str, fragment: str
) -> None:
    response = post_lead(client, lead_payload(attribution=attribution))
    assert response.status_code == 422, response.get_json()
    errors = response.get_json()["errors"]
    assert list(errors) == [path]
    assert fragment.lower() in " ".join(errors[path]).lower()
    with app.app_context():
        assert db.session.scalar(select(db.func.count()).select_from(Lead)) == 0


@pytest.mark.parametrize("attribution", [None, "utm_source=x", ["a"], 3])
def test_attribution_must_be_an_object(client: FlaskClient, attribution: object) -> None:
    response = post_lead(client, lead_payload(attribution=attribution))
    assert response.status_code == 422
    assert list(response.get_json()["errors"]) == ["attribution"]


def test_every_invalid_member_is_named_at_once(client: FlaskClient) -> None:
    response = post_lead(
        client,
        lead_payload(
            email="not-an-email",
            attribution={"page_url": "javascript:x", "referrer": 1, "nope": "x"},
        ),
    )
    assert set(response.get_json()["errors"]) == {
        "email",
        "attribution.page_url",
        "attribution.referrer",
        "attribution.nope",
    }


def test_longest_values_are_accepted_and_fit_the_columns(client: FlaskClient) -> None:
    longest = {
        "source": "é" * 100,
        "utm_source": "𝔘" * 200,
        "utm_term": "𝔘" * 200,
        "utm_content": "𝔘" * 200,
        "page_url": "https://example.com/" + "é" * 2028,
        "referrer": "https://example.com/?q=" + "𝔘" * 1000,
    }
    # Raw UTF-8, not \u escapes: the body limit (16 KiB) holds all of it then.
    response = client.post(
        "/leads",
        data=json.dumps(lead_payload(attribution=longest), ensure_ascii=False).encode(),
        content_type="application/json",
    )
    assert response.status_code == 201, response.get_json()
    assert response.get_json()["attribution"]["referrer"] == longest["referrer"]
