"""LeadApp with parts switched off, to measure what each part costs (`--ablations`).

`python -m bench.ablation --host H --port P --threads N` serves LeadApp exactly as
`leadapp.server` does, except for what BENCH_ABLATION (comma-separated) switches off:

- `no-rate-limit`: Flask-Limiter disabled (RATELIMIT_ENABLED=False)
- `no-access-log`: the leadapp.access logger above INFO, so no access line is built

These are measurements only: LeadApp must not run like this (the contract requires both).
"""

from __future__ import annotations

import logging
import os
import sys

from bench.serve import serve_app, server_parser
from leadapp import create_app

ABLATIONS = ("no-rate-limit", "no-access-log")


def main(argv: list[str] | None = None) -> int:
    """Serve LeadApp with the parts named in BENCH_ABLATION switched off."""
    parser = server_parser("Serve LeadApp with parts switched off.")
    args = parser.parse_args(argv)
    off = {name for name in os.environ.get("BENCH_ABLATION", "").split(",") if name}
    unknown = off - set(ABLATIONS)
    if unknown:
        parser.error(f"unknown ablations {sorted(unknown)}; known: {', '.join(ABLATIONS)}")
    logging.basicConfig(
        level=logging.WARNING, format="%(asctime)s %(levelname)s %(name)s %(message)s"
    )
    logging.getLogger("leadapp").setLevel(logging.INFO)
    if "no-access-log" in off:
        logging.getLogger("leadapp.access").setLevel(logging.WARNING)
    app = create_app({"RATELIMIT_ENABLED": False} if "no-rate-limit" in off else None)
    serve_app(app, args)
    return 0


if __name__ == "__main__":
    sys.exit(main())
