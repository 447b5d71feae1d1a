"""The operator reads at scale: the CSV export's speed and memory, and GET /stats?days=366.

`measure_export` streams GET /leads/export.csv from a running server over one connection,
counting rows as they arrive (and throwing them away), while a thread samples the server's
resident set size every 50 ms: the export must run in flat memory, so what matters is the
peak during the export next to the RSS just before it (after a warm-up export of one day).
`measure_stats` times GET /stats?days=366: the first request groups every closed day of the
table, the later ones only today (see leadapp/services/stats.py).

Part of `python -m bench` (on the database filled for the at-scale runs); on its own:

    python -m bench.export --count 50000 [--backend sqlite|postgres] [--samples 100]
"""

from __future__ import annotations

import argparse
import http.client
import json
import sys
import threading
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

from sqlalchemy import create_engine, text

from bench.fill import fill_in_process
from bench.reads import summarize
from bench.servers import Server, bench_keys, databases_for, fresh_leadapp, workdir

RSS_SAMPLE_SECONDS = 0.05
READ_BYTES = 256 * 1024
STATS_PATH = "/stats?days=366"
RESULT_MARKER = "EXPORT_JSON "
# The targets.
MAX_RSS_GROWTH_MB = 50.0
MAX_EXPORT_SECONDS_PER_MILLION = 120.0
MAX_STATS_P99_MS = 200.0


def rss_mb(pid: int) -> float:
    """A process's current resident set size (VmRSS) in MiB."""
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024
    raise RuntimeError(f"no VmRSS for pid {pid}")


class RssSampler:
    """Samples a process's RSS in a thread until stopped; keeps the peak."""

    def __init__(self, pid: int) -> None:
        self.pid = pid
        self.peak = rss_mb(pid)
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)

    def _run(self) -> None:
        """Sample until stopped."""
        while not self._stop.wait(RSS_SAMPLE_SECONDS):
            self.peak = max(self.peak, rss_mb(self.pid))

    def __enter__(self) -> RssSampler:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        self._thread.join(timeout=5)
        self.peak = max(self.peak, rss_mb(self.pid))


def measure_export(server: Server, api_key: str, expected_rows: int | None) -> dict[str, Any]:
    """Stream the whole export once; rows/s, bytes, and the server's RSS before and at peak."""
    connection = http.client.HTTPConnection("127.0.0.1", server.port, timeout=600)
    headers = {"Authorization": f"Bearer {api_key}"}
    # Warm up with the export of the oldest day (1/365 of the fill): imports, caches and
    # the allocator's first arenas then count as the server at rest, not as the export.
    oldest_day = (datetime.now(UTC).date() - timedelta(days=364)).isoformat()
    connection.request("GET", f"/leads/export.csv?to={oldest_day}", headers=headers)
    warm = connection.getresponse()
    warm.read()
    if warm.status != 200:
        raise RuntimeError(f"the warm-up export answered {warm.status}")
    before = rss_mb(server.pid)
    newlines = 0
    size = 0
    try:
        with RssSampler(server.pid) as sampler:
            started = time.perf_counter()
            connection.request("GET", "/leads/export.csv", headers=headers)
            response = connection.getresponse()
            if response.status != 200:
                raise RuntimeError(f"export answered {response.status}: {response.read(300)!r}")
            first_byte = time.perf_counter() - started
            while chunk := response.read(READ_BYTES):
                size += len(chunk)
                newlines += chunk.count(b"\n")
            seconds = time.perf_counter() - started
    finally:
        connection.close()
    # The fill's names, emails and URLs hold no line breaks: one line per row, plus the header.
    rows = newlines - 1
    if expected_rows is not None and rows != expected_rows:
        raise RuntimeError(f"the export had {rows} rows, expected {expected_rows}")
    return {
        "rows": rows,
        "bytes": size,
        "seconds": seconds,
        "first_byte_ms": first_byte * 1000,
        "rows_per_s": rows / seconds,
        "rss_before_mb": before,
        "rss_peak_mb": sampler.peak,
        "rss_growth_mb": sampler.peak - before,
    }


def measure_stats(server: Server, api_key: str, samples: int) -> dict[str, Any]:
    """Latency of GET /stats?days=366 over one keep-alive connection, one at a time."""
    connection = http.client.HTTPConnection("127.0.0.1", server.port, timeout=60)
    headers = {"Authorization": f"Bearer {api_key}"}
    latencies: list[float] = []
    cold = 0.0
    total = None
    try:
        for index in range(samples + 3):
            started = time.perf_counter()
            connection.request("GET", STATS_PATH, headers=headers)
            response = connection.getresponse()
            body = response.read()
            elapsed = (time.perf_counter() - started) * 1000
            if response.status != 200:
                raise RuntimeError(f"GET {STATS_PATH} answered {response.status}: {body[:300]!r}")
            total = json.loads(body)["total_leads"]
            if index == 0:
                cold = elapsed  # groups every closed day; later requests only today
            if index >= 3:  # the first few warm the caches
                latencies.append(elapsed)
    finally:
        connection.close()
    return {"path": STATS_PATH, "total_leads": total, "first_ms": cold, **summarize(latencies)}


def measure_operator_reads(
    server: Server, api_key: str, filled: int | None, samples: int
) -> dict[str, Any]:
    """The export, then the statistics, on one server; with the targets checked.

    `filled`: the exact number of leads, checked against the export (None: not checked).
    """
    export = measure_export(server, api_key, filled)
    stats = measure_stats(server, api_key, samples)
    seconds_per_million = export["seconds"] * 1_000_000 / max(export["rows"], 1)
    return {
        "export": export,
        "stats": stats,
        "targets": {
            f"export RSS growth < {MAX_RSS_GROWTH_MB:.0f} MB": export["rss_growth_mb"]
            < MAX_RSS_GROWTH_MB,
            "export of 1M rows < 2 min (extrapolated)": seconds_per_million
            < MAX_EXPORT_SECONDS_PER_MILLION,
            f"GET /stats?days=366 p99 < {MAX_STATS_P99_MS:.0f} ms": stats["p99_ms"]
            < MAX_STATS_P99_MS,
        },
    }


def format_result(label: str, result: dict[str, Any]) -> str:
    """Lines for the bench log."""
    export, stats = result["export"], result["stats"]
    return (
        f"{label} export: {export['rows']:,} rows in {export['seconds']:.1f} s "
        f"({export['rows_per_s']:,.0f} rows/s, {export['bytes'] / 2**20:.0f} MiB, first byte "
        f"{export['first_byte_ms']:.0f} ms); server RSS {export['rss_before_mb']:.0f} MB before, "
        f"{export['rss_peak_mb']:.0f} MB peak (+{export['rss_growth_mb']:.1f} MB)\n"
        f"{label} GET {stats['path']}: first (cold) {stats.get('first_ms', 0):.0f} ms, then "
        f"median {stats['median_ms']:.1f} ms, p99 {stats['p99_ms']:.1f} ms "
        f"({stats['samples']} samples, {stats['total_leads']:,} leads counted)"
    )


def analyze(database_url: str) -> None:
    """Refresh the planner's statistics (and PostgreSQL's visibility map) after the bulk fill.

    A live database gets this from autovacuum; right after a bulk load it has not run yet,
    and an index-only scan would still visit the table.
    """
    engine = create_engine(database_url)
    try:
        with engine.connect() as connection:
            if connection.dialect.name == "postgresql":
                connection.execution_options(isolation_level="AUTOCOMMIT").execute(
                    text("VACUUM (ANALYZE) leads")
                )
            else:
                connection.execute(text("ANALYZE"))
                connection.commit()
    finally:
        engine.dispose()


def main(argv: list[str] | None = None) -> int:
    """Fill a fresh database, serve it, measure the export and the statistics once."""
    parser = argparse.ArgumentParser(prog="python -m bench.export", description=__doc__)
    parser.add_argument("--count", type=int, default=1_000_000, help="leads to bulk-fill")
    parser.add_argument("--backend", choices=("sqlite", "postgres"), default="sqlite")
    parser.add_argument("--samples", type=int, default=100, help="GET /stats samples")
    parser.add_argument("--server-threads", type=int, default=4)
    args = parser.parse_args(argv)
    scratch = workdir()
    databases = databases_for(args.backend, scratch)
    problem = databases.problem()
    if problem:
        print(f"PostgreSQL unavailable: {problem}", file=sys.stderr)
        return 2
    url, env, api_key = fresh_leadapp(
        databases, bench_keys(), "export", LEADAPP_WEBHOOK_WORKER="off"
    )
    try:
        filled = fill_in_process(env, args.count)
        print(f"filled {filled['count']:,} leads in {filled['seconds']:.0f} s", flush=True)
        analyze(url)
        server = Server("leadapp.server", env, scratch / "server.log", threads=args.server_threads)
        with server:
            result = measure_operator_reads(server, api_key, filled["count"], args.samples)
        result["fill"] = filled
        result["backend"] = args.backend
        print(format_result(f"{args.backend}@{filled['count']:,}", result))
        for name, met in result["targets"].items():
            print(f"  {'met   ' if met else 'MISSED'}  {name}")
        print(RESULT_MARKER + json.dumps(result), flush=True)
    finally:
        databases.discard(url)
    return 0


if __name__ == "__main__":
    sys.exit(main())
