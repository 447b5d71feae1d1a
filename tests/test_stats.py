"""GET /stats: UTC day boundaries, empty days as zeros, spam, sources ordering, days bounds."""

from __future__ import annotations

from datetime import UTC, date, datetime, time, timedelta

import pytest
from flask import Flask

from leadapp.services.stats import daily_stats
from leadapp.timeutil import utcnow
from tests.support.apps import create_api_key
from tests.support.client import bearer
from tests.support.operator_data import add_lead_at, add_spam


def today() -> date:
    """Today in UTC."""
    return utcnow().date()


def at(day: date, hour: int = 12, minute: int = 0, second: int = 0, micro: int = 0) -> datetime:
    """A UTC instant on a day."""
    return datetime.combine(day, time(hour, minute, second, micro), tzinfo=UTC)


def stats(client, key: str, query: str = ""):
    """GET /stats with the key."""
    return client.get("/stats" + query, headers=bearer(key))


def leads_groupings(app: Flask) -> list[str]:
    """The GROUP BY statements on leads the app runs from now on (filled as they run)."""
    from sqlalchemy import event

    from leadapp.extensions import db

    grouped: list[str] = []

    def count_groupings(_conn, _cursor, statement, *_args) -> None:
        if "GROUP BY" in statement and "FROM leads" in statement:
            grouped.append(statement)

    with app.app_context():
        event.listen(db.engine, "before_cursor_execute", count_groupings)
    return grouped


def test_default_is_30_days_oldest_first_today_last_zeros_included(client, api_key: str) -> None:
    body = stats(client, api_key).get_json()
    dates = [entry["date"] for entry in body["days"]]
    assert len(dates) == 30
    assert dates[-1] == today().isoformat()
    assert dates[0] == (today() - timedelta(days=29)).isoformat()
    assert dates == sorted(dates) and len(set(dates)) == 30
    assert all(entry["leads"] == 0 and entry["spam"] == 0 for entry in body["days"])
    assert body["sources"] == [] and body["total_leads"] == 0


def test_days_are_utc_days(app: Flask, client, api_key: str) -> None:
    yesterday = today() - timedelta(days=1)
    two_ago = today() - timedelta(days=2)
    add_lead_at(app, api_key, 1, at(two_ago, 23, 59, 59, 999999))
    add_lead_at(app, api_key, 2, at(yesterday, 0, 0))
    add_lead_at(app, api_key, 3, at(yesterday, 23, 59, 59, 999999))
    add_lead_at(app, api_key, 4, at(today(), 0, 0))
    # 00:30 at +02:00 is 22:30 UTC the day before: it counts for that day.
    add_lead_at(
        app,
        api_key,
        5,
        datetime.combine(yesterday, time(0, 30), tzinfo=UTC).astimezone(UTC) - timedelta(hours=2),
    )
    # Outside the window of 3 days.
    add_lead_at(app, api_key, 6, at(today() - timedelta(days=3), 23, 59, 59, 999999))
    body = stats(client, api_key, "?days=3").get_json()
    assert body["days"] == [
        {"date": two_ago.isoformat(), "leads": 2, "spam": 0},
        {"date": yesterday.isoformat(), "leads": 2, "spam": 0},
        {"date": today().isoformat(), "leads": 1, "spam": 0},
    ]
    assert body["total_leads"] == 5


def test_spam_per_day_adds_honeypot_and_challenge(app: Flask, client, api_key: str) -> None:
    add_spam(app, today(), "honeypot", 4)
    add_spam(app, today(), "challenge", 3)
    add_spam(app, today() - timedelta(days=1), "challenge", 1)
    add_spam(app, today() - timedelta(days=5), "honeypot", 9)  # outside the window
    body = stats(client, api_key, "?days=2").get_json()
    assert [entry["spam"] for entry in body["days"]] == [1, 7]
    assert body["total_leads"] == 0


def test_sources_fall_back_to_utm_source_most_first(app: Flask, client, api_key: str) -> None:
    when = at(today(), 1)
    specs = [
        {"source": "newsletter"},
        {"source": "newsletter", "utm_source": "google"},
        {"source": None, "utm_source": "newsletter"},
        {"source": None, "utm_source": "google"},
        {"source": None, "utm_source": "google"},
        {"source": "partner-a"},
        # Neither: an API-key caller's source defaults to the key's name, so clear it.
        {"source": None},
        {"source": None},
        {"source": "zeta"},
    ]
    for n, values in enumerate(specs):
        add_lead_at(app, api_key, n, when, **values)
    # An old lead's source is not among "those days".
    add_lead_at(app, api_key, 99, at(today() - timedelta(days=40)), source="old-campaign")
    body = stats(client, api_key, "?days=7").get_json()
    assert body["sources"] == [
        {"source": "newsletter", "leads": 3},
        {"source": "google", "leads": 2},
        {"source": None, "leads": 2},
        {"source": "partner-a", "leads": 1},
        {"source": "zeta", "leads": 1},
    ]
    assert body["total_leads"] == 9 == sum(entry["leads"] for entry in body["days"])


def test_full_window_of_366_days(app: Flask, client, api_key: str) -> None:
    add_lead_at(app, api_key, 1, at(today() - timedelta(days=365), 0, 0))
    add_lead_at(app, api_key, 2, at(today() - timedelta(days=366), 23))
    body = stats(client, api_key, "?days=366").get_json()
    assert len(body["days"]) == 366
    assert body["days"][0] == {
        "date": (today() - timedelta(days=365)).isoformat(),
        "leads": 1,
        "spam": 0,
    }
    assert body["total_leads"] == 1


def test_service_counts_from_a_given_today(app: Flask, api_key: str) -> None:
    # Pinning "today" shows the window moves with the UTC date, not with local time.
    add_lead_at(app, api_key, 1, datetime(2026, 1, 1, 0, 0, tzinfo=UTC))
    with app.app_context():
        result = daily_stats(2, today=date(2026, 1, 1))
    assert [(entry["date"], entry["leads"]) for entry in result["days"]] == [
        (date(2025, 12, 31), 0),
        (date(2026, 1, 1), 1),
    ]


@pytest.mark.parametrize(
    "query",
    [
        "?days=0",
        "?days=367",
        "?days=-1",
        "?days=%2B5",
        "?days=1_0",
        "?days=%D9%A5",
        "?days=%205%20",
        "?days=",
        "?days=5.0",
        "?days=1e2",
        "?days=9999999999999999999999",
        "?days=3&days=4",
        "?weeks=2",
    ],
)
def test_bad_days_are_422_problems(client, api_key: str, query: str) -> None:
    response = stats(client, api_key, query)
    assert response.status_code == 422, response.get_json()
    assert response.mimetype == "application/problem+json"
    assert response.get_json()["errors"]


def test_days_bounds_are_accepted(client, api_key: str) -> None:
    assert len(stats(client, api_key, "?days=1").get_json()["days"]) == 1
    assert len(stats(client, api_key, "?days=366").get_json()["days"]) == 366


def test_without_a_key_is_401(client) -> None:
    response = client.get("/stats")
    assert response.status_code == 401
    assert response.headers["WWW-Authenticate"].startswith("Bearer")


def test_statistics_never_decrypt_a_lead(app: Flask, client, api_key: str, monkeypatch) -> None:
    add_lead_at(app, api_key, 1, at(today()), source="ads")
    from leadapp import crypto

    def refuse(*_args, **_kwargs):
        raise AssertionError("GET /stats decrypted something")

    monkeypatch.setattr(crypto.Keyring, "decrypt", refuse)
    body = stats(client, api_key).get_json()
    assert body["total_leads"] == 1 and body["sources"] == [{"source": "ads", "leads": 1}]


def test_an_erasure_anywhere_is_counted_at_once(make_app) -> None:
    # Two apps on one database stand for two processes, each with its closed-days cache.
    app = make_app()
    other = make_app()
    key = create_api_key(app, "stats-erase")
    yesterday = today() - timedelta(days=1)
    old = add_lead_at(app, key, 1, at(yesterday, 8))
    add_lead_at(app, key, 2, at(yesterday, 9), source="ads")
    client = app.test_client()
    assert stats(client, key, "?days=2").get_json()["days"][0]["leads"] == 2
    assert stats(other.test_client(), key, "?days=2").get_json()["days"][0]["leads"] == 2

    assert other.test_client().delete(f"/leads/{old}", headers=bearer(key)).status_code == 204
    body = stats(client, key, "?days=2").get_json()
    assert body["days"][0]["leads"] == 1 and body["total_leads"] == 1
    assert body["sources"] == [{"source": "ads", "leads": 1}]


def test_closed_days_are_not_grouped_again(app: Flask, client, api_key: str) -> None:
    add_lead_at(app, api_key, 1, at(today() - timedelta(days=3)))
    grouped = leads_groupings(app)
    assert stats(client, api_key, "?days=30").get_json()["total_leads"] == 1
    first = len(grouped)
    assert stats(client, api_key, "?days=30").get_json()["total_leads"] == 1
    # The second answer grouped today's leads only.
    assert len(grouped) - first == 1
    assert first == 2


# --- Forms (v3): one form's figures, and the leads per form -------------------------------


def add_form_leads(app: Flask, key: str) -> None:
    """Leads of three forms over four days; one of them before a 3-day window."""
    yesterday = today() - timedelta(days=1)
    add_lead_at(app, key, 1, at(today()), form="spring", source="ads")
    add_lead_at(app, key, 2, at(yesterday), form="spring", source="mail")
    add_lead_at(app, key, 3, at(yesterday), form="autumn", source="ads")
    add_lead_at(app, key, 4, at(today()), form="autumn", source="ads")
    add_lead_at(app, key, 5, at(today()), source="ads")  # default
    add_lead_at(app, key, 6, at(today() - timedelta(days=3)), form="winter")  # outside


def test_one_forms_figures_with_every_forms_spam(app: Flask, client, api_key: str) -> None:
    add_form_leads(app, api_key)
    add_spam(app, today(), "honeypot", 2)
    body = stats(client, api_key, "?days=3&form=spring").get_json()
    assert [(entry["leads"], entry["spam"]) for entry in body["days"]] == [(0, 0), (1, 0), (1, 2)]
    assert body["sources"] == [{"source": "ads", "leads": 1}, {"source": "mail", "leads": 1}]
    assert body["total_leads"] == 2
    assert "forms" not in body


def test_without_form_the_leads_per_form_most_first_ties_by_slug(
    app: Flask, client, api_key: str
) -> None:
    add_form_leads(app, api_key)
    add_lead_at(app, api_key, 7, at(today()), form="autumn")
    body = stats(client, api_key, "?days=3").get_json()
    assert body["forms"] == [
        {"form": "autumn", "leads": 3},
        {"form": "spring", "leads": 2},
        {"form": "default", "leads": 1},
    ]
    assert body["total_leads"] == 6
    body = stats(client, api_key, "?days=4").get_json()
    assert body["forms"][-2:] == [{"form": "default", "leads": 1}, {"form": "winter", "leads": 1}]


def test_a_removed_or_unknown_form(app: Flask, client, api_key: str) -> None:
    admin = bearer(api_key)
    client.put("/forms/gone", json={}, headers=admin)
    add_lead_at(app, api_key, 1, at(today()), form="gone")
    assert client.delete("/forms/gone", headers=admin).status_code == 204
    assert stats(client, api_key, "?form=gone").get_json()["total_leads"] == 1
    # A slug no form ever had counts nothing, as GET /leads?form= lists nothing.
    body = stats(client, api_key, "?days=2&form=never").get_json()
    assert body["total_leads"] == 0 and body["sources"] == []
    assert [entry["leads"] for entry in body["days"]] == [0, 0]


@pytest.mark.parametrize("query", ["?form=Bad_Slug", "?form=", "?form=a&form=b"])
def test_a_malformed_form_is_422(client, api_key: str, query: str) -> None:
    response = stats(client, api_key, query)
    assert response.status_code == 422
    assert "form" in response.get_json()["errors"]


def test_cached_closed_days_answer_each_form_apart(app: Flask, client, api_key: str) -> None:
    three_ago = today() - timedelta(days=3)
    add_lead_at(app, api_key, 1, at(three_ago), form="spring")
    add_lead_at(app, api_key, 2, at(three_ago), form="spring")
    add_lead_at(app, api_key, 3, at(three_ago), form="autumn")
    grouped = leads_groupings(app)
    # One form first: the closed days it groups hold every form's counts.
    assert stats(client, api_key, "?days=7&form=autumn").get_json()["total_leads"] == 1
    first = len(grouped)
    assert stats(client, api_key, "?days=7&form=spring").get_json()["total_leads"] == 2
    body = stats(client, api_key, "?days=7").get_json()
    assert body["total_leads"] == 3
    assert body["forms"] == [{"form": "spring", "leads": 2}, {"form": "autumn", "leads": 1}]
    # Both later answers grouped today's leads only.
    assert len(grouped) - first == 2
