"""Latency of the admin reads at scale: GET /leads page 1, a deep page, email and phone lookups.

One keep-alive HTTP connection from the bench process (pinned to the client core), one
request at a time: this measures the latency of each read on an otherwise idle server.
"""

from __future__ import annotations

import http.client
import json
import math
import random
import statistics
import time
from typing import Any
from urllib.parse import quote, urlencode

from bench.fill import fill_email, fill_phone

PAGE_SIZE = 50


def percentile(values: list[float], pct: float) -> float:
    """The nearest-rank percentile of a list of numbers."""
    ordered = sorted(values)
    rank = max(1, min(len(ordered), math.ceil(pct / 100 * len(ordered))))
    return ordered[rank - 1]


def summarize(samples_ms: list[float]) -> dict[str, Any]:
    """Median, p99, min and max of a list of latencies in milliseconds."""
    return {
        "samples": len(samples_ms),
        "median_ms": statistics.median(samples_ms),
        "p99_ms": percentile(samples_ms, 99),
        "min_ms": min(samples_ms),
        "max_ms": max(samples_ms),
    }


class Client:
    """A keep-alive HTTP client for one server, authenticated with the bench's API key."""

    def __init__(self, port: int, api_key: str) -> None:
        self.connection = http.client.HTTPConnection("127.0.0.1", port, timeout=30)
        self.headers = {"Authorization": f"Bearer {api_key}"}

    def get(self, path: str) -> tuple[float, dict[str, Any]]:
        """GET a path; return the latency in ms and the JSON body (fails on non-200)."""
        started = time.perf_counter()
        self.connection.request("GET", path, headers=self.headers)
        response = self.connection.getresponse()
        raw = response.read()
        elapsed = (time.perf_counter() - started) * 1000
        if response.status != 200:
            raise RuntimeError(f"GET {path} answered {response.status}: {raw[:300]!r}")
        return elapsed, json.loads(raw)

    def close(self) -> None:
        """Close the connection."""
        self.connection.close()


def _list_path(cursor: str | None = None, **query: str) -> str:
    """The path of GET /leads with a page size, an optional cursor and filters."""
    params = {"limit": str(PAGE_SIZE), **query}
    if cursor is not None:
        params["cursor"] = cursor
    return "/leads?" + urlencode(params, quote_via=quote)


def measure_reads(
    port: int, api_key: str, *, filled: int, depth: int, samples: int, seed: int = 1
) -> dict[str, Any]:
    """Measure page 1, page `depth` (walked to through next_cursor) and lookups."""
    client = Client(port, api_key)
    rng = random.Random(seed)
    try:
        for _ in range(5):  # warm the connection, the caches and the page cache
            client.get(_list_path())
        first = [client.get(_list_path())[0] for _ in range(samples)]

        walk_started = time.perf_counter()
        walk: list[float] = []
        cursor: str | None = None
        for _ in range(depth - 1):
            elapsed, page = client.get(_list_path(cursor))
            walk.append(elapsed)
            cursor = page["next_cursor"]
            if cursor is None:
                raise RuntimeError(f"the table ran out of pages before page {depth}")
        walk_seconds = time.perf_counter() - walk_started
        deep_path = _list_path(cursor)
        deep = [client.get(deep_path)[0] for _ in range(samples)]

        email_samples, phone_samples = [], []
        for _ in range(samples):
            n = rng.randrange(filled)
            elapsed, page = client.get(_list_path(email=fill_email(n)))
            if len(page["items"]) != 1:
                raise RuntimeError(f"email lookup of fill lead {n} found {len(page['items'])}")
            email_samples.append(elapsed)
            elapsed, page = client.get(_list_path(phone=fill_phone(n)))
            if len(page["items"]) != 1:
                raise RuntimeError(f"phone lookup of fill lead {n} found {len(page['items'])}")
            phone_samples.append(elapsed)
    finally:
        client.close()
    return {
        "page_size": PAGE_SIZE,
        "page_1": summarize(first),
        "deep_page": {"page": depth, "rows_skipped": (depth - 1) * PAGE_SIZE, **summarize(deep)},
        "walk": {"pages": depth - 1, "seconds": walk_seconds, **summarize(walk)}
        if walk
        else {"pages": 0, "seconds": 0.0},
        "email_lookup": summarize(email_samples),
        "phone_lookup": summarize(phone_samples),
    }
