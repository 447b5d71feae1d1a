"""X-Forwarded-For is ignored unless LEADAPP_TRUSTED_PROXIES says how many proxies to trust."""

from __future__ import annotations

from flask import Flask

from tests.factories import lead_payload


def post(app: Flask, n: int, remote: str, forwarded: str | None):
    """POST a lead from `remote`, optionally claiming another address in X-Forwarded-For."""
    headers = {"X-Forwarded-For": forwarded} if forwarded else {}
    return app.test_client().post(
        "/leads", json=lead_payload(n), headers=headers, environ_base={"REMOTE_ADDR": remote}
    )


def test_spoofed_header_changes_nothing_by_default(make_app) -> None:
    app = make_app(LEADAPP_CACHE_SECONDS=0)
    first = post(app, 1, "203.0.113.1", "198.51.100.1")
    assert first.status_code == 201
    assert first.get_json()["ip_address"] == "203.0.113.1"
    # A new spoofed address does not escape the one-lead-per-IP rule...
    assert post(app, 2, "203.0.113.1", "198.51.100.2").status_code == 409
    # ...nor the rate limit (3 more attempts + 1 = the sixth)...
    statuses = [post(app, n, "203.0.113.1", f"198.51.100.{n}").status_code for n in range(3, 7)]
    assert statuses == [409, 409, 409, 429]
    # ...nor the blocklist.
    app.test_cli_runner().invoke(args=["blocklist", "add", "203.0.113.9"])
    assert post(app, 9, "203.0.113.9", "198.51.100.9").status_code == 403


def test_one_trusted_proxy_uses_the_address_it_appended(make_app) -> None:
    proxied = make_app(LEADAPP_TRUSTED_PROXIES=1)
    # The client tried to spoof 6.6.6.6; the proxy appended the real address last.
    response = post(proxied, 1, "10.0.0.2", "6.6.6.6, 198.51.100.23")
    assert response.status_code == 201
    assert response.get_json()["ip_address"] == "198.51.100.23"
