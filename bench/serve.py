"""The command line of the bench's own servers, the same as `python -m leadapp.server`'s."""

from __future__ import annotations

import argparse

from flask import Flask
from waitress import serve

from leadapp.server import DEFAULT_THREADS, waitress_settings


def server_parser(description: str) -> argparse.ArgumentParser:
    """--host, --port and --threads, with leadapp.server's defaults."""
    parser = argparse.ArgumentParser(description=description)
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=8000)
    parser.add_argument("--threads", type=int, default=DEFAULT_THREADS)
    return parser


def serve_app(app: Flask, args: argparse.Namespace) -> None:
    """Serve an app with the waitress settings LeadApp is served with, until interrupted."""
    serve(app, host=args.host, port=args.port, **waitress_settings(args.threads))
