"""The bench's outputs: medians per configuration, the printed table, the JSON and the chart."""

from __future__ import annotations

import json
import os
import platform
import statistics
from pathlib import Path
from typing import Any

CHART_PATH = Path(__file__).resolve().parent.parent / "docs" / "benchmark.png"
RESULTS_DIR = Path(__file__).resolve().parent / "results"
METRICS = (
    "requests_per_s",
    "p50_ms",
    "p99_ms",
    "non_2xx",
    "peak_rss_mb",
    "server_cpu_share",
    "server_user_share",
    "server_system_share",
    "server_cpu_ms_per_request",
    "generator_cpu_share",
)


def machine() -> dict[str, Any]:
    """The machine the bench ran on: cores, CPU model, memory, kernel, Python."""
    model = "unknown"
    for line in Path("/proc/cpuinfo").read_text().splitlines():
        if line.startswith("model name"):
            model = line.partition(":")[2].strip()
            break
    memory_kb = 0
    for line in Path("/proc/meminfo").read_text().splitlines():
        if line.startswith("MemTotal:"):
            memory_kb = int(line.split()[1])
    return {
        "nproc": os.cpu_count(),
        "cpu_model": model,
        "memory_gib": round(memory_kb / 1024 / 1024, 1),
        "kernel": platform.release(),
        "python": platform.python_version(),
    }


def medians(runs: list[dict[str, Any]]) -> dict[str, Any]:
    """The median of every metric over a configuration's runs (non-2xx: also the total)."""
    result: dict[str, Any] = {"runs": len(runs)}
    for metric in METRICS:
        result[metric] = statistics.median(run[metric] for run in runs)
    result["non_2xx_total"] = sum(run["non_2xx"] for run in runs)
    result["requests_per_s_min"] = min(run["requests_per_s"] for run in runs)
    result["requests_per_s_max"] = max(run["requests_per_s"] for run in runs)
    return result


def table(summary: dict[str, dict[str, Any]], ceiling: str = "ceiling") -> str:
    """A text table of the medians, with each configuration's share of the ceiling."""
    base = summary.get(ceiling, {}).get("requests_per_s")
    header = (
        f"{'configuration':<24}{'runs':>5}{'req/s':>9}{'p50 ms':>9}{'p99 ms':>9}"
        f"{'non-2xx':>9}{'RSS MB':>8}{'srv CPU':>9}{'CPU ms/req':>11}{'wrk CPU':>9}"
        f"{'/ceiling':>10}"
    )
    lines = [header, "-" * len(header)]
    for name, row in summary.items():
        ratio = f"{row['requests_per_s'] / base:.0%}" if base else "-"
        lines.append(
            f"{name:<24}{row['runs']:>5}{row['requests_per_s']:>9.0f}{row['p50_ms']:>9.1f}"
            f"{row['p99_ms']:>9.1f}{row['non_2xx_total']:>9d}{row['peak_rss_mb']:>8.0f}"
            f"{row['server_cpu_share']:>9.0%}{row['server_cpu_ms_per_request']:>11.2f}"
            f"{row['generator_cpu_share']:>9.0%}{ratio:>10}"
        )
    return "\n".join(lines)


def write_json(results: dict[str, Any], stamp: str) -> Path:
    """Write the raw results to bench/results/<stamp>.json."""
    RESULTS_DIR.mkdir(parents=True, exist_ok=True)
    path = RESULTS_DIR / f"{stamp}.json"
    path.write_text(json.dumps(results, indent=2, default=str) + "\n")
    return path


def write_chart(
    summary: dict[str, dict[str, Any]], reads: dict[str, Any] | None, path: Path
) -> Path:
    """Draw requests/s and latencies per configuration (and read latencies at scale)."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    names = list(summary)
    panels = 3 if reads else 2
    figure, axes = plt.subplots(1, panels, figsize=(5.6 * panels, 5.0))
    colors = ["#8c8c8c" if name == "ceiling" else "#3a7bd5" for name in names]

    rps = [summary[name]["requests_per_s"] for name in names]
    low = [r - summary[name]["requests_per_s_min"] for r, name in zip(rps, names, strict=True)]
    high = [summary[name]["requests_per_s_max"] - r for r, name in zip(rps, names, strict=True)]
    axes[0].bar(names, rps, color=colors, yerr=[low, high], capsize=4)
    axes[0].set_title("POST /leads throughput (median, min-max)")
    axes[0].set_ylabel("requests/s")
    ceiling = summary.get("ceiling", {}).get("requests_per_s")
    for index, value in enumerate(rps):
        label = f"{value:.0f}" + (f"\n{value / ceiling:.0%}" if ceiling else "")
        axes[0].annotate(label, (index, value), ha="center", va="bottom", fontsize=8)
    axes[0].margins(y=0.12)

    width = 0.38
    positions = range(len(names))
    p50 = [summary[name]["p50_ms"] for name in names]
    p99 = [summary[name]["p99_ms"] for name in names]
    axes[1].bar([p - width / 2 for p in positions], p50, width, label="p50", color="#3a7bd5")
    axes[1].bar([p + width / 2 for p in positions], p99, width, label="p99", color="#e07b39")
    axes[1].set_xticks(list(positions), names)
    axes[1].set_title("POST /leads latency (median of runs)")
    axes[1].set_ylabel("ms")
    axes[1].legend()

    if reads:
        labels, medians_, p99s = [], [], []
        for backend, result in reads.items():
            for key, label in (
                ("page_1", "page 1"),
                ("deep_page", f"page {result['deep_page']['page']}"),
                ("email_lookup", "email"),
                ("phone_lookup", "phone"),
            ):
                labels.append(f"{backend}\n{label}")
                medians_.append(result[key]["median_ms"])
                p99s.append(result[key]["p99_ms"])
        positions = range(len(labels))
        axes[2].bar([p - width / 2 for p in positions], medians_, width, label="median")
        axes[2].bar([p + width / 2 for p in positions], p99s, width, label="p99")
        axes[2].set_xticks(list(positions), labels, fontsize=8)
        filled = next(iter(reads.values()))["filled"]
        axes[2].set_title(f"GET /leads at {filled:,} leads (limit 50)")
        axes[2].set_ylabel("ms")
        axes[2].legend()

    for axis in axes[:2]:
        axis.tick_params(axis="x", labelsize=8)
        plt.setp(axis.get_xticklabels(), rotation=30, ha="right")
    figure.tight_layout()
    path.parent.mkdir(parents=True, exist_ok=True)
    figure.savefig(path, dpi=110)
    plt.close(figure)
    return path
