"""No response of the real server carries a Location built from a forged Host header."""

from __future__ import annotations

import socket

import pytest

from tests.support.servers import ThreadedServer

FORGED_HOST = "evil.example"


def raw_get(port: int, target: str) -> tuple[int, dict[str, str]]:
    """Send one GET with a forged Host header as bytes on the wire; status and headers."""
    with socket.create_connection(("127.0.0.1", port), timeout=10) as sock:
        sock.sendall(
            f"GET {target} HTTP/1.1\r\nHost: {FORGED_HOST}\r\nConnection: close\r\n\r\n".encode()
        )
        data = b""
        while chunk := sock.recv(65536):
            data += chunk
    head = data.split(b"\r\n\r\n", 1)[0].decode("latin-1").split("\r\n")
    headers = {}
    for line in head[1:]:
        name, _, value = line.partition(":")
        headers[name.strip().lower()] = value.strip()
    return int(head[0].split()[1]), headers


# Each of these made Werkzeug redirect to http://evil.example/... (empty path in an
# absolute-form or query-only target: the "trailing slash"; doubled slashes: merged).
TARGETS = [
    "http://other.example",
    "http://other.example?utm_source=x",
    "?utm_source=x",
    "/assets//form.js",
    "/leads//00000000-0000-0000-0000-000000000000",
    "/admin/",
    "/leads/",
]


@pytest.mark.parametrize("target", TARGETS)
def test_no_redirect_is_built_from_the_host_header(
    live_server: ThreadedServer, target: str
) -> None:
    status, headers = raw_get(live_server.port, target)
    assert not 300 <= status < 400, (status, headers)
    assert FORGED_HOST not in headers.get("location", "")


def test_the_form_is_served_for_an_empty_path(live_server: ThreadedServer) -> None:
    status, headers = raw_get(live_server.port, "?utm_source=newsletter")
    assert status == 200
    assert headers["content-type"].startswith("text/html")
