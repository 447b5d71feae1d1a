"""Profile the server under load with py-spy (a sampling profiler attached from outside).

py-spy samples the running server's Python stacks without changing its code. It runs
on the client core with wrk, so the server's core only pays for being paused briefly
at each sample. It samples only the thread holding the GIL (`--gil`): on one core that
is the Python work that the server's throughput is made of (threads waiting for work
or for the GIL would otherwise fill most samples). Time spent in C with the GIL
released (SQLite's own work, socket system calls) is not in these samples; the server's
user/system CPU split, measured beside, shows its size. The collapsed stacks are kept,
and summarized here: the share of samples in each stage of a POST /leads, and the
functions with the most inclusive and self samples.
"""

from __future__ import annotations

import re
import shutil
import subprocess
import sys
from collections import Counter
from pathlib import Path
from typing import Any

from bench.servers import CLIENT_CORE

SAMPLE_RATE = 200
FRAME = re.compile(r"^(?P<function>.*) \((?P<file>[^():]+)(?::(?P<line>\d+))?\)$")

# Stages of one POST /leads, most specific first: a stack belongs to the first stage
# whose pattern ("function (file" of a frame) is found anywhere on it. Every worker stack
# passes the trusted-proxy middleware and Flask.wsgi_app, and the limiter's decorator
# wraps the view, so the view's stages come before those; a stage may have several patterns.
MAIN_LOOP = "waitress main loop (accept, read + parse requests, write)"
STAGES: tuple[tuple[str, str], ...] = (
    ("access log line (json + logging + pseudonym)", "log_access (leadapp/http/access_log.py"),
    ("API key + blocklist check", "authenticate_request (leadapp/http/authentication.py"),
    ("API key + blocklist check", "refuse_blocked_clients (leadapp/http/blocklist_gate.py"),
    ("validate email (email-validator)", "normalize_email (leadapp/normalize.py"),
    ("validate phone (phonenumbers)", "normalize_phone (leadapp/normalize.py"),
    ("schema load (marshmallow, other fields)", "load_or_422 (leadapp/api/parsing.py"),
    ("schema load (marshmallow, other fields)", "_load (leadapp/services/intake.py"),
    ("strict JSON parsing", "json_object_body (leadapp/api/parsing.py"),
    ("Fernet encryption", "process_bind_param (leadapp/models/types.py"),
    ("blind indexes (HMACs)", "blind_indexes (leadapp/services/leads.py"),
    ("idempotency key (HMACs, record)", "(leadapp/services/idempotency.py"),
    ("outbox write", "publish (leadapp/outbox/queue.py"),
    ("INSERT + COMMIT (SQLAlchemy + driver)", "create_lead (leadapp/services/leads.py"),
    ("rest of the intake service (honeypot, challenge, consent)", "submit (leadapp/services/"),
    ("rest of the view (response dump, client IP)", "create_lead (leadapp/api/leads.py"),
    ("rate limiter (Flask-Limiter)", "flask_limiter/"),
    ("response steps (headers, CORS, request id)", "finish_response (leadapp/http/pipeline.py"),
    ("request id and clock", "assign_request_id (leadapp/http/request_id.py"),
    ("outbox worker", "(leadapp/outbox/"),
    ("outbox worker", "(leadapp/channels/"),
    (MAIN_LOOP, "BaseWSGIServer.run (waitress/"),
    (MAIN_LOOP, "GracefulServer.serve (leadapp/server.py"),
    ("Flask/Werkzeug request + response", "Flask.wsgi_app (flask/app.py"),
    ("waitress worker (WSGI environ, response headers, I/O)", "(waitress/"),
)


def py_spy() -> str | None:
    """The path of py-spy (installed with requirements-bench.txt), or None."""
    beside = Path(sys.executable).parent / "py-spy"
    return str(beside) if beside.exists() else shutil.which("py-spy")


def record(pid: int, output: Path, *, duration: float) -> subprocess.Popen[bytes]:
    """Start recording `pid` for `duration` seconds into `output` (raw collapsed stacks)."""
    executable = py_spy()
    if executable is None:
        raise RuntimeError("py-spy is not installed (pip install -r requirements-bench.txt)")
    command = [
        "taskset", "-c", str(CLIENT_CORE), executable, "record",
        "--pid", str(pid), "--duration", str(int(duration)), "--rate", str(SAMPLE_RATE),
        "--format", "raw", "--gil", "--output", str(output),
    ]  # fmt: skip
    return subprocess.Popen(command, stdout=subprocess.PIPE, stderr=subprocess.STDOUT)


def perf() -> str | None:
    """The path of Linux perf (Debian: linux-perf), or None."""
    return shutil.which("perf")


def perf_record(pid: int, output: Path, *, duration: float) -> subprocess.Popen[bytes]:
    """Start sampling `pid`'s CPU use (interpreter, kernel, SQLite, ...) with perf."""
    executable = perf()
    if executable is None:
        raise RuntimeError("perf is not installed")
    command = [
        "taskset", "-c", str(CLIENT_CORE), executable, "record", "--freq", "499",
        "--pid", str(pid), "--output", str(output), "--quiet", "--", "sleep", str(int(duration)),
    ]  # fmt: skip
    return subprocess.Popen(command, stdout=subprocess.PIPE, stderr=subprocess.STDOUT)


def perf_libraries(data: Path, *, top: int = 10) -> list[dict[str, Any]]:
    """The server's CPU samples by shared object (libpython, kernel, libsqlite3, ...)."""
    executable = perf() or "perf"
    report = subprocess.run(
        [executable, "report", "--input", str(data), "--no-children", "--sort", "dso",
         "--stdio", "-g", "none"],
        capture_output=True, text=True, timeout=120, check=False,
    )  # fmt: skip
    shares = []
    for line in report.stdout.splitlines():
        parts = line.split()
        if len(parts) == 2 and parts[0].endswith("%"):
            shares.append({"name": parts[1], "share": float(parts[0].rstrip("%")) / 100})
    return shares[:top]


def parse_collapsed(text: str) -> list[tuple[list[str], int]]:
    """Parse collapsed stacks ("root;...;leaf COUNT" lines) into (frames, count) pairs."""
    stacks = []
    for line in text.splitlines():
        stack, _, count = line.rpartition(" ")
        if stack and count.isdigit():
            stacks.append((stack.split(";"), int(count)))
    return stacks


def _short(frame: str) -> str:
    """`function (package/module.py)` without the line number."""
    match = FRAME.match(frame)
    if not match:
        return frame
    return f"{match['function']} ({match['file']})"


def stage_of(frames: list[str]) -> str:
    """The stage of POST /leads that a stack belongs to."""
    for name, pattern in STAGES:
        if any(pattern in frame for frame in frames):
            return name
    return "other (thread start-up, timers, GC)"


def summarize(text: str, *, top: int = 25) -> dict[str, Any]:
    """Stage shares, top inclusive functions and top self functions of a profile."""
    stacks = parse_collapsed(text)
    total = sum(count for _, count in stacks) or 1
    stages: Counter[str] = Counter()
    inclusive: Counter[str] = Counter()
    own: Counter[str] = Counter()
    for frames, count in stacks:
        stages[stage_of(frames)] += count
        for name in {_short(frame) for frame in frames}:
            inclusive[name] += count
        own[_short(frames[-1])] += count

    def shares(counter: Counter[str], limit: int | None = None) -> list[dict[str, Any]]:
        return [
            {"name": name, "samples": count, "share": count / total}
            for name, count in counter.most_common(limit)
        ]

    return {
        "samples": total,
        "stages": shares(stages),
        "inclusive": shares(inclusive, top),
        "self": shares(own, top),
    }


def format_summary(summary: dict[str, Any], *, rows: int = 15) -> str:
    """The server's CPU by library, the stage table and the top self-time functions."""
    lines = []
    if summary.get("libraries"):
        lines.append("Server CPU by library (perf):")
        lines += [f"  {item['share']:6.1%}  {item['name']}" for item in summary["libraries"]]
    lines += [f"{summary['samples']} samples of the thread holding the GIL, by stage:"]
    lines += [f"  {item['share']:6.1%}  {item['name']}" for item in summary["stages"]]
    lines.append("Top functions by self time:")
    lines += [f"  {item['share']:6.1%}  {item['name']}" for item in summary["self"][:rows]]
    return "\n".join(lines)
