"""deploy/nginx-https.conf and the systemd units: TLS in front of a real LeadApp server.

nginx runs as a private instance (tests/test_nginx.py's) with the shipped HTTPS site, only its
ports, certificate paths and log path rewritten, and a self-signed certificate made here. In
Chromium the form is opened by host name (not 127.0.0.1, which a browser treats as secure
even over plain HTTP), so its proof of work runs only because the site redirected it to HTTPS.
"""

from __future__ import annotations

import http.client
import os
import re
import shutil
import ssl
import subprocess
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

from tests.support.browser import CHROMIUM, CHROMIUM_ARGS, TIMEOUT_MS, expect, fill_form
from tests.support.builders import phone_for
from tests.support.certificates import self_signed
from tests.support.client import http_request
from tests.support.deployment import served
from tests.support.processes import REPO_ROOT
from tests.support.servers import LeadAppServer
from tests.support.services import require_service
from tests.support.waiting import free_port, wait_until
from tests.test_nginx import PrivateNginx, nginx_binary, private_paths

pytestmark = pytest.mark.slow

DEPLOY = REPO_ROOT / "deploy"
HOST = "leads.example.com"
UNITS = ("leadapp.service", "leadapp-worker.service")


def https_site_for_test(
    base: Path, http_port: int, https_port: int, app_port: int, cert: Path, key: Path
) -> str:
    """The shipped HTTPS site on loopback ports with the test's certificate."""
    text = private_paths((DEPLOY / "nginx-https.conf").read_text(encoding="utf-8"), base, app_port)
    replacements = [
        (r"\n *listen \[::\]:\d+( ssl)?;", ""),
        (r"listen 80;", f"listen 127.0.0.1:{http_port};"),
        (r"listen 443 ssl;", f"listen 127.0.0.1:{https_port} ssl;"),
        (r"https://\$host\$request_uri", f"https://$host:{https_port}$request_uri"),
        (r"ssl_certificate /\S+;", f"ssl_certificate {cert};"),
        (r"ssl_certificate_key /\S+;", f"ssl_certificate_key {key};"),
    ]
    for pattern, replacement in replacements:
        text, count = re.subn(pattern, replacement, text)
        assert count >= 1, f"deploy/nginx-https.conf no longer has {pattern!r}"
    return text


@dataclass
class HttpsSite:
    """nginx with the HTTPS site in front of a LeadApp server."""

    nginx: PrivateNginx
    server: LeadAppServer
    http_port: int
    https_port: int
    cert: Path

    def https(self, method: str, path: str, **headers: str) -> http.client.HTTPResponse:
        """One request over TLS, checking the certificate against the test's own."""
        context = ssl.create_default_context(cafile=str(self.cert))
        connection = http.client.HTTPSConnection(
            "127.0.0.1", self.https_port, context=context, timeout=10
        )
        connection.request(method, path, headers=headers)
        response = connection.getresponse()
        response.read()
        connection.close()
        return response


@pytest.fixture
def https_site(tmp_path: Path, test_keys: dict[str, str]) -> Iterator[HttpsSite]:
    """A LeadApp server (challenge on, behind one proxy) with the HTTPS site in front."""
    require_service("nginx", None if nginx_binary() else "nginx is not installed")
    settings = {"LEADAPP_TRUSTED_PROXIES": "1", "LEADAPP_CHALLENGE": "on"}
    with served(tmp_path, test_keys, **settings) as (server,):
        base = tmp_path / "nginx"
        base.mkdir()
        cert, key = self_signed(base, HOST)
        http_port, https_port = free_port(), free_port()
        text = https_site_for_test(base, http_port, https_port, server.port, cert, key)
        nginx = PrivateNginx(base, server.port, site=text)
        site = HttpsSite(nginx, server, http_port, https_port, cert)

        def answers() -> bool:
            try:
                return site.https("GET", "/healthz").status == 200
            except OSError:
                return False

        try:
            nginx.start(answers)
            yield site
        finally:
            nginx.stop()


def test_http_redirects_to_https(https_site: HttpsSite) -> None:
    answer = http_request(https_site.http_port, "GET", "/admin?x=1", headers={"Host": HOST})
    assert answer.status == 301
    assert answer.headers["location"] == f"https://{HOST}:{https_site.https_port}/admin?x=1"


def test_https_proxies_with_hsts_and_the_request_id(https_site: HttpsSite) -> None:
    response = https_site.https("GET", "/healthz", **{"X-Request-ID": "tls-trace-7"})
    assert response.status == 200
    assert response.getheader("Strict-Transport-Security") == "max-age=63072000"
    assert response.getheader("X-Request-ID") == "tls-trace-7"
    wait_until(
        lambda: '"request_id": "tls-trace-7"' in https_site.server.log(), timeout=5, what="app"
    )
    wait_until(
        lambda: "request_id=tls-trace-7" in https_site.nginx.access_log(), timeout=5, what="nginx"
    )
    # A refusal by the app keeps HSTS too (`always`).
    assert https_site.https("GET", "/leads").getheader("Strict-Transport-Security")


def test_the_form_solves_its_challenge_behind_https(https_site: HttpsSite) -> None:
    if not os.access(CHROMIUM, os.X_OK):
        require_service("Chromium", f"{CHROMIUM} is not installed")
    from playwright.sync_api import sync_playwright

    args = [*CHROMIUM_ARGS, f"--host-resolver-rules=MAP {HOST} 127.0.0.1"]
    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=CHROMIUM, args=args)
        try:
            context = browser.new_context(ignore_https_errors=True)
            context.set_default_timeout(TIMEOUT_MS)
            page = context.new_page()
            errors: list[Any] = []
            page.on("pageerror", lambda error: errors.append(error))
            page.goto(f"http://{HOST}:{https_site.http_port}/")
            assert page.url.startswith(f"https://{HOST}:{https_site.https_port}/")
            assert page.evaluate("() => window.isSecureContext") is True
            page.wait_for_load_state("networkidle")
            fill_form(page, "Grace Hopper", "grace@example.com", phone_for(45))
            with page.expect_response(lambda r: r.url.endswith("/leads"), timeout=60_000) as info:
                page.get_by_role("button", name="Send my details").click()
            assert info.value.status == 201
            expect(page.locator("#lead-success")).to_be_visible(timeout=60_000)
            assert errors == []
        finally:
            browser.close()


def test_the_systemd_units_verify(tmp_path: Path) -> None:
    analyze = shutil.which("systemd-analyze")
    if analyze is None:
        pytest.skip("systemd-analyze is not installed (no systemd on this machine)")
    for name in UNITS:
        # The units name /opt/leadapp; verify checks that ExecStart exists, so point it here.
        text = (DEPLOY / name).read_text(encoding="utf-8").replace("/opt/leadapp", str(REPO_ROOT))
        (tmp_path / name).write_text(text, encoding="utf-8")
    result = subprocess.run(
        [analyze, "verify", *(str(tmp_path / name) for name in UNITS)],
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert result.returncode == 0, result.stderr
    assert "leadapp webhooks worker" in (DEPLOY / "leadapp-worker.service").read_text()


def test_the_https_site_keeps_the_proxy_rules_of_nginx_conf() -> None:
    """Upstream, zones, request id, log format, limits and the location: nginx.conf's, verbatim."""
    plain = (DEPLOY / "nginx.conf").read_text(encoding="utf-8")
    tls = (DEPLOY / "nginx-https.conf").read_text(encoding="utf-8")

    def shared_head(text: str) -> str:
        return text[text.index("upstream leadapp {") : text.index("server {")]

    def proxy_rules(text: str) -> str:
        return text[text.index("    limit_conn leadapp_connections 20;") :]

    assert shared_head(tls) == shared_head(plain)
    assert proxy_rules(tls) == proxy_rules(plain)
