"""X-Forwarded-For counts only through LEADAPP_TRUSTED_PROXIES hops, from trusted networks.

Each rule is checked through Flask's test client and against the real server
(`python -m leadapp.server`, i.e. waitress as `make run` serves it), because waitress
handles proxy headers itself and the two used to disagree.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.support.builders import lead_payload
from tests.support.client import post_lead
from tests.support.deployment import served
from tests.support.processes import flask_command
from tests.support.waiting import wait_until


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
    proxied = make_app(LEADAPP_TRUSTED_PROXIES=1, LEADAPP_TRUSTED_PROXY_NETWORKS=["10.0.0.0/8"])
    # The client tried to spoof 6.6.6.6; the proxy appended the real address last.
    response = post_lead(
        proxied, lead_payload(1), ip="10.0.0.2", headers=forwarded_for("6.6.6.6, 198.51.100.23")
    )
    assert response.status_code == 201
    assert response.get_json()["ip_address"] == "198.51.100.23"


def test_a_peer_outside_the_trusted_networks_is_its_own_address(make_app) -> None:
    proxied = make_app(LEADAPP_TRUSTED_PROXIES=1)  # default networks: loopback only
    response = post_lead(
        proxied, lead_payload(1), ip="203.0.113.50", headers=forwarded_for("198.51.100.24")
    )
    assert response.status_code == 201
    assert response.get_json()["ip_address"] == "203.0.113.50"


def test_a_trusted_proxy_forwarding_garbage_is_not_believed(make_app) -> None:
    proxied = make_app(LEADAPP_TRUSTED_PROXIES=1)
    response = post_lead(
        proxied, lead_payload(1), ip="127.0.0.1", headers=forwarded_for("not-an-address")
    )
    assert response.status_code == 201
    assert response.get_json()["ip_address"] == "127.0.0.1"


# --- the real server ---------------------------------------------------------------------


def real_post(server, n: int, source_ip: str, forwarded: str | None = None):
    """POST a lead to a real server from a loopback source, maybe with X-Forwarded-For."""
    headers = {"X-Forwarded-For": forwarded} if forwarded else {}
    return server.request("POST", "/leads", lead_payload(n), source_ip=source_ip, headers=headers)


def stored_ip(server, n: int, source_ip: str, forwarded: str | None = None) -> str:
    """POST as real_post does, check the lead is stored (201) and return its ip_address."""
    answer = real_post(server, n, source_ip, forwarded)
    assert answer.status == 201, answer.body
    return answer.body["ip_address"]


@pytest.mark.slow
def test_real_server_behind_one_proxy_sees_each_visitor(
    tmp_path: Path, test_keys: dict[str, str]
) -> None:
    """The field topology: a proxy on loopback, LEADAPP_TRUSTED_PROXIES=1, `make run`."""
    with served(tmp_path, test_keys, LEADAPP_TRUSTED_PROXIES="1") as (server,):
        first = stored_ip(server, 1, "127.0.0.1", "198.51.100.1")
        second = stored_ip(server, 2, "127.0.0.1", "198.51.100.2")
        assert [first, second] == ["198.51.100.1", "198.51.100.2"]
        # The same visitor again is an IP duplicate, whatever it put in front itself.
        again = real_post(server, 3, "127.0.0.1", "6.6.6.6, 198.51.100.1")
        assert again.status == 409 and "ip_address" in again.body["errors"]
        # Two hops claimed by a client through one trusted proxy: only the last counts.
        assert stored_ip(server, 4, "127.0.0.1", "198.51.100.1, 198.51.100.3") == "198.51.100.3"


@pytest.mark.slow
def test_real_server_ignores_the_header_from_untrusted_peers_and_by_default(
    tmp_path: Path, test_keys: dict[str, str]
) -> None:
    with served(
        tmp_path,
        test_keys,
        LEADAPP_TRUSTED_PROXIES="1",
        LEADAPP_TRUSTED_PROXY_NETWORKS="127.0.0.2/32",
    ) as (server,):
        # From 127.0.0.3 (not a trusted proxy) the header is the client's own claim.
        assert stored_ip(server, 1, "127.0.0.3", "198.51.100.9") == "127.0.0.3"
        assert real_post(server, 2, "127.0.0.3", "198.51.100.10").status == 409
        # From the trusted proxy it is honoured.
        assert stored_ip(server, 3, "127.0.0.2", "198.51.100.11") == "198.51.100.11"


@pytest.mark.slow
def test_real_server_without_trusted_proxies_ignores_the_header(
    tmp_path: Path, test_keys: dict[str, str]
) -> None:
    with served(tmp_path, test_keys) as (server,):
        assert stored_ip(server, 1, "127.0.0.5", "198.51.100.12") == "127.0.0.5"
        assert real_post(server, 2, "127.0.0.5", "198.51.100.13").status == 409
        statuses = [
            real_post(server, n, "127.0.0.5", f"198.51.100.{n}").status for n in range(3, 7)
        ]
        assert statuses == [409, 409, 409, 429]


@pytest.mark.slow
def test_real_server_limits_and_blocks_the_forwarded_address(
    tmp_path: Path, test_keys: dict[str, str]
) -> None:
    """Per-IP limit, IPv6 /64 limit and the blocklist apply to the address the proxy gave."""
    with served(tmp_path, test_keys, LEADAPP_TRUSTED_PROXIES="1") as (server,):
        # Five posts per minute per IPv4 visitor, the sixth is 429; another visitor is fine.
        statuses = [real_post(server, n, "127.0.0.1", "198.51.100.30").status for n in range(6)]
        assert statuses == [201, 409, 409, 409, 409, 429]
        assert real_post(server, 6, "127.0.0.1", "198.51.100.31").status == 201
        # IPv6 visitors are counted per /64: six different addresses of one /64 share it.
        v6 = [real_post(server, 10 + n, "127.0.0.1", f"2001:db8:1:2::{n + 1}") for n in range(6)]
        assert [answer.status for answer in v6] == [201, 201, 201, 201, 201, 429]
        assert real_post(server, 20, "127.0.0.1", "2001:db8:1:3::1").status == 201
        # The blocklist refuses the forwarded address, not the proxy.
        flask_command(server.env, "blocklist", "add", "198.51.100.40")
        forwarded = {"X-Forwarded-For": "198.51.100.40"}
        wait_until(
            lambda: server.request("GET", "/healthz", headers=forwarded).status == 403,
            timeout=10,
            what="the blocklist change (cached up to 5 s)",
        )
        blocked = real_post(server, 21, "127.0.0.1", "198.51.100.40")
        assert blocked.status == 403 and blocked.is_problem
        assert real_post(server, 22, "127.0.0.1", "198.51.100.41").status == 201
