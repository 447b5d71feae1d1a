"""X-Forwarded-For is ignored unless LEADAPP_TRUSTED_PROXIES says how many proxies to trust."""

from __future__ import annotations

from tests.support.builders import lead_payload
from tests.support.client import post_lead


def forwarded_for(address: str) -> dict[str, str]:
    """An X-Forwarded-For header claiming `address` (a spoof, or a trusted proxy's report)."""
    return {"X-Forwarded-For": address}


def test_spoofed_header_changes_nothing_by_default(make_app) -> None:
    app = make_app(LEADAPP_CACHE_SECONDS=0)
    ip = "203.0.113.1"
    first = post_lead(app, lead_payload(1), ip=ip, headers=forwarded_for("198.51.100.1"))
    assert first.status_code == 201
    assert first.get_json()["ip_address"] == "203.0.113.1"
    # A new spoofed address does not escape the one-lead-per-IP rule...
    second = post_lead(app, lead_payload(2), ip=ip, headers=forwarded_for("198.51.100.2"))
    assert second.status_code == 409
    # ...nor the rate limit (3 more attempts + 1 = the sixth)...
    statuses = [
        post_lead(app, lead_payload(n), ip=ip, headers=forwarded_for(f"198.51.100.{n}")).status_code
        for n in range(3, 7)
    ]
    assert statuses == [409, 409, 409, 429]
    # ...nor the blocklist.
    app.test_cli_runner().invoke(args=["blocklist", "add", "203.0.113.9"])
    blocked = post_lead(
        app, lead_payload(9), ip="203.0.113.9", headers=forwarded_for("198.51.100.9")
    )
    assert blocked.status_code == 403


def test_one_trusted_proxy_uses_the_address_it_appended(make_app) -> None:
    proxied = make_app(LEADAPP_TRUSTED_PROXIES=1)
    # The client tried to spoof 6.6.6.6; the proxy appended the real address last.
    response = post_lead(
        proxied, lead_payload(1), ip="10.0.0.2", headers=forwarded_for("6.6.6.6, 198.51.100.23")
    )
    assert response.status_code == 201
    assert response.get_json()["ip_address"] == "198.51.100.23"
