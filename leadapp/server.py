"""Serve LeadApp with waitress: `python -m leadapp.server --host 127.0.0.1 --port 8000`."""

from __future__ import annotations

import argparse
import logging
import os
import sys

from waitress import serve

from leadapp import create_app
from leadapp.config import MAX_BODY_BYTES, ConfigError

DEFAULT_THREADS = 4


def main(argv: list[str] | None = None) -> int:
    """Parse arguments, build the app and serve it until interrupted."""
    parser = argparse.ArgumentParser(description="Serve LeadApp with waitress.")
    parser.add_argument("--host", default=os.environ.get("HOST", "127.0.0.1"))
    parser.add_argument("--port", type=int, default=int(os.environ.get("PORT", "8000")))
    parser.add_argument(
        "--threads", type=int, default=int(os.environ.get("LEADAPP_THREADS", DEFAULT_THREADS))
    )
    args = parser.parse_args(argv)
    logging.basicConfig(
        level=logging.WARNING, format="%(asctime)s %(levelname)s %(name)s %(message)s"
    )
    logging.getLogger("leadapp").setLevel(logging.INFO)
    try:
        app = create_app()
    except ConfigError as error:
        print(f"leadapp: {error}", file=sys.stderr)
        return 2
    serve(
        app,
        host=args.host,
        port=args.port,
        threads=args.threads,
        # waitress would otherwise buffer up to 1 GiB before Flask sees the body.
        max_request_body_size=MAX_BODY_BYTES,
        ident="leadapp",
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
