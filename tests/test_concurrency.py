"""Races against a real waitress server: exactly one of a set of conflicting leads wins."""

from __future__ import annotations

from collections import Counter
from concurrent.futures import ThreadPoolExecutor

import pytest
from flask import Flask
from sqlalchemy import func, select

from leadapp.extensions import db
from leadapp.models import Lead
from tests.support.builders import lead_payload
from tests.support.servers import ThreadedServer

PARALLEL = 40


def fire(server: ThreadedServer, requests: list[tuple[dict, str]]) -> Counter:
    """Send every (body, source ip) at once; count the statuses."""
    with ThreadPoolExecutor(max_workers=len(requests)) as pool:
        results = list(
            pool.map(
                lambda item: server.request("POST", "/leads", item[0], source_ip=item[1]), requests
            )
        )
    for answer in results:
        assert "x-request-id" in answer.headers
        if answer.status == 409:
            assert answer.body["errors"], answer.body
    return Counter(answer.status for answer in results)


def stored(app: Flask) -> int:
    """How many leads the database holds."""
    with app.app_context():
        return db.session.scalar(select(func.count()).select_from(Lead))


@pytest.fixture
def race_app(make_app) -> Flask:
    """An app whose anonymous limit does not interfere with the race."""
    return make_app(LEADAPP_RATELIMIT_LEADS="1000 per minute")


@pytest.mark.parametrize("conflict", ["email", "phone", "ip_address"])
def test_parallel_conflicting_leads_create_exactly_one(race_app: Flask, conflict: str) -> None:
    requests = []
    for n in range(PARALLEL):
        body = lead_payload(1000 + n)
        source_ip = f"127.0.{n // 200}.{n % 200 + 2}"
        if conflict == "email":
            body["email"] = "same.person@example.com" if n % 2 else "SAME.person@EXAMPLE.com"
        elif conflict == "phone":
            body["phone"] = "+44 20 7946 0958" if n % 2 else "+44 (20) 7946-0958"
        else:
            source_ip = "127.0.0.99"
        requests.append((body, source_ip))
    with ThreadedServer(race_app, threads=8) as server:
        statuses = fire(server, requests)
    assert statuses == Counter({201: 1, 409: PARALLEL - 1})
    assert stored(race_app) == 1


def test_parallel_distinct_leads_are_all_created(race_app: Flask) -> None:
    requests = [(lead_payload(2000 + n), f"127.0.1.{n + 2}") for n in range(PARALLEL)]
    with ThreadedServer(race_app, threads=8) as server:
        statuses = fire(server, requests)
    assert statuses == Counter({201: PARALLEL})
    assert stored(race_app) == PARALLEL
