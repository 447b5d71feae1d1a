"""One measured POST /leads run and what every stage of the bench shares around it.

bench/run.py (the rounds, the at-scale part) and bench/v2.py (its configurations) both
measure with `measure_post`; it lives here, below both, so neither imports the other back.
"""

from __future__ import annotations

import argparse
import time
from datetime import datetime
from pathlib import Path
from typing import Any

from bench import profile
from bench.servers import Server
from bench.wrk import MAX_LEAD_NUMBER, STRIDE, run_wrk
from tests.support.processes import REPO_ROOT

CEILING = "ceiling"
SERVER_MODULES = {
    CEILING: "bench.ceiling",
    "leadapp": "leadapp.server",
    "ablation": "bench.ablation",
    "reference": "bench.reference",
}


class LeadNumbers:
    """Hands out disjoint ranges of lead numbers for the wrk runs against one database."""

    def __init__(self, threads: int) -> None:
        self.span = threads * STRIDE
        self.next = 0

    def take(self) -> int:
        """The offset of a fresh range for one wrk run."""
        offset = self.next
        if offset + self.span > MAX_LEAD_NUMBER:
            raise RuntimeError("out of lead numbers for this database: fewer runs per database")
        self.next += self.span
        return offset


def log(message: str) -> None:
    """Print a progress line with the time of day."""
    print(f"[{datetime.now():%H:%M:%S}] {message}", flush=True)


def measure_post(
    server: Server,
    api_key: str,
    numbers: LeadNumbers,
    args: argparse.Namespace,
    profile_output: Path | None = None,
    variant: str = "plain",
) -> dict[str, Any]:
    """Warm the server up, then measure POST /leads with wrk; add server CPU and peak RSS.

    With `profile_output`, py-spy samples the server during the measurement; `variant`
    picks post_leads.lua's request body.
    """
    load = {"threads": args.wrk_threads, "connections": args.connections, "variant": variant}
    run_wrk(server.url, api_key=api_key, offset=numbers.take(), duration=args.warmup, **load)
    recorder = perf_recorder = None
    perf_data = profile_output.with_suffix(".perf.data") if profile_output else None
    if profile_output is not None and perf_data is not None:
        recorder = profile.record(server.pid, profile_output, duration=args.duration)
        if profile.perf():
            perf_recorder = profile.perf_record(server.pid, perf_data, duration=args.duration)
    (user_before, system_before), started = server.cpu_times(), time.monotonic()
    result = run_wrk(
        server.url, api_key=api_key, offset=numbers.take(), duration=args.duration, **load
    )
    wall = time.monotonic() - started
    measured = result.as_dict()
    user, system = server.cpu_times()
    measured["server_user_share"] = (user - user_before) / wall
    measured["server_system_share"] = (system - system_before) / wall
    measured["server_cpu_share"] = measured["server_user_share"] + measured["server_system_share"]
    measured["server_cpu_ms_per_request"] = (
        measured["server_cpu_share"] * wall * 1000 / max(result.requests, 1)
    )
    measured["peak_rss_mb"] = server.peak_rss_mb()
    if recorder is not None and profile_output is not None:
        text, _ = recorder.communicate(timeout=args.duration + 60)
        if recorder.returncode != 0 or not profile_output.exists():
            raise RuntimeError(f"py-spy failed: {text.decode(errors='replace')}")
        measured["profile"] = profile.summarize(profile_output.read_text())
        measured["profile"]["collapsed_stacks"] = str(profile_output.relative_to(REPO_ROOT))
    if perf_recorder is not None and perf_data is not None:
        perf_recorder.communicate(timeout=args.duration + 60)
        measured["profile"]["libraries"] = profile.perf_libraries(perf_data)
        perf_data.unlink(missing_ok=True)
    return measured


def run_line(name: str, run: dict[str, Any]) -> str:
    """One progress line for a finished run."""
    return (
        f"{name:<22} {run['requests_per_s']:7.0f} req/s  p50 {run['p50_ms']:6.1f} ms  "
        f"p99 {run['p99_ms']:6.1f} ms  non-2xx {run['non_2xx']:>5}  "
        f"RSS {run['peak_rss_mb']:4.0f} MB  server CPU {run['server_cpu_share']:4.0%}  "
        f"wrk CPU {run['generator_cpu_share']:4.0%}"
    )
