"""Batched delivery on kept-alive connections: fewer connections, the same guarantees.

A real receiver on loopback counts the TCP connections it accepts and verifies every request
with the `standardwebhooks` package.
"""

from __future__ import annotations

import contextlib
import socket
import threading
import time
from collections.abc import Callable, Iterator

import pytest
from flask import Flask

from leadapp.channels.webhook import transport
from leadapp.outbox.worker import Worker
from tests.support.apps import create_api_key
from tests.support.client import bearer, store_lead
from tests.support.waiting import wait_until
from tests.support.webhook_receiver import Receiver, add_endpoint, delivery_rows

# A long retry base: a failed attempt stays pending (not retried) for the test's duration.
SETTINGS = {
    "LEADAPP_WEBHOOK_RETRY_SECONDS": 30.0,
    "LEADAPP_WEBHOOK_TIMEOUT": 2.0,
    "LEADAPP_CACHE_SECONDS": 0.2,
}


def _queue_leads(
    make_app: Callable[..., Flask], receiver: Receiver, count: int, delay: float = 0.0
) -> tuple[Flask, list[dict]]:
    """An app with SETTINGS and `count` leads queued for the receiver (no worker yet).

    The receiver, subscribed to lead.created, answers each request after `delay` seconds.
    """
    receiver.delay = delay
    app = make_app(**SETTINGS)
    key = create_api_key(app)
    _, receiver.secret = add_endpoint(app, receiver.url(), "lead.created")
    return app, [store_lead(app, key, 100 + n) for n in range(count)]


def _by_lead(app: Flask) -> dict[str, dict]:
    """Each lead.created delivery row by its lead id."""
    return {str(r["lead_id"]): r for r in delivery_rows(app) if r["event"] == "lead.created"}


def _wait_delivered(app: Flask, timeout: float, what: str) -> None:
    """Wait until every lead.created delivery is recorded as delivered."""
    wait_until(
        lambda: all(r["status"] == "delivered" for r in _by_lead(app).values()),
        timeout=timeout,
        what=what,
    )


def test_deliveries_to_one_endpoint_share_a_connection(
    make_app, receiver: Receiver, worker_for
) -> None:
    app, leads = _queue_leads(make_app, receiver, 12)
    worker_for(app)
    wait_until(lambda: len(receiver.answered(200)) >= 12, timeout=15, what="12 deliveries")
    _wait_delivered(app, timeout=10, what="the deliveries recorded")
    time.sleep(0.5)  # nothing more may come
    assert receiver.unverified == []
    assert sorted(r.json()["data"]["id"] for r in receiver.requests) == sorted(
        lead["id"] for lead in leads
    )
    # One kept-alive connection per batch, not one per delivery.
    assert receiver.connections < 12
    assert receiver.connections <= 2, receiver.connections
    for row in _by_lead(app).values():
        assert row["attempts"] == 1 and row["last_status"] == 200
        assert row["claimed_by"] is None and row["delivered_at"] is not None


def test_a_receiver_answering_connection_close_gets_every_delivery(
    make_app, receiver: Receiver, worker_for
) -> None:
    receiver.behaviour = lambda _request, _n: (200, {"Connection": "close"})
    app, _ = _queue_leads(make_app, receiver, 5)
    worker_for(app)
    _wait_delivered(app, timeout=15, what="5 deliveries recorded")
    assert len(receiver.requests) == 5
    # It closed each connection, so each delivery came on a new one, none failed on a dead one.
    assert receiver.connections == 5
    assert len({r.connection for r in receiver.requests}) == 5
    assert receiver.unverified == []


def test_one_failure_in_a_batch_is_recorded_apart_from_the_successes(
    make_app, receiver: Receiver, worker_for
) -> None:
    receiver.behaviour = lambda _request, n: (500, {}) if n == 2 else (200, {})
    app, leads = _queue_leads(make_app, receiver, 6)
    worker_for(app)
    wait_until(lambda: len(receiver.requests) >= 6, timeout=15, what="6 attempts")
    wait_until(
        lambda: sum(r["status"] == "delivered" for r in _by_lead(app).values()) == 5,
        timeout=10,
        what="5 successes recorded",
    )
    time.sleep(0.5)
    failed_lead = receiver.requests[2].json()["data"]["id"]
    rows = _by_lead(app)
    assert set(rows) == {lead["id"] for lead in leads}
    failed = rows.pop(failed_lead)
    assert failed["status"] == "pending" and failed["attempts"] == 1
    assert failed["last_status"] == 500 and failed["last_error"] == "HTTP 500"
    assert failed["claimed_by"] is None
    assert failed["next_attempt_at"] is not None
    for row in rows.values():
        assert row["status"] == "delivered" and row["attempts"] == 1
        assert row["last_status"] == 200
    # A 500 with its body read keeps the connection: the rest of the batch went on it.
    assert receiver.connections == 1
    assert len(receiver.requests) == 6 and receiver.unverified == []


def test_an_erasure_during_a_batch_wins(make_app, receiver: Receiver, worker_for) -> None:
    app, leads = _queue_leads(make_app, receiver, 8, delay=0.4)
    key = create_api_key(app, name="eraser")
    worker_for(app)
    wait_until(lambda: receiver.requests, timeout=10, what="the first attempt")
    in_flight = receiver.requests[0].json()["data"]["id"]
    last = leads[-1]["id"]
    assert in_flight != last
    client = app.test_client()
    for lead_id in (in_flight, last):
        assert client.delete(f"/leads/{lead_id}", headers=bearer(key)).status_code == 204
    wait_until(
        lambda: all(r["status"] != "pending" for r in _by_lead(app).values()),
        timeout=15,
        what="every delivery settled",
    )
    time.sleep(0.5)
    rows = _by_lead(app)
    # The attempt under way was answered 200, but the erasure came first: it stays cancelled.
    assert rows[in_flight]["status"] == "cancelled"
    # The batch re-checks its rows while it runs: the erased lead still queued is not sent.
    assert rows[last]["status"] == "cancelled"
    sent = [r.json()["data"]["id"] for r in receiver.requests]
    assert last not in sent
    assert sent.count(in_flight) == 1
    for lead in leads[1:-1]:
        assert rows[lead["id"]]["status"] == "delivered"
    assert receiver.unverified == []


def test_stop_finishes_the_attempt_under_way_and_gives_back_the_rest(
    make_app, receiver: Receiver
) -> None:
    app, leads = _queue_leads(make_app, receiver, 6, delay=0.5)
    worker = Worker(app).start()
    try:
        wait_until(lambda: receiver.requests, timeout=10, what="the first attempt")
        assert worker.stop(5)
        assert len(receiver.requests) == 1 and receiver.requests[0].answered == 200
        rows = _by_lead(app)
        first = receiver.requests[0].json()["data"]["id"]
        assert rows[first]["status"] == "delivered"
        rest = [rows[lead["id"]] for lead in leads if lead["id"] != first]
        # Given back, not left under a lease: due again at once for any worker.
        assert all(
            r["status"] == "pending" and r["attempts"] == 0 and r["claimed_by"] is None
            for r in rest
        )
    finally:
        worker.stop(5)
    receiver.delay = 0.0
    started = time.monotonic()
    successor = Worker(app).start()
    try:
        _wait_delivered(app, timeout=10, what="the successor to deliver the rest")
    finally:
        successor.stop(5)
    assert time.monotonic() - started < 5  # not after a lease ran out
    assert sorted(r.json()["data"]["id"] for r in receiver.requests) == sorted(
        lead["id"] for lead in leads
    )
    assert receiver.unverified == []


def test_a_batch_starts_no_attempt_past_its_window_and_the_lease_covers_it(
    make_app, receiver: Receiver
) -> None:
    app, leads = _queue_leads(make_app, receiver, 6, delay=0.3)
    worker = Worker(app)
    assert worker.lease_seconds >= worker.timeout + worker.batch_seconds + 20
    assert worker.lease_seconds <= 60
    worker.batch_seconds = 0.5  # a short window: the batch is cut short and given back
    worker.start()
    try:
        _wait_delivered(app, timeout=15, what="every delivery")
    finally:
        worker.stop(5)
    sent = [r.json()["data"]["id"] for r in receiver.requests]
    assert sorted(sent) == sorted(lead["id"] for lead in leads)  # each once, none lost
    assert receiver.unverified == []


def test_a_long_timeout_shrinks_the_batch_window_to_keep_the_lease_within_60_s(make_app) -> None:
    worker = Worker(make_app(LEADAPP_WEBHOOK_TIMEOUT=35.0))
    assert worker.batch_seconds == pytest.approx(5.0)
    assert worker.lease_seconds == pytest.approx(60.0)
    assert Worker(make_app(LEADAPP_WEBHOOK_TIMEOUT=40.0)).batch_seconds == 0.0


# --- one connection, below the worker -----------------------------------------------------


def _read_request(connection: socket.socket) -> bool:
    """Read one whole request (head and Content-Length body); False at EOF or an error."""
    data = b""
    try:
        while b"\r\n\r\n" not in data:
            chunk = connection.recv(65536)
            if not chunk:
                return False
            data += chunk
        head, _, body = data.partition(b"\r\n\r\n")
        length = 0
        for line in head.split(b"\r\n")[1:]:
            name, _, value = line.partition(b":")
            if name.strip().lower() == b"content-length":
                length = int(value)
        while len(body) < length:
            chunk = connection.recv(65536)
            if not chunk:
                return False
            body += chunk
    except OSError:
        return False
    return True


def _serve(listener: socket.socket, answers: list[str], log: list[str]) -> None:
    """Accept connections and answer requests in turn.

    "ok": 200 at once; "ok-close": 200, then close the connection (an idle timeout, without
    saying so); "drop": close without answering; "trickle": a header line every 0.1 s.
    """
    while answers:
        try:
            connection, _ = listener.accept()
        except OSError:
            return
        log.append("accepted")
        with connection:
            connection.settimeout(10)
            while answers:
                if not _read_request(connection):
                    break
                answer = answers.pop(0)
                if answer == "drop":
                    break
                if answer.startswith("ok"):
                    connection.sendall(b"HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok")
                    if answer == "ok-close":
                        break
                    continue
                connection.sendall(b"HTTP/1.1 200 OK\r\n")
                try:
                    for _ in range(40):
                        connection.sendall(b"X-Slow: a\r\n")
                        time.sleep(0.1)
                except OSError:
                    pass
                break


@contextlib.contextmanager
def _scripted(*answers: str) -> Iterator[tuple[str, list[str]]]:
    """A raw HTTP server answering as scripted; its URL and its accepted connections."""
    with socket.socket() as listener:
        listener.bind(("127.0.0.1", 0))
        listener.listen(4)
        accepted: list[str] = []
        thread = threading.Thread(
            target=_serve, args=(listener, list(answers), accepted), daemon=True
        )
        thread.start()
        yield f"http://127.0.0.1:{listener.getsockname()[1]}/", accepted


def test_the_deadline_cuts_a_trickling_answer_on_a_kept_alive_connection() -> None:
    connections = transport.Connections(transport.DeadlineWatcher())
    try:
        with _scripted("ok", "ok", "trickle", "ok") as (url, accepted):
            assert transport.post(url, b"{}", {}, 1.0, connections).delivered
            assert transport.post(url, b"{}", {}, 1.0, connections).delivered
            assert accepted == ["accepted"] and len(connections) == 1
            started = time.monotonic()
            outcome = transport.post(url, b"{}", {}, 1.0, connections)
            elapsed = time.monotonic() - started
            assert not outcome.delivered and "timed out" in (outcome.error or "")
            assert elapsed < 1.5
            assert len(connections) == 0  # a timed-out connection is never reused
            assert transport.post(url, b"{}", {}, 1.0, connections).delivered
            assert accepted == ["accepted", "accepted"]
    finally:
        connections.close()
        connections.watcher.stop()


def test_one_watcher_thread_however_many_attempts(receiver: Receiver) -> None:
    watcher = transport.DeadlineWatcher()
    connections = transport.Connections(watcher)
    before = threading.active_count()
    watchers = [t.name for t in threading.enumerate()].count("webhook-deadlines")
    try:
        for _ in range(20):
            assert transport.post(receiver.url(), b"{}", {}, 2.0, connections).delivered
        threads = threading.enumerate()
        assert [t.name for t in threads].count("webhook-deadlines") == watchers + 1
        assert not any(isinstance(t, threading.Timer) for t in threads)
        # The watcher, and the receiver's thread for the one kept-alive connection.
        assert threading.active_count() <= before + 2
        assert receiver.connections == 1
    finally:
        connections.close()
        watcher.stop()


def test_a_kept_connection_the_receiver_closed_is_replaced() -> None:
    connections = transport.Connections()
    try:
        with _scripted("ok-close", "ok", "drop", "ok") as (url, accepted):
            assert transport.post(url, b"{}", {}, 2.0, connections).delivered
            time.sleep(0.2)  # the receiver has closed it, idle
            assert transport.post(url, b"{}", {}, 2.0, connections).delivered
            assert accepted == ["accepted", "accepted"]
            # Closed as the request went out, unanswered: sent once more on a fresh one.
            outcome = transport.post(url, b"{}", {}, 2.0, connections)
            assert outcome.delivered, outcome
            assert accepted == ["accepted", "accepted", "accepted"]
    finally:
        connections.close()


def test_a_fresh_connection_closed_unanswered_is_a_failure() -> None:
    with _scripted("drop") as (url, accepted):
        outcome = transport.post(url, b"{}", {}, 2.0)
    assert not outcome.delivered and outcome.status is None
    assert "connection" in (outcome.error or "") and accepted == ["accepted"]


def test_a_kept_connection_does_not_wait_for_delayed_acks(receiver: Receiver) -> None:
    # The receiver writes head and body in two sends without TCP_NODELAY, as
    # http.server does: without a quick ACK each answer would wait ~40 ms for the body.
    connections = transport.Connections()
    try:
        assert transport.post(receiver.url(), b"{}", {}, 2.0, connections).delivered
        started = time.monotonic()
        for _ in range(30):
            assert transport.post(receiver.url(), b"{}", {}, 2.0, connections).delivered
        elapsed = time.monotonic() - started
    finally:
        connections.close()
    assert receiver.connections == 1
    assert elapsed < 30 * 0.02, f"{elapsed / 30 * 1000:.0f} ms per delivery"
