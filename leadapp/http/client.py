"""Pipeline step 1: who is calling, i.e. the client's IP address and its rate-limit key.

The address is the connection's peer, except that `X-Forwarded-For` is honoured, through
`LEADAPP_TRUSTED_PROXIES` hops, when the peer is in `LEADAPP_TRUSTED_PROXY_NETWORKS`.
waitress is told not to touch the header (see server.py), so it is interpreted here only.
"""

from __future__ import annotations

import ipaddress
from collections.abc import Iterable
from typing import Any

from flask import Flask, g, request
from werkzeug.middleware.proxy_fix import ProxyFix

from leadapp.normalize import unwrap_ipv4_mapped

IPV6_RATE_LIMIT_PREFIX = 64
# Where client_address() keeps its answer for the rest of the request.
ADDRESS_KEY = "leadapp.client_address"
# The CGI names of every header a proxy uses to describe the original request.
FORWARDING_HEADERS = (
    "HTTP_X_FORWARDED_FOR",
    "HTTP_X_FORWARDED_PROTO",
    "HTTP_X_FORWARDED_HOST",
    "HTTP_X_FORWARDED_PORT",
    "HTTP_X_FORWARDED_PREFIX",
    "HTTP_FORWARDED",
)

Network = ipaddress.IPv4Network | ipaddress.IPv6Network
Address = ipaddress.IPv4Address | ipaddress.IPv6Address


def _peer(environ: dict[str, Any]) -> Address | None:
    """The connection's peer address, IPv4-mapped unwrapped, or None when it is not an IP."""
    try:
        return unwrap_ipv4_mapped(ipaddress.ip_address(environ.get("REMOTE_ADDR") or ""))
    except ValueError:
        return None


class TrustedProxies:
    """WSGI middleware: ProxyFix for connections from trusted networks, no proxy headers else.

    Stripping the headers on every other connection means nothing downstream can be
    fooled by them, whichever server runs the app.
    """

    def __init__(self, app: Any, networks: Iterable[Network], hops: int) -> None:
        self.app = app
        self.networks = tuple(networks)
        self.proxied = ProxyFix(app, x_for=hops, x_proto=hops) if hops > 0 else app

    def trusted(self, environ: dict[str, Any]) -> bool:
        """Whether the connection comes from a trusted proxy network."""
        peer = _peer(environ)
        return peer is not None and any(
            peer in network for network in self.networks if network.version == peer.version
        )

    def __call__(self, environ: dict[str, Any], start_response: Any) -> Any:
        """Route the request through ProxyFix or strip its forwarding headers."""
        if self.proxied is not self.app and self.trusted(environ):
            return self.proxied(environ, start_response)
        for name in FORWARDING_HEADERS:
            environ.pop(name, None)
        return self.app(environ, start_response)


def trusted_networks(value: Iterable[object]) -> tuple[Network, ...]:
    """The configured networks, accepting strings too (tests pass them as text)."""
    return tuple(ipaddress.ip_network(str(item), strict=False) for item in value)


def trust_proxies(app: Flask) -> None:
    """Install the trusted-proxy middleware around the app."""
    app.wsgi_app = TrustedProxies(  # type: ignore[method-assign]
        app.wsgi_app,
        trusted_networks(app.config["LEADAPP_TRUSTED_PROXY_NETWORKS"]),
        app.config["LEADAPP_TRUSTED_PROXIES"],
    )


def client_address() -> Address:
    """The client's address (the middleware has already applied trusted X-Forwarded-For).

    A trusted proxy that forwarded something other than an address is not believed: the
    connection's own peer is used instead. Parsed once per request (the blocklist, the
    authentication limit, the rate limit, the lead and the access log all ask).
    """
    environ = request.environ
    address = environ.get(ADDRESS_KEY)
    if address is None:
        try:
            address = unwrap_ipv4_mapped(ipaddress.ip_address(request.remote_addr or ""))
        except ValueError:
            address = _peer(environ.get("werkzeug.proxy_fix.orig", environ))
            address = address or ipaddress.IPv4Address(0)
        environ[ADDRESS_KEY] = address
    return address


def client_ip() -> str:
    """The client's address in compressed form, as stored on an anonymous lead."""
    return client_address().compressed


def client_ip_key() -> str:
    """The client's rate-limit identity: its IPv4 address, or its IPv6 /64."""
    address = client_address()
    if address.version == 6:
        network = ipaddress.IPv6Network((address, IPV6_RATE_LIMIT_PREFIX), strict=False)
        return f"ip:{network.compressed}"
    return f"ip:{address.compressed}"


def rate_limit_key() -> str:
    """Count API-key callers per key, anonymous IPv4 per address and IPv6 per /64."""
    api_key = g.get("api_key")
    if api_key is not None:
        return f"key:{api_key.id}"
    return client_ip_key()
