"""LeadApp: a lead-intake service. `create_app` is the only place an app is built."""

from __future__ import annotations

import os
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from flask import Flask
from werkzeug.middleware.proxy_fix import ProxyFix

from leadapp.auth import register_auth
from leadapp.config import load_config
from leadapp.cors import register_cors
from leadapp.crypto import init_keyring
from leadapp.database import configure_engine, engine_options
from leadapp.errors import register_error_handlers
from leadapp.extensions import db, limiter, migrate
from leadapp.hooks import register_request_hooks


def create_app(config: Mapping[str, Any] | None = None) -> Flask:
    """Build the app from the environment, with `config` overriding it (tests use that)."""
    # No app-level static folder: the pages' assets are the web blueprint's.
    app = Flask(__name__, instance_relative_config=True, static_folder=None)
    app.config.from_mapping(load_config(os.environ, Path(app.instance_path)))
    if config:
        app.config.from_mapping(config)
    app.config.setdefault(
        "SQLALCHEMY_ENGINE_OPTIONS", engine_options(app.config["SQLALCHEMY_DATABASE_URI"])
    )
    _register_proxy_fix(app)
    init_keyring(app)
    register_request_hooks(app)
    register_auth(app)
    register_cors(app)
    _register_extensions(app)
    register_error_handlers(app)
    _register_blueprints(app)
    _register_cli(app)
    return app


def _register_proxy_fix(app: Flask) -> None:
    """Trust X-Forwarded-For only through the configured number of proxies."""
    trusted = app.config["LEADAPP_TRUSTED_PROXIES"]
    if trusted > 0:
        app.wsgi_app = ProxyFix(app.wsgi_app, x_for=trusted, x_proto=trusted)  # type: ignore[method-assign]


def _register_extensions(app: Flask) -> None:
    """Bind the extensions created in extensions.py."""
    import leadapp.models  # noqa: F401  (registers the tables before Migrate looks)

    db.init_app(app)
    migrate.init_app(app, db, directory=str(Path(__file__).resolve().parent.parent / "migrations"))
    app.config.setdefault("RATELIMIT_HEADERS_ENABLED", True)
    app.config.setdefault("RATELIMIT_IN_MEMORY_FALLBACK_ENABLED", True)
    app.config.setdefault("RATELIMIT_SWALLOW_ERRORS", True)
    if app.config["RATELIMIT_STORAGE_URI"].startswith(("redis://", "rediss://")):
        # Short timeouts: a Redis outage must cost a request milliseconds, not seconds.
        app.config.setdefault(
            "RATELIMIT_STORAGE_OPTIONS", {"socket_timeout": 0.25, "socket_connect_timeout": 0.25}
        )
    limiter.init_app(app)
    with app.app_context():
        configure_engine(app, db.engine)


def _register_blueprints(app: Flask) -> None:
    """Mount the API and the pages."""
    from leadapp.api import leads, ops
    from leadapp.web import bp as web_bp
    from leadapp.webhooks.api import bp as webhooks_bp

    app.register_blueprint(leads.bp)
    app.register_blueprint(ops.bp)
    app.register_blueprint(web_bp)
    app.register_blueprint(webhooks_bp)


def _register_cli(app: Flask) -> None:
    """Add the keys, apikeys and blocklist command groups."""
    from leadapp.cli import register_commands

    register_commands(app)
