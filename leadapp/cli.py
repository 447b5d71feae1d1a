"""Command-line interface: `flask --app leadapp keys|apikeys|blocklist ...`."""

from __future__ import annotations

import click
from flask import Flask

from leadapp.config import generate_blind_index_key, generate_encryption_key

keys_cli = click.Group("keys", help="Encryption and blind-index keys.")


@keys_cli.command("generate")
def keys_generate() -> None:
    """Print a fresh Fernet key and blind-index key, for the environment."""
    click.echo(f"LEADAPP_ENCRYPTION_KEYS={generate_encryption_key()}")
    click.echo(f"LEADAPP_BLIND_INDEX_KEY={generate_blind_index_key()}")


def register_commands(app: Flask) -> None:
    """Attach every command group to the app's CLI."""
    app.cli.add_command(keys_cli)
