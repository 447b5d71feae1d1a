"""The one HTTP client of the tests: real requests over loopback, and Flask test-client posts."""

from __future__ import annotations

import http.client
import json
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any

from flask import Flask
from flask.testing import FlaskClient
from werkzeug.test import TestResponse

PROBLEM_JSON = "application/problem+json"
# The address anonymous test-client requests come from unless a test says otherwise.
DEFAULT_CLIENT_IP = "203.0.113.1"


@dataclass
class Answer:
    """One HTTP response: status, lower-cased headers and the parsed JSON body (or None)."""

    status: int
    headers: dict[str, str]
    body: Any

    @property
    def is_problem(self) -> bool:
        """Whether the body is an RFC 9457 problem document whose status matches."""
        return (
            self.headers.get("content-type", "").startswith(PROBLEM_JSON)
            and isinstance(self.body, dict)
            and self.body.get("status") == self.status
        )

    def retry_after(self) -> int | None:
        """The Retry-After header in seconds, or None when absent."""
        value = self.headers.get("retry-after")
        return int(value) if value is not None else None


def http_request(
    port: int,
    method: str,
    path: str,
    body: Any = None,
    *,
    source_ip: str = "127.0.0.1",
    headers: Mapping[str, str] | None = None,
    timeout: float = 30.0,
    before_send: Callable[[], None] | None = None,
) -> Answer:
    """Send one request from a loopback source address; `before_send` runs once connected."""
    connection = http.client.HTTPConnection(
        "127.0.0.1", port, timeout=timeout, source_address=(source_ip, 0)
    )
    try:
        connection.connect()
        if before_send is not None:
            before_send()
        payload = json.dumps(body).encode() if body is not None else None
        all_headers = {"Content-Type": "application/json", **(headers or {})}
        connection.request(method, path, body=payload, headers=all_headers)
        response = connection.getresponse()
        raw = response.read()
        try:
            data = json.loads(raw) if raw else None
        except ValueError:
            data = raw.decode("utf-8", "replace")
        return Answer(response.status, {k.lower(): v for k, v in response.getheaders()}, data)
    finally:
        connection.close()


def post_lead(
    client: FlaskClient | Flask,
    body: object,
    *,
    ip: str = DEFAULT_CLIENT_IP,
    headers: Mapping[str, str] | None = None,
    path: str = "/leads",
    **kwargs: Any,
) -> TestResponse:
    """POST a body to /leads (or `path`, e.g. /f/<slug>) through Flask's test client.

    From a client address. A dict or list is sent as JSON; bytes or str are sent as they
    are, so a test can send malformed JSON. Other keyword arguments (content_type, ...) go
    to the test client.
    """
    if isinstance(client, Flask):
        client = client.test_client()
    kwargs.setdefault("content_type", "application/json")
    data = body if isinstance(body, (bytes, str)) else json.dumps(body)
    return client.post(
        path, data=data, headers=dict(headers or {}), environ_base={"REMOTE_ADDR": ip}, **kwargs
    )


def bearer(key: str) -> dict[str, str]:
    """The Authorization header for a key."""
    return {"Authorization": f"Bearer {key}"}


def store_lead(
    app: Flask, key: str, n: int | None = None, *, path: str = "/leads", **overrides: Any
) -> dict[str, Any]:
    """Create lead n through POST /leads (or `path`: /f/<slug>) with an API key (no IP
    address); return its body."""
    from tests.support.builders import lead_payload

    response = post_lead(app, lead_payload(n, **overrides), headers=bearer(key), path=path)
    assert response.status_code == 201, response.get_json()
    return response.get_json()
