"""The load generator: wrk, pinned to its own core, with the POST /leads Lua script."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import time
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

from bench.servers import CLIENT_CORE

LUA_SCRIPT = Path(__file__).resolve().parent / "post_leads.lua"
JSON_MARKER = "WRK_JSON "
# Lead numbers reserved per wrk thread and run (see post_leads.lua): far more than a
# thread sends in a run here, and 10,000,000 / (2 * STRIDE) = 50 runs fit.
STRIDE = 100_000
MAX_LEAD_NUMBER = 10_000_000


def ensure_wrk() -> str:
    """The path of wrk, installing Debian's package when it is missing (needs root)."""
    found = shutil.which("wrk")
    if found:
        return found
    print("wrk is missing: apt-get install -y wrk", flush=True)
    install = ["apt-get", "install", "-y", "-q", "wrk"]
    if subprocess.run(install, check=False).returncode != 0:
        subprocess.run(["apt-get", "update", "-q"], check=True)
        subprocess.run(install, check=True)
    found = shutil.which("wrk")
    if not found:
        raise RuntimeError("wrk could not be installed")
    return found


@dataclass
class WrkResult:
    """One wrk run: what the Lua done() printed, plus the generator's own CPU use."""

    requests: int
    duration_s: float
    requests_per_s: float
    p50_ms: float
    p90_ms: float
    p99_ms: float
    max_ms: float
    statuses: dict[str, int]
    non_2xx: int
    socket_errors: dict[str, int]
    generator_cpu_s: float
    generator_cpu_share: float
    text: str = field(repr=False)

    def as_dict(self) -> dict[str, Any]:
        """A JSON-ready dict (without wrk's text output)."""
        data = asdict(self)
        data.pop("text")
        return data


def parse_output(output: str) -> dict[str, Any]:
    """The JSON line printed by post_leads.lua's done()."""
    for line in output.splitlines():
        if line.startswith(JSON_MARKER):
            return json.loads(line[len(JSON_MARKER) :])
    raise RuntimeError(f"wrk printed no result line:\n{output}")


def run_wrk(
    url: str,
    *,
    api_key: str,
    offset: int,
    duration: float,
    threads: int,
    connections: int,
    variant: str = "plain",
) -> WrkResult:
    """Run wrk pinned to the client core, sending leads OFFSET + t * STRIDE + c.

    `variant` picks the request body (see post_leads.lua: plain, attribution, duplicate,
    form5).

    The generator's CPU comes from wait4()'s rusage of the wrk process itself
    (taskset execs wrk, so it is the same process).
    """
    command = [
        "taskset", "-c", str(CLIENT_CORE), ensure_wrk(),
        f"-t{threads}", f"-c{connections}", f"-d{duration:g}s", "--latency",
        "-s", str(LUA_SCRIPT), url, "--", api_key, str(offset), str(STRIDE), variant,
    ]  # fmt: skip
    started = time.monotonic()
    process = subprocess.Popen(command, stdout=subprocess.PIPE, stderr=subprocess.STDOUT)
    output = process.stdout.read().decode("utf-8", "replace") if process.stdout else ""
    _pid, status, usage = os.wait4(process.pid, 0)
    process.returncode = os.waitstatus_to_exitcode(status)
    wall = time.monotonic() - started
    if process.returncode != 0:
        raise RuntimeError(f"wrk exited {process.returncode}:\n{output}")
    data = parse_output(output)
    if data["requests"] >= STRIDE:  # a thread may have run past its range
        raise RuntimeError(f"{data['requests']} requests: raise STRIDE in bench/wrk.py")
    latency = data["latency_us"]
    duration_s = data["duration_us"] / 1e6
    statuses = {str(key): int(value) for key, value in data["statuses"].items()}
    ok = sum(count for status_, count in statuses.items() if status_.startswith("2"))
    cpu = usage.ru_utime + usage.ru_stime
    return WrkResult(
        requests=data["requests"],
        duration_s=duration_s,
        requests_per_s=data["requests"] / duration_s,
        p50_ms=latency["p50"] / 1000,
        p90_ms=latency["p90"] / 1000,
        p99_ms=latency["p99"] / 1000,
        max_ms=latency["max"] / 1000,
        statuses=statuses,
        non_2xx=data["requests"] - ok,
        socket_errors={k: v for k, v in data["errors"].items() if k != "status"},
        generator_cpu_s=cpu,
        generator_cpu_share=cpu / wall,
        text=output,
    )
