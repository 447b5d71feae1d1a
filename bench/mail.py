"""The mail part of `make bench`: notification mails sent per second, and intake with mail on.

Two figures (issue 23): one `flask webhooks worker` process sends at least 200 notification
mails a second to a local SMTP server (aiosmtpd's Sink, in a process of its own on the client
core) over kept-alive connections; and POST /leads to a form with one `notify` address, the
worker in its own process, keeps at least 90 % of plain intake (medians of the same run).
"""

from __future__ import annotations

import argparse
import json
import socket
import sqlite3
import subprocess
import sys
import time
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from datetime import datetime
from typing import Any

from sqlalchemy.engine import make_url

from bench.measure import SERVER_MODULES, LeadNumbers, log, measure_post
from bench.servers import CLIENT_CORE, SERVER_CORE, cpu_times
from bench.v2 import PLAIN, start_worker
from bench.wrk import run_wrk
from tests.support.processes import REPO_ROOT, flask_command, stop_process
from tests.support.waiting import free_port, wait_until

MAIL_INTAKE = "sqlite+mail notify worker@1"
# The same intake with no worker at all (the mails only queued): what queueing costs the
# server, without a second process writing to the SQLite file.
MAIL_QUEUED = "sqlite+mail notify, queued only"
CONFIGURATIONS = (MAIL_INTAKE, MAIL_QUEUED)
OWNER = "owner@bench.example"
TARGET_MAILS_PER_S = 200.0
TARGET_INTAKE_SHARE = 0.90


def add_arguments(parser: argparse.ArgumentParser) -> None:
    """The mail part's options."""
    parser.add_argument("--no-mail", action="store_true", help="skip the mail measurements")
    parser.add_argument(
        "--mail-fill",
        type=float,
        default=3.0,
        help="seconds of intake (worker off) that queue the notifications timed afterwards",
    )


def configurations(args: argparse.Namespace) -> list[str]:
    """The mail configurations to interleave with the others."""
    return [] if args.no_mail else list(CONFIGURATIONS)


@contextmanager
def smtp_sink(bench: Any) -> Iterator[dict[str, str]]:
    """aiosmtpd's Sink (accepts and drops every mail) on the client core; the mail settings."""
    port = free_port()
    with (bench.dir / "smtp-sink.log").open("ab") as log_file:
        process = subprocess.Popen(
            [
                *("taskset", "-c", str(CLIENT_CORE), sys.executable, "-m", "aiosmtpd"),
                *("-n", "-c", "aiosmtpd.handlers.Sink", "-l", f"127.0.0.1:{port}"),
            ],
            cwd=REPO_ROOT,
            stdout=log_file,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
    try:
        wait_until(lambda: _listening(port), timeout=20, what="the SMTP sink to listen")
        yield {
            "LEADAPP_SMTP_URL": f"smtp://127.0.0.1:{port}",
            "LEADAPP_MAIL_FROM": "leads@bench.example",
            # The cap would hold all but 30 an hour for the digest: not what is measured.
            "LEADAPP_MAIL_NOTIFY_PER_HOUR": "100000000",
        }
    finally:
        stop_process(process, 10)


def _listening(port: int) -> bool:
    """Whether something accepts connections on the loopback port."""
    with socket.socket() as sock:
        return sock.connect_ex(("127.0.0.1", port)) == 0


@contextmanager
def mailing_database(bench: Any, purpose: str) -> Iterator[tuple[str, dict[str, str], str]]:
    """A fresh SQLite database whose default form notifies OWNER, with the SMTP sink."""
    with smtp_sink(bench) as settings:
        url, env, api_key = bench.leadapp_database("sqlite", purpose)
        try:
            env = {**env, **settings}
            flask_command(
                env, "forms", "put", "default", "--file", "-", input=json.dumps({"notify": [OWNER]})
            )
            yield url, env, api_key
        finally:
            bench.backends["sqlite"].discard(url)


def run_configuration(bench: Any, name: str) -> dict[str, Any]:
    """One run of intake with a notification per lead, sent by a worker on the client core."""
    numbers = LeadNumbers(bench.args.wrk_threads)
    with mailing_database(bench, "mail-intake") as (url, env, api_key):
        env = {**env, "LEADAPP_WEBHOOK_WORKER": "off"}
        worker = start_worker(
            env, bench.dir / f"worker-mail-{bench.server_count + 1}.log", CLIENT_CORE
        )
        try:
            with bench.server(SERVER_MODULES["leadapp"], env) as server:
                run = measure_post(server, api_key, numbers, bench.args)
        finally:
            stop_process(worker, 20)
        run["mail"] = mail_counts(url)
    return run


def mail_counts(url: str) -> dict[str, Any]:
    """The notifications by status, and the delivered ones' first and last delivery times."""
    path = make_url(url).database or ""
    with sqlite3.connect(path) as connection:
        counts: dict[str, Any] = dict(
            connection.execute(
                "SELECT status, count(*) FROM outbox WHERE channel = 'mail' GROUP BY status"
            ).fetchall()
        )
        first, last = connection.execute(
            "SELECT min(delivered_at), max(delivered_at) FROM outbox "
            "WHERE channel = 'mail' AND status = 'delivered'"
        ).fetchone()
    counts["span_s"] = (
        (datetime.fromisoformat(last) - datetime.fromisoformat(first)).total_seconds()
        if first and last
        else 0.0
    )
    return counts


def measure_send_rate(bench: Any) -> dict[str, Any]:
    """Queue notifications with the worker off, then time one worker process sending them."""
    args = bench.args
    with mailing_database(bench, "mail-send") as (url, env, api_key):
        quiet = {**env, "LEADAPP_WEBHOOK_WORKER": "off"}
        with bench.server("leadapp.server", quiet) as server:
            run_wrk(
                server.url,
                api_key=api_key,
                offset=0,
                duration=args.mail_fill,
                threads=args.wrk_threads,
                connections=args.connections,
            )
        queued = mail_counts(url).get("pending", 0)
        worker = start_worker(env, bench.dir / "worker-mail-send.log", SERVER_CORE)
        try:
            started = time.monotonic()
            deadline = started + max(120.0, queued / 20)
            while mail_counts(url).get("pending", 0) and time.monotonic() < deadline:
                time.sleep(0.2)
            cpu = cpu_times(worker.pid)
        finally:
            stop_process(worker, 20)
        counts = mail_counts(url)
    delivered = counts.get("delivered", 0)
    span = counts["span_s"]
    return {
        "queued": queued,
        "delivered": delivered,
        "failed": counts.get("failed", 0),
        "seconds": span,
        "mails_per_s": delivered / span if span else None,
        "worker_cpu_s": sum(cpu),
    }


def measure(bench: Any) -> dict[str, Any]:
    """The send rate, once (the intake configuration is interleaved with the others)."""
    if bench.args.no_mail:
        return {}
    result = measure_send_rate(bench)
    log(
        f"mail: {result['delivered']:,} of {result['queued']:,} notifications sent in "
        f"{result['seconds']:.1f} s by one worker: {result['mails_per_s'] or 0:,.0f} mails/s"
    )
    return result


def intake_share(summary: Mapping[str, Mapping[str, Any]]) -> float | None:
    """Intake with mail on as a share of plain intake (medians), when both were measured."""
    if MAIL_INTAKE not in summary or PLAIN not in summary:
        return None
    return summary[MAIL_INTAKE]["requests_per_s"] / summary[PLAIN]["requests_per_s"]


def check_targets(
    summary: Mapping[str, Mapping[str, Any]], measured: Mapping[str, Any]
) -> dict[str, bool]:
    """The issue's two mail targets, where measured."""
    checks: dict[str, bool] = {}
    if measured.get("mails_per_s") is not None:
        checks[f"one worker sends >= {TARGET_MAILS_PER_S:.0f} mails/s"] = (
            measured["mails_per_s"] >= TARGET_MAILS_PER_S and measured["failed"] == 0
        )
    share = intake_share(summary)
    if share is not None:
        checks[f"intake with a notify address >= {TARGET_INTAKE_SHARE:.0%} of plain"] = (
            share >= TARGET_INTAKE_SHARE
        )
    return checks


def print_report(summary: Mapping[str, Mapping[str, Any]], measured: Mapping[str, Any]) -> None:
    """The mail figures, in two lines."""
    if measured.get("mails_per_s") is not None:
        print(
            f"\nMail: one worker sent {measured['delivered']:,} notifications in "
            f"{measured['seconds']:.1f} s: {measured['mails_per_s']:,.0f} mails/s "
            f"({measured['worker_cpu_s'] * 1000 / max(measured['delivered'], 1):.2f} ms CPU each)"
        )
    share = intake_share(summary)
    if share is not None:
        print(f"Mail: intake with one notify address, worker outside: {share:.0%} of plain intake")
    if MAIL_QUEUED in summary and PLAIN in summary:
        queued = summary[MAIL_QUEUED]["requests_per_s"] / summary[PLAIN]["requests_per_s"]
        print(f"Mail: the same, mails only queued (no worker): {queued:.0%} of plain intake")
