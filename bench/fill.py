"""Bulk-fill the leads table with N valid, distinct leads, fast, through the app's own code.

`python -m bench.fill --count N` with the LeadApp environment (LEADAPP_DATABASE_URL and
the keys) of the database to fill, already migrated. Every row is what POST /leads would
store: the keyring encrypts each personal column through the EncryptedString type and
`blind_indexes` computes the unique indexes, so the app can read, page and look up these
leads. Rows go in through SQLAlchemy Core executemany in big batches, from one worker
process per core (while one worker writes, the other encrypts its next batch).

Lead n has email fill<n>@example.com, phone +44 20 8xxx xxxx (n as the 7 digits), IP
11.0.0.0 + n, and created_at spread evenly over the DAYS days before now, oldest first,
so pagination walks realistic keys. POST /leads in the bench uses other numbers.
"""

from __future__ import annotations

import argparse
import ipaddress
import json
import multiprocessing
import os
import sys
import time
import uuid
from collections.abc import Mapping
from datetime import UTC, datetime, timedelta
from typing import Any

from sqlalchemy import insert

from leadapp import create_app
from leadapp.crypto import current_keyring
from leadapp.extensions import db
from leadapp.models.lead import Lead
from leadapp.services.leads import blind_indexes

MAX_COUNT = 10_000_000
FILL_IP_BASE = int(ipaddress.IPv4Address("11.0.0.0"))
RESULT_MARKER = "FILL_JSON "


def fill_email(n: int) -> str:
    """The email of fill lead n (already in normalized form)."""
    return f"fill{n}@example.com"


def fill_phone(n: int) -> str:
    """The E.164 phone of fill lead n: a valid London number +44 20 8xxx xxxx."""
    return f"+44208{n:07d}"


def fill_ip(n: int) -> str:
    """The IP address of fill lead n."""
    return str(ipaddress.IPv4Address(FILL_IP_BASE + n))


def _rows(keyring: Any, start: int, stop: int, origin: datetime, step: timedelta) -> list[dict]:
    """The rows of fill leads start..stop-1, with their blind indexes (not yet encrypted)."""
    rows = []
    for n in range(start, stop):
        email, phone, ip = fill_email(n), fill_phone(n), fill_ip(n)
        rows.append(
            {
                "id": uuid.uuid4(),
                "name": f"Fill Lead {n}",
                "email": email,
                "phone": phone,
                "ip_address": ip,
                "created_at": origin + step * n,
                **blind_indexes(keyring, email, phone, ip),
            }
        )
    return rows


def _worker(
    worker: int, workers: int, count: int, batch: int, days: float, origin_ts: float
) -> int:
    """Insert this worker's share of the leads (every `workers`-th batch); return rows written."""
    origin = datetime.fromtimestamp(origin_ts, UTC)
    step = timedelta(days=days) / max(count, 1)
    app = create_app()
    written = 0
    with app.app_context(), db.engine.connect() as connection:
        if connection.dialect.name == "sqlite":
            # Bench data only: a crash may lose it. A long busy timeout, since the
            # workers take turns holding the write lock for a whole batch.
            connection.exec_driver_sql("PRAGMA synchronous=OFF")
            connection.exec_driver_sql("PRAGMA cache_size=-262144")
            connection.exec_driver_sql("PRAGMA busy_timeout=120000")
            connection.commit()
        keyring = current_keyring()
        statement = insert(Lead.__table__)
        for start in range(worker * batch, count, workers * batch):
            rows = _rows(keyring, start, min(start + batch, count), origin, step)
            with connection.begin():
                connection.execute(statement, rows)
            written += len(rows)
    return written


def fill(count: int, *, workers: int = 2, batch: int = 5000, days: float = 365.0) -> dict:
    """Insert `count` leads with `workers` processes; return count, seconds and rows/s."""
    # The bench pins itself to the client core; the fill may use them all.
    os.sched_setaffinity(0, range(os.cpu_count() or 1))
    started = time.monotonic()
    origin = (datetime.now(UTC) - timedelta(days=days)).timestamp()
    arguments = [(w, workers, count, batch, days, origin) for w in range(workers)]
    if workers == 1:
        written = _worker(*arguments[0])
    else:
        with multiprocessing.get_context("spawn").Pool(workers) as pool:
            written = sum(pool.starmap(_worker, arguments))
    seconds = time.monotonic() - started
    return {"count": written, "seconds": seconds, "rows_per_s": written / seconds}


def fill_in_process(env: Mapping[str, str], count: int) -> dict:
    """Run `python -m bench.fill --count N` with a LeadApp environment; return its result."""
    from tests.support.processes import python_module

    # No timeout: a fill of millions of rows takes as long as it takes.
    done = python_module(env, "bench.fill", "--count", str(count), timeout=None)
    marker = next(line for line in done.stdout.splitlines() if line.startswith(RESULT_MARKER))
    return json.loads(marker[len(RESULT_MARKER) :])


def main(argv: list[str] | None = None) -> int:
    """Parse arguments, fill, print the result as one JSON line."""
    parser = argparse.ArgumentParser(description="Bulk-fill LeadApp's leads table.")
    parser.add_argument("--count", type=int, default=1_000_000)
    parser.add_argument("--workers", type=int, default=min(2, os.cpu_count() or 1))
    parser.add_argument("--batch", type=int, default=5000)
    parser.add_argument("--days", type=float, default=365.0, help="created_at spread (days)")
    args = parser.parse_args(argv)
    if not 0 < args.count <= MAX_COUNT:
        parser.error(f"--count must be 1..{MAX_COUNT}")
    result = fill(args.count, workers=args.workers, batch=args.batch, days=args.days)
    print(RESULT_MARKER + json.dumps(result), flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
