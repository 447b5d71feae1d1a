"""The no-JavaScript path's cost beside the JSON path's, per request (issue 22).

The target: a form-encoded `POST /f/<slug>` within 10 % of a JSON one in instructions per
request. Hardware counters are not exposed on these VMs (`perf stat -e instructions` answers
`<not supported>`), so the instructions are counted by valgrind's callgrind, as the earlier
rounds did: one process per kind runs ICOUNT_FEW and then, in another process, ICOUNT_MANY
requests after the same warm-up, and the difference is divided by the difference of the
counts, so start-up is left out. Python function calls per request, counted by cProfile, are
reported beside them (and alone without valgrind). Either way the app is called in-process
through its WSGI interface (the whole pipeline, SQLite, no waitress), with environs built
before counting, so the client's own work is not counted: a warm-up, then the requests of
each kind, distinct valid leads of one form.

Kinds: JSON (201 with the lead), form-encoded answered 303 (the form has a success_url), and
form-encoded answered with the thanks page (rendered by Jinja2).

`python -m bench.hosted` prints the figures alone; `make bench` runs it among the rest.
"""

from __future__ import annotations

import cProfile
import io
import json
import os
import pstats
import re
import shutil
import subprocess
import sys
import tempfile
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any
from urllib.parse import urlencode

from flask import Flask
from werkzeug.test import EnvironBuilder

from tests.support.apps import app_builder, put_form
from tests.support.builders import lead_payload

REQUESTS = 500
WARM_UP = 50
# Requests of the two valgrind runs of each kind (their difference is what is counted).
ICOUNT_FEW = 30
ICOUNT_MANY = 150
REPO_ROOT = Path(__file__).resolve().parent.parent
TARGET = 0.10
SUCCESS_URL = "https://thanks.example/done"
# Each kind: the form it posts to, how the body is sent, the status it must get.
KINDS = {
    "json": ("thanks", "application/json", 201),
    "form-encoded, 303": ("jump", "application/x-www-form-urlencoded", 303),
    "form-encoded, thanks page": ("thanks", "application/x-www-form-urlencoded", 200),
}


def perf_counts_instructions() -> str | None:
    """None when `perf stat -e instructions` counts here; else why it cannot."""
    perf = shutil.which("perf")
    if perf is None:
        return "perf is not installed"
    probe = subprocess.run(
        [perf, "stat", "-x,", "-e", "instructions", "true"],
        capture_output=True,
        text=True,
        check=False,
    )
    if probe.returncode != 0 or "<not" in probe.stderr:
        said = (probe.stderr.strip().splitlines() or ["no output"])[-1]
        return f"refused (perf stat -e instructions: {said})"
    return None


def _environs(kind: str, first: int, count: int) -> list[dict[str, Any]]:
    """WSGI environs of `count` posts of distinct leads (numbers from `first`)."""
    slug, content_type, _status = KINDS[kind]
    environs = []
    for n in range(first, first + count):
        lead = lead_payload(n)
        body = json.dumps(lead) if content_type == "application/json" else urlencode(lead)
        builder = EnvironBuilder(
            path=f"/f/{slug}",
            method="POST",
            data=body.encode(),
            content_type=content_type,
            environ_base={"REMOTE_ADDR": "203.0.113.7"},
        )
        environs.append(builder.get_environ())
    return environs


def _caller(app: Flask, status: int) -> Callable[[dict[str, Any]], None]:
    """Call the app with one environ, read the whole answer, check its status."""

    def call(environ: dict[str, Any]) -> None:
        answered: list[str] = []
        body = app(environ, lambda code, headers, exc_info=None: answered.append(code))
        for _chunk in body:
            pass
        if hasattr(body, "close"):
            body.close()
        if not answered[0].startswith(str(status)):
            raise RuntimeError(f"{environ['PATH_INFO']} answered {answered[0]}, not {status}")

    return call


def count_calls(app: Flask, kind: str, first: int) -> float:
    """Python function calls per request of one kind, after a warm-up."""
    status = KINDS[kind][2]
    call = _caller(app, status)
    for environ in _environs(kind, first, WARM_UP):
        call(environ)
    environs = _environs(kind, first + WARM_UP, REQUESTS)
    profiler = cProfile.Profile()
    profiler.enable()
    for environ in environs:
        call(environ)
    profiler.disable()
    return pstats.Stats(profiler, stream=io.StringIO()).total_calls / REQUESTS


def _with_forms(database: Path, work: Callable[[Flask], Any]) -> Any:
    """Run `work` on an app with the two forms, over a fresh SQLite file."""
    with app_builder(f"sqlite:///{database}") as build:
        app = build(LEADAPP_RATELIMIT_LEADS="1000000 per minute", LEADAPP_WEBHOOK_WORKER=False)
        put_form(app, "thanks", {"one_lead_per_ip": False})
        put_form(app, "jump", {"one_lead_per_ip": False, "success_url": SUCCESS_URL})
        return work(app)


def run_requests(kind: str, count: int) -> None:
    """The process valgrind counts: the warm-up, then `count` requests of one kind."""
    scratch = Path(tempfile.mkdtemp())

    def run(app: Flask) -> None:
        call = _caller(app, KINDS[kind][2])
        for environ in _environs(kind, 1_000, WARM_UP):
            call(environ)
        # Always ICOUNT_MANY built, so the two runs differ by the requests alone.
        for environ in _environs(kind, 100_000, ICOUNT_MANY)[:count]:
            call(environ)

    try:
        _with_forms(scratch / "hosted.sqlite3", run)
    finally:
        shutil.rmtree(scratch, ignore_errors=True)


def _callgrind_total(kind: str, count: int) -> int:
    """Instructions valgrind counts in one `run_requests` process."""
    done = subprocess.run(
        [
            "valgrind",
            "--tool=callgrind",
            "--callgrind-out-file=/dev/null",
            sys.executable,
            "-m",
            "bench.hosted",
            "--run",
            kind,
            str(count),
        ],
        cwd=REPO_ROOT,
        env={**os.environ, "PYTHONMALLOC": "malloc"},
        capture_output=True,
        text=True,
        check=True,
    )
    return int(re.findall(r"Collected : ([0-9]+)", done.stderr)[-1])


def count_instructions() -> dict[str, float] | None:
    """Instructions per request of each kind by callgrind (None without valgrind)."""
    if shutil.which("valgrind") is None:
        return None
    runs = [(kind, count) for kind in KINDS for count in (ICOUNT_FEW, ICOUNT_MANY)]
    with ThreadPoolExecutor(3) as pool:
        totals = dict(zip(runs, pool.map(lambda run: _callgrind_total(*run), runs), strict=True))
    return {
        kind: (totals[kind, ICOUNT_MANY] - totals[kind, ICOUNT_FEW]) / (ICOUNT_MANY - ICOUNT_FEW)
        for kind in KINDS
    }


def measure(directory: Path | None = None, *, instructions: bool = True) -> dict[str, Any]:
    """Instructions (or calls) per request of each kind, ratios to JSON, the target's verdict.

    `instructions=False` skips valgrind (minutes) and judges by the call counts alone.
    """
    scratch = Path(tempfile.mkdtemp(dir=directory))
    try:
        calls = _with_forms(
            scratch / "hosted.sqlite3",
            lambda app: {
                kind: count_calls(app, kind, 1_000_000 * (index + 1))
                for index, kind in enumerate(KINDS)
            },
        )
    finally:
        shutil.rmtree(scratch, ignore_errors=True)
    counted = count_instructions() if instructions else None
    judged = counted or calls
    ratios = {kind: judged[kind] / judged["json"] for kind in KINDS}
    return {
        "metric": "instructions per request (callgrind)"
        if counted
        else "Python function calls per request (cProfile; no valgrind count)",
        "perf": perf_counts_instructions() or "perf counts instructions (not used yet)",
        "requests": REQUESTS,
        "instructions_per_request": counted,
        "calls_per_request": calls,
        "ratio_to_json": ratios,
        "within_10_percent": all(abs(ratio - 1) <= TARGET for ratio in ratios.values()),
    }


def format_result(result: dict[str, Any]) -> str:
    """The figures as lines of text."""
    lines = [f"Hosted form paths, judged by {result['metric']}:"]
    instructions = result["instructions_per_request"] or {}
    for kind, calls in result["calls_per_request"].items():
        ratio = result["ratio_to_json"][kind]
        counted = f"{instructions[kind]:13,.0f} instructions, " if kind in instructions else ""
        lines.append(f"  {kind:28} {counted}{calls:8,.0f} calls  ({ratio - 1:+.1%} against JSON)")
    lines.append(f"  within 10 % of JSON: {result['within_10_percent']}")
    lines.append(f"  hardware counters: {result['perf']}")
    return "\n".join(lines)


if __name__ == "__main__":
    if sys.argv[1:2] == ["--run"]:
        run_requests(sys.argv[2], int(sys.argv[3]))
    else:
        print(format_result(measure()))
