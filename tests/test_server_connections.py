"""Connection floods: idle and half-sent connections neither starve the server nor live on.

Against the real server (`python -m leadapp.server`, as `make run` starts it): 1,000
connections held open, half idle and half with a request cut off mid-way, while /healthz
and POST /leads still answer; then the server recovers when they close, and closes the
silent ones itself within 60 seconds.
"""

from __future__ import annotations

import resource
import selectors
import socket
import time
from pathlib import Path

import pytest

from leadapp.server import CONNECTION_LIMIT, IDLE_SECONDS, SWEEP_SECONDS
from tests.support.builders import lead_payload
from tests.support.deployment import served
from tests.support.servers import LeadAppServer
from tests.support.waiting import wait_until

IDLE = 500
HALF_SENT = 500
CONTRACT_IDLE_SECONDS = 60
PARTIAL_REQUESTS = [
    b"GET /healthz HTTP/1.1\r\nHost: 127.0.0.1\r\nX-Slow: ",  # headers never finished
    b"POST /leads HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Type: application/json\r\n"
    b'Content-Length: 120\r\n\r\n{"name": ',  # body never finished
]


def rss_kib(pid: int) -> int:
    """The process's resident memory in KiB."""
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1])
    raise AssertionError("no VmRSS")


def open_files(pid: int) -> int:
    """How many descriptors the process holds."""
    return len(list(Path(f"/proc/{pid}/fd").iterdir()))


def timed(server: LeadAppServer, method: str, path: str, body=None, source_ip="127.0.0.1"):
    """One request and how long it took, in seconds."""
    started = time.monotonic()
    answer = server.request(method, path, body, source_ip=source_ip, timeout=10)
    return answer, time.monotonic() - started


def test_server_is_sized_for_the_contract() -> None:
    assert CONNECTION_LIMIT >= 1000
    assert IDLE_SECONDS + SWEEP_SECONDS + 1 <= CONTRACT_IDLE_SECONDS


@pytest.mark.slow
def test_a_thousand_idle_and_half_sent_connections_do_not_take_the_service_dark(
    tmp_path: Path, test_keys: dict[str, str]
) -> None:
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    needed = IDLE + HALF_SENT + 200
    if soft < needed:
        resource.setrlimit(resource.RLIMIT_NOFILE, (min(needed, hard), hard))
    # `make run`'s default of 4 threads: floods must not need a thread per connection.
    with served(tmp_path, test_keys, threads=4) as (server,):
        server.request("POST", "/leads", lead_payload(1), source_ip="127.0.0.20")  # warm up
        time.sleep(0.5)  # let the server notice the warm-up connection closed
        baseline_rss, baseline_fds = rss_kib(server.pid), open_files(server.pid)
        idle: list[socket.socket] = []
        half_sent: list[socket.socket] = []
        try:
            for _n in range(IDLE):
                idle.append(socket.create_connection(("127.0.0.1", server.port), timeout=5))
            for n in range(HALF_SENT):
                sock = socket.create_connection(("127.0.0.1", server.port), timeout=5)
                sock.sendall(PARTIAL_REQUESTS[n % 2])
                half_sent.append(sock)
            flooded_at = time.monotonic()
            wait_until(
                lambda: open_files(server.pid) >= baseline_fds + IDLE + HALF_SENT - 3,
                timeout=30,
                what="the server to accept all 1,000 connections",
            )
            held_rss = rss_kib(server.pid)
            health, health_seconds = timed(server, "GET", "/healthz")
            lead, lead_seconds = timed(server, "POST", "/leads", lead_payload(2), "127.0.0.21")
            assert health.status == 200 and health_seconds < 2
            assert lead.status == 201 and lead_seconds < 2
            per_connection = (held_rss - baseline_rss) / (IDLE + HALF_SENT)
            # The clients give up on half of them: the server frees those at once.
            for sock in idle[: IDLE // 2] + half_sent[: HALF_SENT // 2]:
                sock.close()
            del idle[: IDLE // 2], half_sent[: HALF_SENT // 2]
            wait_until(
                lambda: open_files(server.pid) <= baseline_fds + (IDLE + HALF_SENT) // 2 + 5,
                timeout=10,
                what="the server to release closed connections",
            )
            assert server.request("GET", "/healthz").status == 200
            # The rest stay silent: the server closes every one of them within 60 s.
            closed_after = wait_for_server_to_close(idle + half_sent, flooded_at)
        finally:
            for sock in idle + half_sent:
                sock.close()
        after, after_seconds = timed(server, "GET", "/healthz")
        again, _ = timed(server, "POST", "/leads", lead_payload(3), "127.0.0.22")
        assert after.status == 200 and again.status == 201
        assert open_files(server.pid) <= baseline_fds + 5
        print(
            f"connection flood: {IDLE} idle + {HALF_SENT} half-sent held; RSS "
            f"{baseline_rss / 1024:.1f} -> {held_rss / 1024:.1f} MiB "
            f"({per_connection:.1f} KiB per connection); while held /healthz "
            f"{health_seconds * 1000:.0f} ms, POST /leads {lead_seconds * 1000:.0f} ms; "
            f"silent ones closed by the server after {min(closed_after):.1f}-"
            f"{max(closed_after):.1f} s; after recovery /healthz {after_seconds * 1000:.0f} ms"
        )
        assert max(closed_after) <= CONTRACT_IDLE_SECONDS + 1


def wait_for_server_to_close(sockets: list[socket.socket], since: float) -> list[float]:
    """Wait until the server has closed each socket; seconds from `since` for each."""
    selector = selectors.DefaultSelector()
    for sock in sockets:
        sock.setblocking(False)
        selector.register(sock, selectors.EVENT_READ)
    closed: list[float] = []
    deadline = since + CONTRACT_IDLE_SECONDS + 5
    while len(closed) < len(sockets) and time.monotonic() < deadline:
        for key, _ in selector.select(timeout=1):
            sock = key.fileobj
            try:
                data = sock.recv(4096)  # type: ignore[union-attr]
            except ConnectionError:
                data = b""
            if not data:
                selector.unregister(sock)
                closed.append(time.monotonic() - since)
    selector.close()
    assert len(closed) == len(sockets), f"{len(sockets) - len(closed)} connections still open"
    return closed
