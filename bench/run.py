"""`python -m bench`: POST /leads throughput against the ceiling, at scale, and profiled.

Every measured run starts a fresh server pinned to core 0 (fresh database for LeadApp)
and drives it with wrk pinned to core 1. Configurations are interleaved (ceiling,
sqlite, postgres, ceiling, ...), each round's order rotated by one, so that the machine's
noise spreads over all of them; the medians are reported. See docs/benchmark.md for what
is measured and why.
"""

from __future__ import annotations

import argparse
import os
import shutil
import sys
import time
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from bench import hosted, mail, profile, report, v2
from bench.export import analyze, format_result, measure_operator_reads
from bench.fill import fill_in_process
from bench.measure import CEILING, SERVER_MODULES, LeadNumbers, log, measure_post, run_line
from bench.reads import measure_reads
from bench.servers import (
    CLIENT_CORE,
    PostgresDatabases,
    Server,
    SqliteDatabases,
    bench_keys,
    databases_for,
    fresh_leadapp,
    redact,
    workdir,
)
from bench.wrk import ensure_wrk
from tests.support.processes import REPO_ROOT

# What LeadApp on SQLite does without its rate limiter and/or access log: upper bounds
# of what making those parts cheaper could gain (see bench/ablation.py).
ABLATIONS = {
    "sqlite w/o limiter": "no-rate-limit",
    "sqlite w/o access log": "no-access-log",
    "sqlite w/o both": "no-rate-limit,no-access-log",
}
TARGETS_TEXT = (
    "SQLite >= 30% of ceiling, 0 non-2xx, p99 < 40 ms; SQLite at scale >= 90% of empty; "
    "PostgreSQL >= 25% of ceiling, 0 non-2xx; reads at scale < 50 ms (p99); RSS < 150 MB; "
    "export at scale: RSS growth < 50 MB, 1M rows < 2 min; GET /stats?days=366 p99 < 200 ms"
)


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    """The bench's command line."""
    parser = argparse.ArgumentParser(prog="python -m bench", description=__doc__)
    parser.add_argument("--runs", type=int, default=3, help="runs per configuration")
    parser.add_argument("--duration", type=float, default=10.0, help="seconds per run")
    parser.add_argument("--warmup", type=float, default=2.0, help="warm-up seconds per run")
    parser.add_argument("--connections", type=int, default=16, help="wrk -c")
    parser.add_argument("--wrk-threads", type=int, default=2, help="wrk -t")
    parser.add_argument("--server-threads", type=int, default=4, help="waitress threads")
    parser.add_argument(
        "--scale",
        type=int,
        default=1_000_000,
        help="leads to bulk-fill for the at-scale runs and reads (0: skip that part)",
    )
    parser.add_argument(
        "--scale-backends",
        default="sqlite",
        help="comma-separated backends measured at scale: sqlite, postgres",
    )
    parser.add_argument("--depth", type=int, default=1000, help="page reached by the deep read")
    parser.add_argument("--samples", type=int, default=100, help="samples per read")
    parser.add_argument("--no-postgres", action="store_true", help="skip PostgreSQL")
    parser.add_argument("--no-profile", action="store_true", help="skip the py-spy profile")
    parser.add_argument(
        "--no-ablations",
        action="store_true",
        help="skip the runs without rate limiter / access log (bench/ablation.py)",
    )
    parser.add_argument("--no-chart", action="store_true", help="do not write docs/benchmark.png")
    parser.add_argument(
        "--no-export",
        action="store_true",
        help="skip the CSV export and GET /stats measurement at scale (bench/export.py)",
    )
    v2.add_arguments(parser)
    mail.add_arguments(parser)
    return parser.parse_args(argv)


class Bench:
    """One invocation of the bench: its keys, databases, scratch directory and results."""

    def __init__(self, args: argparse.Namespace) -> None:
        self.args = args
        self.keys = bench_keys()
        self.dir = workdir()
        self.stamp = datetime.now(UTC).strftime("%Y%m%dT%H%M%SZ")
        self.backends: dict[str, SqliteDatabases | PostgresDatabases] = {
            "sqlite": databases_for("sqlite", self.dir)
        }
        self.skipped: dict[str, str] = {}
        self.server_count = 0

    def add_postgres(self) -> None:
        """Use PostgreSQL when it is reachable; otherwise say why it is skipped."""
        if self.args.no_postgres:
            self.skipped["postgres"] = "--no-postgres"
            return
        databases = databases_for("postgres", self.dir)
        problem = databases.problem()
        if problem:
            self.skipped["postgres"] = problem
            log(f"PostgreSQL SKIPPED: {problem}")
            return
        log(f"PostgreSQL: {redact(databases.url or '')} (dropped and created again for every run)")
        self.backends["postgres"] = databases

    def server(self, module: str, env: dict[str, str]) -> Server:
        """A server of this bench, logging into the scratch directory."""
        self.server_count += 1
        log_path = self.dir / f"server-{self.server_count}.log"
        return Server(module, env, log_path, threads=self.args.server_threads)

    def leadapp_database(self, backend: str, purpose: str = "") -> tuple[str, dict[str, str], str]:
        """A fresh, migrated database with an API key: its URL, environment and key."""
        return fresh_leadapp(self.backends[backend], self.keys, purpose)

    def run_configuration(self, name: str, profile_output: Path | None = None) -> dict[str, Any]:
        """One measured run of a configuration on a fresh server (and fresh database)."""
        if name in v2.CONFIGURATIONS:
            return v2.run_configuration(self, name)
        if name in mail.CONFIGURATIONS:
            return mail.run_configuration(self, name)
        numbers = LeadNumbers(self.args.wrk_threads)
        if name == CEILING:
            with self.server(SERVER_MODULES[CEILING], dict(os.environ)) as server:
                return measure_post(server, "ceiling", numbers, self.args)
        module = SERVER_MODULES["leadapp"]
        backend = name.removeprefix("leadapp-")
        if name in ABLATIONS:
            module, backend = SERVER_MODULES["ablation"], "sqlite"
        url, env, api_key = self.leadapp_database(backend)
        if name in ABLATIONS:
            env["BENCH_ABLATION"] = ABLATIONS[name]
        try:
            with self.server(module, env) as server:
                return measure_post(server, api_key, numbers, self.args, profile_output)
        finally:
            self.backends[backend].discard(url)

    def profile_configuration(self, name: str) -> dict[str, Any]:
        """A run with py-spy attached to the server (kept out of the medians)."""
        output = report.RESULTS_DIR / f"{self.stamp}-profile-{name}.txt"
        output.parent.mkdir(parents=True, exist_ok=True)
        return self.run_configuration(name, profile_output=output)

    def scale(self, backend: str) -> dict[str, Any]:
        """Fill a database with --scale leads, then measure POST /leads and the reads on it."""
        args = self.args
        url, env, api_key = self.leadapp_database(backend, "scale")
        try:
            log(f"{backend}: filling {args.scale:,} leads (bench/fill.py)")
            filled = fill_in_process(env, args.scale)
            log(
                f"{backend}: filled {filled['count']:,} leads in {filled['seconds']:.0f} s "
                f"({filled['rows_per_s']:,.0f} rows/s)"
            )
            # Each run at scale is paired with an empty-table run just before it, so the
            # ratio compares like with like on a machine whose speed drifts.
            numbers = LeadNumbers(args.wrk_threads)
            runs, empty_runs = [], []
            for index in range(args.runs):
                empty = self.run_configuration(f"leadapp-{backend}")
                empty_runs.append(empty)
                log(run_line(f"{backend} paired empty #{index + 1}", empty))
                with self.server(SERVER_MODULES["leadapp"], env) as server:
                    run = measure_post(server, api_key, numbers, args)
                runs.append(run)
                log(run_line(f"{backend}@{args.scale:,} #{index + 1}", run))
            with self.server(SERVER_MODULES["leadapp"], env) as server:
                reads = measure_reads(
                    server.port,
                    api_key,
                    filled=args.scale,
                    depth=args.depth,
                    samples=args.samples,
                )
                reads["peak_rss_mb"] = server.peak_rss_mb()
            reads["filled"] = filled["count"]
            for key in ("page_1", "deep_page", "email_lookup", "phone_lookup"):
                item = reads[key]
                log(
                    f"{backend}@{args.scale:,} GET {key:<13} median {item['median_ms']:6.2f} ms"
                    f"  p99 {item['p99_ms']:6.2f} ms"
                )
            result = {"fill": filled, "runs": runs, "empty_runs": empty_runs, "reads": reads}
            if not args.no_export:
                # On a fresh server, so its RSS before the export is a server's at rest.
                analyze(url)
                with self.server(SERVER_MODULES["leadapp"], env) as server:
                    # The table also holds the leads the runs at scale posted: not checked.
                    result["operator"] = measure_operator_reads(server, api_key, None, args.samples)
                log(format_result(f"{backend}@{args.scale:,}", result["operator"]))
            return result
        finally:
            self.backends[backend].discard(url)


def check_targets(
    summary: dict[str, dict[str, Any]], scale: dict[str, dict[str, Any]], scale_name: str
) -> dict[str, bool]:
    """Which of the issue's targets were met (only those that were measured)."""
    checks: dict[str, bool] = {}
    ceiling = summary[CEILING]["requests_per_s"]
    if "leadapp-sqlite" in summary:
        sqlite = summary["leadapp-sqlite"]
        checks["sqlite >= 30% of ceiling"] = sqlite["requests_per_s"] >= 0.30 * ceiling
        checks["sqlite 0 non-2xx"] = sqlite["non_2xx_total"] == 0
        checks["sqlite p99 < 40 ms"] = sqlite["p99_ms"] < 40
    if "leadapp-postgres" in summary:
        postgres = summary["leadapp-postgres"]
        checks["postgres >= 25% of ceiling"] = postgres["requests_per_s"] >= 0.25 * ceiling
        checks["postgres 0 non-2xx"] = postgres["non_2xx_total"] == 0
    for backend, result in scale.items():
        empty = summary.get(f"{backend} empty (paired)") or summary.get(f"leadapp-{backend}")
        at_scale = summary[f"leadapp-{backend}@{scale_name}"]
        if empty:
            checks[f"{backend}@{scale_name} >= 90% of empty (paired runs)"] = (
                at_scale["requests_per_s"] >= 0.9 * empty["requests_per_s"]
            )
        checks[f"{backend}@{scale_name} 0 non-2xx"] = at_scale["non_2xx_total"] == 0
        reads = result["reads"]
        worst = max(reads[key]["p99_ms"] for key in ("page_1", "deep_page", "email_lookup"))
        checks[f"{backend}@{scale_name} reads p99 < 50 ms"] = worst < 50
        for name, met in result.get("operator", {}).get("targets", {}).items():
            checks[f"{backend}@{scale_name} {name}"] = met
    for name, row in summary.items():
        if name != CEILING:
            checks[f"{name} RSS < 150 MB"] = row["peak_rss_mb"] < 150
    return checks


def scale_label(count: int) -> str:
    """A short name for a table size: 100k, 1M."""
    return f"{count // 1_000_000}M" if count >= 1_000_000 else f"{count // 1000}k"


def round_order(configurations: list[str], index: int) -> list[str]:
    """Round `index`'s order: the list rotated by one place per round.

    On this VM a slot in the round can be slower for every configuration that lands in it
    (the run right after the ceiling's, for one); rotating puts each configuration in each
    slot once every len(configurations) rounds, so no ratio inherits a slot's bias.
    """
    shift = index % len(configurations) if configurations else 0
    return configurations[shift:] + configurations[:shift]


def measure_everything(bench: Bench) -> dict[str, Any]:
    """The interleaved runs, the profiles and the at-scale part; raw results by part."""
    args = bench.args
    configurations = [CEILING] + [f"leadapp-{backend}" for backend in bench.backends]
    if not args.no_ablations:
        configurations += list(ABLATIONS)
    configurations += v2.configurations(args)
    configurations += mail.configurations(args)
    runs: dict[str, list[dict[str, Any]]] = {name: [] for name in configurations}
    for index in range(args.runs):
        for name in round_order(configurations, index):
            run = bench.run_configuration(name)
            runs[name].append(run)
            log(run_line(f"{name} #{index + 1}", run))

    profiles: dict[str, Any] = {}
    if not args.no_profile and profile.py_spy() is None:
        bench.skipped["profile"] = "py-spy is not installed (requirements-bench.txt)"
    elif not args.no_profile:
        for name in [f"leadapp-{backend}" for backend in bench.backends]:
            run = bench.profile_configuration(name)
            profiles[name] = {**run.pop("profile"), "run": run}
            log(run_line(f"{name} (profiled)", run))
            print(profile.format_summary(profiles[name]), flush=True)

    scale: dict[str, dict[str, Any]] = {}
    for backend in [b.strip() for b in args.scale_backends.split(",") if b.strip()]:
        if args.scale <= 0:
            break
        if backend not in bench.backends:
            bench.skipped[f"scale-{backend}"] = f"{backend} is not available"
            continue
        scale[backend] = bench.scale(backend)
        runs[f"{backend} empty (paired)"] = scale[backend]["empty_runs"]
        runs[f"leadapp-{backend}@{scale_label(args.scale)}"] = scale[backend]["runs"]
    return {
        "runs": runs,
        "profiles": profiles,
        "scale": scale,
        "v2": v2.measure_webhooks(bench),
        "hosted": hosted.measure(bench.dir),
        "mail": mail.measure(bench),
    }


def print_report(
    args: argparse.Namespace,
    summary: dict[str, dict[str, Any]],
    scale: dict[str, dict[str, Any]],
    skipped: dict[str, str],
    targets: dict[str, bool],
) -> None:
    """The table of medians, the reads at scale, what was skipped and the targets."""
    print()
    print(
        f"POST /leads, medians of {args.runs} runs of {args.duration:g} s, "
        f"wrk -t{args.wrk_threads} -c{args.connections} on core {CLIENT_CORE}, "
        f"waitress {args.server_threads} threads on core 0:"
    )
    print(report.table(summary))
    for backend, result in scale.items():
        reads = result["reads"]
        parts = [
            f"{label} {reads[key]['median_ms']:.1f}/{reads[key]['p99_ms']:.1f} ms"
            for key, label in (
                ("page_1", "page 1"),
                ("deep_page", f"page {reads['deep_page']['page']}"),
                ("email_lookup", "email lookup"),
                ("phone_lookup", "phone lookup"),
            )
        ]
        print(
            f"\n{backend} at {result['fill']['count']:,} leads (filled in "
            f"{result['fill']['seconds']:.0f} s), GET /leads?limit=50 median/p99: "
            + ", ".join(parts)
        )
        if "operator" in result:
            print(format_result(backend, result["operator"]))
    for name, reason in skipped.items():
        print(f"SKIPPED {name}: {reason}")
    print(f"\nTargets ({TARGETS_TEXT}):")
    for name, met in targets.items():
        print(f"  {'met   ' if met else 'MISSED'}  {name}")


def main(argv: list[str] | None = None) -> int:
    """Run the whole bench, print the table, write the JSON results and the chart."""
    args = parse_args(argv)
    started = time.monotonic()
    if (os.cpu_count() or 1) < 2:
        print("the bench needs two cores: server on core 0, load generator on core 1")
        return 2
    os.sched_setaffinity(0, {CLIENT_CORE})  # this process and its helpers stay off core 0
    ensure_wrk()
    bench = Bench(args)
    log(f"scratch directory {bench.dir}")
    try:
        bench.add_postgres()
        measured = measure_everything(bench)
    finally:
        shutil.rmtree(bench.dir, ignore_errors=True)

    runs, scale = measured["runs"], measured["scale"]
    summary = {name: report.medians(items) for name, items in runs.items()}
    ceiling = summary[CEILING]["requests_per_s"]
    for row in summary.values():
        row["ratio_to_ceiling"] = row["requests_per_s"] / ceiling
    measured["v2"] = v2.summary_json(summary, runs, measured["v2"])
    targets = check_targets(summary, scale, scale_label(args.scale))
    targets.update(v2.check_targets(summary, measured["v2"]))
    targets.update(mail.check_targets(summary, measured["mail"]))
    elapsed = time.monotonic() - started
    v2.print_report(summary, measured["v2"])
    print(hosted.format_result(measured["hosted"]))
    targets["hosted form-encoded within 10 % of JSON"] = measured["hosted"]["within_10_percent"]
    mail.print_report(summary, measured["mail"])
    print_report(args, summary, scale, bench.skipped, targets)

    results = {
        "stamp": bench.stamp,
        "command": "python -m bench " + " ".join(argv if argv is not None else sys.argv[1:]),
        "arguments": vars(args),
        "machine": report.machine(),
        "elapsed_s": elapsed,
        "skipped": bench.skipped,
        "summary": summary,
        "targets": targets,
        **measured,
    }
    json_path = report.write_json(results, bench.stamp)
    print(f"\nRaw results: {json_path.relative_to(REPO_ROOT)}")
    if not args.no_chart:
        reads = {backend: result["reads"] for backend, result in scale.items()}
        chart = report.write_chart(summary, reads or None, report.CHART_PATH)
        print(f"Chart: {chart.relative_to(REPO_ROOT)}")
    print(f"Elapsed: {elapsed / 60:.1f} min")
    return 0
