"""The one way tests build an app: LeadApp's factory on a given database, tables created."""

from __future__ import annotations

import json
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

from flask import Flask

from leadapp import create_app
from leadapp.extensions import db


def build_app(database_url: str, **overrides: Any) -> Flask:
    """A testing app on `database_url` with its tables; keyword arguments override config."""
    config = {"TESTING": True, "SQLALCHEMY_DATABASE_URI": database_url, **overrides}
    app = create_app(config)
    with app.app_context():
        db.create_all()
    return app


def dispose_app(app: Flask) -> None:
    """Close an app's database connections."""
    with app.app_context():
        db.engine.dispose()


class AppBuilder:
    """Builds apps on one database and remembers them, so all can be disposed together."""

    def __init__(self, database_url: str) -> None:
        self.database_url = database_url
        self.built: list[Flask] = []

    def __call__(self, *, database_url: str | None = None, **overrides: Any) -> Flask:
        """A new app (on another database when `database_url` is given)."""
        app = build_app(database_url or self.database_url, **overrides)
        self.built.append(app)
        return app

    def dispose(self) -> None:
        """Close the connections of every app built so far."""
        for app in self.built:
            dispose_app(app)


@contextmanager
def app_builder(database_url: str) -> Iterator[AppBuilder]:
    """An AppBuilder whose apps are disposed on exit."""
    builder = AppBuilder(database_url)
    try:
        yield builder
    finally:
        builder.dispose()


def create_api_key(app: Flask, name: str = "partner") -> str:
    """Create an API key through the CLI, as an operator would; return the printed key."""
    result = app.test_cli_runner().invoke(args=["apikeys", "create", name])
    assert result.exit_code == 0, result.output
    return result.output.strip().splitlines()[-1]


def revoke_api_key(app: Flask, name: str) -> None:
    """Revoke an API key through the CLI."""
    result = app.test_cli_runner().invoke(args=["apikeys", "revoke", name])
    assert result.exit_code == 0, result.output


def put_form(app: Flask, slug: str, document: dict[str, Any] | None = None) -> None:
    """Create or replace a form through `forms put SLUG --file -`, as an operator would."""
    result = app.test_cli_runner().invoke(
        args=["forms", "put", slug, "--file", "-"], input=json.dumps(document or {})
    )
    assert result.exit_code == 0, result.output
