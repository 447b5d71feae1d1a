"""Forms through the real server (`python -m leadapp.server`, as `make run` serves it).

Per-form CORS, a form change reaching another process within 10 seconds, and the races
the database decides (one lead per IP, or not, and duplicates across forms).
"""

from __future__ import annotations

import time
from collections import Counter
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

import pytest

from tests.support.builders import lead_payload
from tests.support.client import Answer, bearer
from tests.support.deployment import served
from tests.support.processes import flask_command
from tests.support.servers import LeadAppServer

pytestmark = pytest.mark.slow

SITE = "https://site.example"  # LEADAPP_CORS_ORIGINS: every form's
SHOP = "https://shop.example"  # the form `shop`'s
BLOG = "https://blog.example:8443"  # the form `blog`'s
HOME = "http://home.example"  # the form `default`'s
EVIL = "https://evil.example"
# A change made in another process must be in force within this long (contract, Forms).
PROPAGATION_SECONDS = 10.0
RACERS = 30
COMPANY = {"name": "company", "label": "Company", "type": "text", "required": True}


class Site:
    """One real server and an admin key for it."""

    def __init__(self, server: LeadAppServer) -> None:
        self.server = server
        key = flask_command(server.env, "apikeys", "create", "partner").stdout.split()[-1]
        self.admin = bearer(key)

    def put_form(self, slug: str, document: dict[str, Any]) -> Answer:
        """PUT a form document through this server's admin API."""
        answer = self.server.request("PUT", f"/forms/{slug}", document, headers=self.admin)
        assert answer.status in (200, 201), answer.body
        return answer


def preflight(server: LeadAppServer, path: str, origin: str, method: str = "POST") -> Answer:
    """A browser's preflight for a JSON request to `path` from a page on `origin`."""
    return server.request(
        "OPTIONS",
        path,
        headers={
            "Origin": origin,
            "Access-Control-Request-Method": method,
            "Access-Control-Request-Headers": "content-type",
        },
    )


def allowed(answer: Answer) -> str | None:
    """The origin an answer allows; None only when it has no Access-Control-Allow-* at all."""
    origin = answer.headers.get("access-control-allow-origin")
    if origin is None:
        assert not [name for name in answer.headers if name.startswith("access-control-allow")]
    return origin


def varies_by_origin(answer: Answer) -> bool:
    """Whether the answer says it depends on the Origin header."""
    return "origin" in answer.headers.get("vary", "").lower()


@pytest.fixture(scope="module")
def site(tmp_path_factory: pytest.TempPathFactory, test_keys: dict[str, str]) -> Iterator[Site]:
    """One server with a site-wide origin and three forms, each with origins of its own."""
    tmp_path = tmp_path_factory.mktemp("forms-cors")
    settings = {"LEADAPP_CORS_ORIGINS": SITE, "LEADAPP_RATELIMIT_LEADS": "1000 per minute"}
    with served(tmp_path, test_keys, **settings) as (server,):
        site = Site(server)
        site.put_form("default", {"origins": [HOME]})
        site.put_form("shop", {"origins": [SHOP], "one_lead_per_ip": False})
        site.put_form("blog", {"origins": [BLOG], "one_lead_per_ip": False})
        yield site


# --- Per-form CORS -------------------------------------------------------------------------

# (path, the method a page uses, the origins allowed, some origins refused)
CASES = [
    ("/f/shop", "POST", [SHOP, SITE], [BLOG, HOME, EVIL]),
    ("/f/shop/settings", "GET", [SHOP, SITE], [BLOG, HOME, EVIL]),
    ("/f/blog", "POST", [BLOG, SITE], [SHOP, "https://blog.example", EVIL]),
    ("/challenge", "GET", [SHOP, BLOG, HOME, SITE], [EVIL, "null", "https://shop.example.evil"]),
    ("/leads", "POST", [HOME, SITE], [SHOP, BLOG, EVIL]),
    ("/form-settings", "GET", [HOME, SITE], [SHOP, BLOG, EVIL]),
]


@pytest.mark.parametrize(("path", "method", "good", "bad"), CASES)
def test_each_endpoint_allows_its_forms_origins_and_the_site_wide_ones(
    site: Site, path: str, method: str, good: list[str], bad: list[str]
) -> None:
    server = site.server
    for origin in good:
        answer = preflight(server, path, origin, method)
        assert answer.status in (200, 204), (path, origin)
        assert allowed(answer) == origin, (path, origin)
        assert answer.headers["access-control-allow-methods"] == method
        assert "Content-Type" in answer.headers["access-control-allow-headers"]
        assert varies_by_origin(answer), (path, origin)
    for origin in bad:
        answer = preflight(server, path, origin, method)
        assert allowed(answer) is None, (path, origin)
        assert varies_by_origin(answer), (path, origin)


def post_from(server: LeadAppServer, path: str, body: Any, ip: str, origin: str) -> Answer:
    """POST a lead from a client address, as a page on `origin` would."""
    return server.request("POST", path, body, source_ip=ip, headers={"Origin": origin})


def test_the_request_itself_carries_the_origin(site: Site) -> None:
    server = site.server
    for n, (path, origin) in enumerate([("/f/shop", SHOP), ("/f/blog", SITE), ("/leads", HOME)]):
        answer = post_from(server, path, lead_payload(7100 + n), f"127.0.9.{n + 1}", origin)
        assert answer.status == 201, answer.body
        assert allowed(answer) == origin and varies_by_origin(answer)
        assert "Location" in answer.headers["access-control-expose-headers"]
        other = post_from(server, path, lead_payload(7200 + n), f"127.0.9.{n + 11}", EVIL)
        assert other.status == 201 and allowed(other) is None and varies_by_origin(other)
    reads = [("/f/shop/settings", SITE), ("/challenge", BLOG), ("/form-settings", HOME)]
    for path, origin in reads:
        answer = server.request("GET", path, headers={"Origin": origin})
        assert answer.status == 200 and allowed(answer) == origin, path
        assert allowed(server.request("GET", path, headers={"Origin": EVIL})) is None, path


def test_an_unknown_form_gets_no_cors_at_all(site: Site) -> None:
    server = site.server
    for path, method in [("/f/nowhere", "POST"), ("/f/nowhere/settings", "GET")]:
        answer = preflight(server, path, SITE, method)
        assert not [name for name in answer.headers if name.startswith("access-control-")]
        assert not varies_by_origin(answer)
    post = server.request("POST", "/f/nowhere", lead_payload(7300), headers={"Origin": SITE})
    assert post.status == 404 and allowed(post) is None
    settings = server.request("GET", "/f/nowhere/settings", headers={"Origin": SITE})
    assert settings.status == 404 and allowed(settings) is None


def test_admin_endpoints_stay_closed_to_every_origin(site: Site) -> None:
    for path in ["/forms", "/forms/shop", "/leads"]:
        for origin in [SITE, SHOP]:
            answer = site.server.request("GET", path, headers={"Origin": origin, **site.admin})
            assert answer.status == 200 and allowed(answer) is None, (path, origin)


def test_a_change_is_in_force_at_once_in_the_process_that_made_it(site: Site) -> None:
    server = site.server
    site.put_form("temp", {"origins": ["https://temp.example"]})
    assert allowed(preflight(server, "/f/temp", "https://temp.example")) == "https://temp.example"
    assert allowed(preflight(server, "/challenge", "https://temp.example", "GET"))
    site.put_form("temp", {"origins": ["https://later.example"]})
    assert allowed(preflight(server, "/f/temp", "https://temp.example")) is None
    assert allowed(preflight(server, "/challenge", "https://temp.example", "GET")) is None
    assert allowed(preflight(server, "/challenge", "https://later.example", "GET"))
    assert server.request("DELETE", "/forms/temp", headers=site.admin).status == 204
    gone = preflight(server, "/f/temp", "https://later.example")
    assert not [name for name in gone.headers if name.startswith("access-control-")]
    assert allowed(preflight(server, "/challenge", "https://later.example", "GET")) is None


# --- A change reaches every other process ------------------------------------------------


def test_a_form_change_reaches_another_process_within_ten_seconds(
    tmp_path: Path, test_keys: dict[str, str]
) -> None:
    old, new = "https://old.example", "https://new.example"
    with served(tmp_path, test_keys, count=2) as (first, second):
        site = Site(first)
        site.put_form("promo", {"origins": [old]})
        # B caches the old form and the old union of origins before the change.
        assert second.request("GET", "/f/promo/settings").body["fields"] == []
        assert allowed(preflight(second, "/f/promo", old)) == old
        assert allowed(preflight(second, "/challenge", old, "GET")) == old

        site.put_form("promo", {"origins": [new], "fields": [COMPANY]})
        changed_at = time.monotonic()
        # A: at once.
        fields = first.request("GET", "/f/promo/settings").body["fields"]
        assert [field["name"] for field in fields] == ["company"]
        assert allowed(preflight(first, "/f/promo", new)) == new
        assert allowed(preflight(first, "/f/promo", old)) is None

        # B: polled until every view of the form is the new one, within the deadline.
        def in_force() -> bool:
            return (
                len(second.request("GET", "/f/promo/settings").body["fields"]) == 1
                and allowed(preflight(second, "/f/promo", new)) == new
                and allowed(preflight(second, "/f/promo", old)) is None
                and allowed(preflight(second, "/challenge", new, "GET")) == new
                and allowed(preflight(second, "/challenge", old, "GET")) is None
            )

        deadline = changed_at + PROPAGATION_SECONDS + 2
        while not in_force() and time.monotonic() < deadline:
            time.sleep(0.1)
        elapsed = time.monotonic() - changed_at
        assert in_force(), f"not in force in the other process after {elapsed:.1f} s"
        assert elapsed < PROPAGATION_SECONDS, f"in force after {elapsed:.1f} s"
        # B's intake applies the new fields too.
        refused = second.request("POST", "/f/promo", lead_payload(7400))
        assert refused.status == 422 and "fields.company" in refused.body["errors"]


# --- Races, decided by the database --------------------------------------------------------


def race(server: LeadAppServer, requests: list[tuple[str, dict[str, Any]]]) -> Counter:
    """Send every (path, body) at once from one client address; count the statuses."""
    with ThreadPoolExecutor(len(requests)) as pool:
        answers = list(
            pool.map(
                lambda item: server.request("POST", item[0], item[1], source_ip="127.0.8.8"),
                requests,
            )
        )
    for answer in answers:
        assert answer.status in (201, 409), answer.body
    return Counter(answer.status for answer in answers)


def test_races_through_the_real_server(site: Site) -> None:
    server = site.server
    site.put_form("strict", {"one_lead_per_ip": True})
    # One address, a form that keeps the rule: exactly one lead.
    strict = race(server, [("/f/strict", lead_payload(8000 + n)) for n in range(RACERS)])
    assert strict == Counter({201: 1, 409: RACERS - 1})
    # One address, a form exempt from it: every lead.
    shop = race(server, [("/f/shop", lead_payload(8100 + n)) for n in range(RACERS)])
    assert shop == Counter({201: RACERS})
    # One email at once to two forms (both exempt from the IP rule): duplicates are global.
    same = [
        (("/f/shop", "/f/blog")[n % 2], lead_payload(8200 + n, email="racer@example.com"))
        for n in range(RACERS)
    ]
    assert race(server, same) == Counter({201: 1, 409: RACERS - 1})
