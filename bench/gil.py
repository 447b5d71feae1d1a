"""`python -m bench.gil`: why waitress's main loop costs more per request behind a busy app.

waitress reads, parses and queues every request on its main thread, and the app runs on
its worker threads; on one core they share the CPU and the GIL. The ceiling app is served
as the bench serves it (pinned to core 0, wrk -t2 -c16 on core 1), once bare, then with
each request holding the GIL for some CPU (as a real view's Python does), or waiting as
long with the GIL released (as a view waiting on its database would). The main thread's
CPU per request, read from /proc/<pid>/task/<tid>/stat, shows what the workers' hold on
the GIL alone does to it; the requests are byte-identical throughout.
"""

from __future__ import annotations

import argparse
import os
import statistics
import sys
from pathlib import Path

from bench.ceiling import HOLD_GIL_MS, RELEASE_GIL_MS
from bench.servers import Server, workdir
from bench.wrk import STRIDE, run_wrk

CASES: tuple[tuple[str, dict[str, str]], ...] = (
    ("bare", {}),
    ("hold the GIL 1 ms", {HOLD_GIL_MS: "1"}),
    ("hold the GIL 3 ms", {HOLD_GIL_MS: "3"}),
    ("release it 3 ms", {RELEASE_GIL_MS: "3"}),
    ("hold 1.5 ms, release 1.5 ms", {HOLD_GIL_MS: "1.5", RELEASE_GIL_MS: "1.5"}),
)


def thread_cpu_seconds(pid: int) -> dict[str, float]:
    """CPU seconds (user + system) of each thread of `pid`, by thread id."""
    tick = os.sysconf("SC_CLK_TCK")
    seconds = {}
    for task in Path(f"/proc/{pid}/task").iterdir():
        try:
            fields = (task / "stat").read_text().rpartition(")")[2].split()
        except OSError:
            continue  # the thread ended meanwhile
        seconds[task.name] = (int(fields[11]) + int(fields[12])) / tick
    return seconds


def measure(env: dict[str, str], log_path: Path, duration: float) -> dict[str, float]:
    """One run: req/s, and CPU ms per request of the whole server and of its main thread."""
    with Server("bench.ceiling", env, log_path, threads=4) as server:
        load = {"api_key": "ceiling", "threads": 2, "connections": 16}
        run_wrk(server.url, offset=0, duration=2, **load)
        before = thread_cpu_seconds(server.pid)
        result = run_wrk(server.url, offset=STRIDE * 2, duration=duration, **load)
        after = thread_cpu_seconds(server.pid)
    main = str(server.pid)  # the main thread's id is the process id
    per_request = 1000 / max(result.requests, 1)
    total = sum(after.values()) - sum(before.get(tid, 0.0) for tid in after)
    return {
        "requests_per_s": result.requests_per_s,
        "server_cpu_ms_per_request": total * per_request,
        "main_thread_cpu_ms_per_request": (after[main] - before[main]) * per_request,
    }


def main(argv: list[str] | None = None) -> int:
    """Measure every case --runs times, interleaved; print the medians."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=3)
    parser.add_argument("--duration", type=float, default=4.0)
    args = parser.parse_args(argv)
    directory = workdir()
    results: dict[str, list[dict[str, float]]] = {name: [] for name, _ in CASES}
    for run in range(args.runs):
        for case, (name, settings) in enumerate(CASES):
            log_path = directory / f"ceiling-{run}-{case}.log"
            results[name].append(measure({**os.environ, **settings}, log_path, args.duration))
    bare = statistics.median(r["main_thread_cpu_ms_per_request"] for r in results["bare"])
    print(f"medians of {args.runs} interleaved runs of {args.duration:g} s, waitress 4 threads")
    header = ("each request", "req/s", "server CPU ms", "main thread ms", "/ bare")
    print("{:<30} {:>7} {:>14} {:>15} {:>7}".format(*header))
    for name, runs in results.items():
        main_ms = statistics.median(r["main_thread_cpu_ms_per_request"] for r in runs)
        print(
            f"{name:<30} {statistics.median(r['requests_per_s'] for r in runs):7.0f} "
            f"{statistics.median(r['server_cpu_ms_per_request'] for r in runs):14.3f} "
            f"{main_ms:15.3f} {main_ms / bare:6.1f}x"
        )
    return 0


if __name__ == "__main__":
    sys.exit(main())
