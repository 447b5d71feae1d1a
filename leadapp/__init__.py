"""LeadApp: a lead-intake service. `create_app` is the only place an app is built."""

from __future__ import annotations

import os
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import click
from flask import Flask

from leadapp.api.ops import init_openapi_memo
from leadapp.config import ConfigError, complete_config, load_config
from leadapp.crypto import init_keyring
from leadapp.database import configure_engine
from leadapp.errors import register_error_handlers
from leadapp.extensions import db, migrate
from leadapp.http.auth_failures import init_auth_failure_limits
from leadapp.http.pipeline import register_pipeline
from leadapp.http.ratelimit import init_reset_times
from leadapp.outbox.worker import init_own_worker
from leadapp.routing import configure_routing
from leadapp.services.caches import init_caches
from leadapp.services.consent import init_consent_cache
from leadapp.services.forms import init_form_cache
from leadapp.services.stats import init_stats_cache

MIGRATIONS_DIR = Path(__file__).resolve().parent.parent / "migrations"


def create_app(config: Mapping[str, Any] | None = None) -> Flask:
    """Build the app from the environment, with `config` overriding it (tests use that)."""
    # No app-level static folder: the pages' assets are the web blueprint's.
    app = Flask(__name__, instance_relative_config=True, static_folder=None)
    configure_routing(app)
    try:
        app.config.from_mapping(load_config(os.environ, Path(app.instance_path)))
        if config:
            app.config.from_mapping(config)
        complete_config(app.config)
        # Inside: the keyring refuses malformed keys (a ConfigError naming the variable).
        _register_state(app)
    except ConfigError as error:
        if _register_key_generation_only(app):
            return app
        _exit_if_command_line(error)
        raise
    _register_database(app)
    register_pipeline(app)
    register_error_handlers(app)
    _register_outbox(app)
    _register_jobs(app)
    _register_blueprints(app)
    _register_cli(app)
    return app


def _register_state(app: Flask) -> None:
    """Create every piece of per-app state, in this order; the modules only look it up.

    One line per piece, naming the module that reads it: a cache or memo created anywhere
    else (a `setdefault` on first use) would be state nobody can list.
    """
    init_keyring(app)  # crypto.py: the keys (development keys from the instance folder)
    init_caches(app)  # services/caches.py: API keys and the blocklist, for LEADAPP_CACHE_SECONDS
    init_consent_cache(app)  # services/consent.py: the id of each consent text
    init_form_cache(app)  # services/forms.py: live forms' documents, for at most 5 s
    init_stats_cache(app)  # services/stats.py: lead counts of the days that are closed
    init_auth_failure_limits(app)  # http/auth_failures.py: the parsed lockout limits
    init_reset_times(app)  # http/ratelimit.py: when each rate-limit window ends
    init_openapi_memo(app)  # api/ops.py: the OpenAPI document, built at its first request
    init_own_worker(app)  # outbox/worker.py: this process's own worker, for /readyz


def _register_key_generation_only(app: Flask) -> bool:
    """Under `flask --app leadapp keys generate`, give the app that one command and say so.

    A production process refuses to start without keys, and `keys generate` is how an
    operator gets them (contract v3: it works whatever LEADAPP_ENV says).
    """
    if click.get_current_context(silent=True) is None:
        return False
    from leadapp.cli import asks_for_key_generation, register_key_generation

    if not asks_for_key_generation():
        return False
    register_key_generation(app)
    return True


def _exit_if_command_line(error: ConfigError) -> None:
    """Under `flask --app leadapp …`, print the one-line reason and exit 1, no traceback.

    SystemExit, not a click exception: Flask prints a traceback for any Exception raised
    while it lists the commands (`--help`), and only SystemExit passes through that.
    """
    if click.get_current_context(silent=True) is None:
        return
    click.echo(f"Error: {error}", err=True)
    raise SystemExit(1)


def _register_database(app: Flask) -> None:
    """Bind Flask-SQLAlchemy and Flask-Migrate."""
    import leadapp.models  # noqa: F401  (registers the tables before Migrate looks)

    db.init_app(app)
    migrate.init_app(app, db, directory=str(MIGRATIONS_DIR))
    with app.app_context():
        configure_engine(app, db.engine)


def _register_outbox(app: Flask) -> None:
    """The outbox's channels: webhooks, and mail while LEADAPP_SMTP_URL is set (else it waits)."""
    from leadapp.channels.mail.channel import MailChannel, configured
    from leadapp.channels.webhook.channel import WebhookChannel
    from leadapp.outbox.channel import register_channel

    register_channel(app, WebhookChannel.from_config(app.config))
    if configured(app.config):
        register_channel(app, MailChannel.from_config(app.config))


def _register_jobs(app: Flask) -> None:
    """The periodic jobs every outbox worker of the app runs (at its start, then each period)."""
    from leadapp.outbox.worker import register_periodic
    from leadapp.services import idempotency, mail_digest, opt_in, retention

    register_periodic(app, retention.purge_job)
    register_periodic(app, idempotency.sweep_job)
    register_periodic(app, opt_in.expiry_job)
    register_periodic(app, mail_digest.digest_job, every=mail_digest.DIGEST_EVERY_SECONDS)


def _register_blueprints(app: Flask) -> None:
    """Mount the API and the pages."""
    from leadapp.api import challenge, confirm, form_settings, hosted, leads, operator, ops, pages
    from leadapp.api import forms as forms_api
    from leadapp.api import mail as mail_api
    from leadapp.api import webhooks as webhooks_api

    app.register_blueprint(leads.bp)
    app.register_blueprint(challenge.bp)
    app.register_blueprint(form_settings.bp)
    app.register_blueprint(forms_api.bp)
    app.register_blueprint(hosted.bp)
    app.register_blueprint(ops.bp)
    app.register_blueprint(operator.bp)
    app.register_blueprint(pages.bp)
    app.register_blueprint(webhooks_api.bp)
    app.register_blueprint(confirm.bp)
    app.register_blueprint(mail_api.bp)


def _register_cli(app: Flask) -> None:
    """Add the keys, apikeys, blocklist and audit command groups."""
    from leadapp.cli import register_commands

    register_commands(app)
