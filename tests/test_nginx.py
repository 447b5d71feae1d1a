"""deploy/nginx.conf, run by Debian's nginx in front of a real LeadApp server.

nginx runs as a private instance (its own prefix, pid, logs and temp directories in the
test's tmp dir) with the shipped file, only its listen and upstream ports rewritten. The
visitors connect from distinct loopback addresses, so nginx's $remote_addr differs.
"""

from __future__ import annotations

import os
import re
import shutil
import subprocess
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from tests.support.builders import lead_payload
from tests.support.client import Answer, http_request
from tests.support.deployment import served
from tests.support.processes import REPO_ROOT
from tests.support.servers import LeadAppServer
from tests.support.services import require_service
from tests.support.waiting import free_port, wait_until

pytestmark = pytest.mark.slow

SITE = REPO_ROOT / "deploy" / "nginx.conf"
NGINX_CANDIDATES = ("/usr/sbin/nginx", shutil.which("nginx"))


def nginx_binary() -> str | None:
    """Debian's nginx, when installed."""
    for candidate in NGINX_CANDIDATES:
        if candidate and os.access(candidate, os.X_OK):
            return candidate
    return None


def private_paths(text: str, base: Path, app_port: int) -> str:
    """A shipped site's upstream port and access-log path changed for a private instance."""
    text, upstreams = re.subn(r"server 127\.0\.0\.1:8000;", f"server 127.0.0.1:{app_port};", text)
    text, logs = re.subn(
        r"access_log /var/log/nginx/leadapp\.access\.log",
        f"access_log {base}/leadapp.access.log",
        text,
    )
    assert upstreams == 1 and logs >= 1, "the site no longer has the expected lines"
    return text


def site_for_test(base: Path, listen_port: int, app_port: int) -> str:
    """The shipped site with only its listen and upstream ports and its log path changed."""
    text = private_paths(SITE.read_text(encoding="utf-8"), base, app_port)
    text, listens = re.subn(r"listen 8080;", f"listen 127.0.0.1:{listen_port};", text)
    assert listens == 1, "deploy/nginx.conf no longer has the expected lines"
    return text


class PrivateNginx:
    """nginx with a main configuration of our own that includes the site."""

    def __init__(self, base: Path, app_port: int, site: str | None = None) -> None:
        """`site`: the site's text (default: deploy/nginx.conf listening on self.port)."""
        self.base = base
        self.port = free_port()
        self.site = base / "leadapp.conf"
        text = site if site is not None else site_for_test(base, self.port, app_port)
        self.site.write_text(text, encoding="utf-8")
        temp = {name: base / name for name in ("body", "proxy", "fastcgi", "uwsgi", "scgi")}
        for path in temp.values():
            path.mkdir()
        user = "user root root;" if os.geteuid() == 0 else ""
        self.conf = base / "nginx.conf"
        self.conf.write_text(
            f"""{user}
worker_processes 1;
pid {base}/nginx.pid;
error_log {base}/error.log info;
events {{ worker_connections 512; }}
http {{
    access_log {base}/access.log;
    client_body_temp_path {temp["body"]};
    proxy_temp_path {temp["proxy"]};
    fastcgi_temp_path {temp["fastcgi"]};
    uwsgi_temp_path {temp["uwsgi"]};
    scgi_temp_path {temp["scgi"]};
    include {self.site};
}}
""",
            encoding="utf-8",
        )
        self.process: subprocess.Popen[bytes] | None = None

    def command(self, *args: str) -> list[str]:
        """An nginx command line for this instance."""
        binary = nginx_binary()
        assert binary is not None
        return [binary, "-p", str(self.base), "-c", str(self.conf), *args]

    def access_log(self) -> str:
        """What the site wrote to its access log."""
        path = self.base / "leadapp.access.log"
        return path.read_text(encoding="utf-8") if path.exists() else ""

    def start(self, answers: Callable[[], bool] | None = None) -> None:
        """Check the configuration, start nginx in the foreground, wait until it `answers`."""
        check = subprocess.run(
            self.command("-t"), capture_output=True, text=True, timeout=30, check=False
        )
        assert check.returncode == 0, check.stderr
        self.process = subprocess.Popen(
            self.command("-g", "daemon off;"),
            stdout=subprocess.DEVNULL,
            stderr=(self.base / "stderr.log").open("wb"),
            start_new_session=True,
        )

        def proxies() -> bool:
            try:
                return http_request(self.port, "GET", "/healthz", timeout=2).status == 200
            except OSError:
                return False

        wait_until(answers or proxies, timeout=20, what="nginx to answer")

    def stop(self) -> None:
        """Stop nginx (SIGQUIT is its graceful stop), killing it if it lingers."""
        if self.process is None or self.process.poll() is not None:
            return
        self.process.terminate()
        try:
            self.process.wait(timeout=10)
        except subprocess.TimeoutExpired:
            self.process.kill()
            self.process.wait(timeout=10)


@pytest.fixture
def behind_nginx(
    tmp_path: Path, test_keys: dict[str, str]
) -> Iterator[tuple[PrivateNginx, LeadAppServer]]:
    """A LeadApp server (LEADAPP_TRUSTED_PROXIES=1) with nginx in front of it."""
    require_service("nginx", None if nginx_binary() else "nginx is not installed")
    with served(tmp_path, test_keys, LEADAPP_TRUSTED_PROXIES="1") as (server,):
        nginx_dir = tmp_path / "nginx"
        nginx_dir.mkdir()
        nginx = PrivateNginx(nginx_dir, server.port)
        try:
            nginx.start()
            yield nginx, server
        finally:
            nginx.stop()


def visit(nginx: PrivateNginx, visitor: str, n: int, **headers: str) -> Answer:
    """A visitor at loopback address `visitor` posts a lead through nginx."""
    return http_request(
        nginx.port, "POST", "/leads", lead_payload(n), source_ip=visitor, headers=headers
    )


def test_two_visitors_are_two_addresses_and_one_twice_is_a_duplicate(behind_nginx) -> None:
    nginx, _server = behind_nginx
    first = visit(nginx, "127.0.0.2", 1)
    second = visit(nginx, "127.0.0.3", 2)
    assert (first.status, second.status) == (201, 201)
    assert (first.body["ip_address"], second.body["ip_address"]) == ("127.0.0.2", "127.0.0.3")
    again = visit(nginx, "127.0.0.2", 3)
    assert again.status == 409 and again.is_problem
    assert list(again.body["errors"]) == ["ip_address"]


def test_a_visitors_own_x_forwarded_for_changes_nothing(behind_nginx) -> None:
    nginx, _server = behind_nginx
    spoofed = visit(nginx, "127.0.0.4", 1, **{"X-Forwarded-For": "198.51.100.1"})
    assert spoofed.status == 201 and spoofed.body["ip_address"] == "127.0.0.4"
    for n, claim in enumerate(["198.51.100.2", "198.51.100.3, 198.51.100.4", "garbage"], 2):
        answer = visit(nginx, "127.0.0.4", n, **{"X-Forwarded-For": claim})
        assert answer.status == 409 and list(answer.body["errors"]) == ["ip_address"], claim


def test_a_request_id_passes_through_both_ways(behind_nginx) -> None:
    nginx, server = behind_nginx
    answer = http_request(
        nginx.port, "GET", "/healthz", source_ip="127.0.0.5", headers={"X-Request-ID": "trace-42"}
    )
    assert answer.status == 200 and answer.headers["x-request-id"] == "trace-42"
    wait_until(lambda: '"request_id": "trace-42"' in server.log(), timeout=5, what="app log")
    wait_until(lambda: "request_id=trace-42" in nginx.access_log(), timeout=5, what="nginx log")
    # Without one, nginx makes one, and the app uses it.
    own = http_request(nginx.port, "GET", "/healthz", source_ip="127.0.0.5")
    assert re.fullmatch(r"[0-9a-f]{32}", own.headers["x-request-id"])
    wait_until(
        lambda: f'"request_id": "{own.headers["x-request-id"]}"' in server.log(),
        timeout=5,
        what="app log with nginx's id",
    )


def test_nginx_limits_request_rate_per_client_and_bounds_bodies(behind_nginx) -> None:
    nginx, _server = behind_nginx
    statuses = [
        http_request(nginx.port, "GET", "/healthz", source_ip="127.0.0.6").status for _ in range(40)
    ]
    assert 429 in statuses and statuses[:20] == [200] * 20
    assert http_request(nginx.port, "GET", "/healthz", source_ip="127.0.0.7").status == 200
    huge = http_request(nginx.port, "POST", "/leads", {"name": "x" * 70_000}, source_ip="127.0.0.8")
    assert huge.status == 413
