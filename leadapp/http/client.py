"""Pipeline step 1: who is calling, i.e. the client's IP address and its rate-limit key."""

from __future__ import annotations

import ipaddress

from flask import Flask, g, request
from werkzeug.middleware.proxy_fix import ProxyFix

from leadapp.normalize import unwrap_ipv4_mapped

IPV6_RATE_LIMIT_PREFIX = 64


def trust_proxies(app: Flask) -> None:
    """Honour X-Forwarded-For only through the configured number of proxies."""
    trusted = app.config["LEADAPP_TRUSTED_PROXIES"]
    if trusted > 0:
        app.wsgi_app = ProxyFix(app.wsgi_app, x_for=trusted, x_proto=trusted)  # type: ignore[method-assign]


def client_address() -> ipaddress.IPv4Address | ipaddress.IPv6Address:
    """The connection's address (ProxyFix has already applied trusted X-Forwarded-For)."""
    return unwrap_ipv4_mapped(ipaddress.ip_address(request.remote_addr or "0.0.0.0"))  # noqa: S104


def client_ip() -> str:
    """The client's address in compressed form, as stored on an anonymous lead."""
    return client_address().compressed


def rate_limit_key() -> str:
    """Count API-key callers per key, anonymous IPv4 per address and IPv6 per /64."""
    api_key = g.get("api_key")
    if api_key is not None:
        return f"key:{api_key.id}"
    address = client_address()
    if address.version == 6:
        network = ipaddress.IPv6Network((address, IPV6_RATE_LIMIT_PREFIX), strict=False)
        return f"ip:{network.compressed}"
    return f"ip:{address.compressed}"
