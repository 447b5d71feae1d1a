"""The command line: `flask --app leadapp <group> <command>`, one module per group."""

from __future__ import annotations

import sys
from collections.abc import Sequence

from flask import Flask
from flask.cli import AppGroup

from leadapp.cli.admin import apikeys_cli, audit_cli, blocklist_cli
from leadapp.cli.forms import forms_cli
from leadapp.cli.keys import keys_cli, keys_generate
from leadapp.cli.leads import leads_cli
from leadapp.cli.mail import mail_cli
from leadapp.cli.webhooks import webhooks_cli

# The `flask` group's own options that take a value (`--app leadapp`).
_FLASK_VALUE_OPTIONS = frozenset({"--app", "-A", "--env-file", "-e"})


def register_commands(app: Flask) -> None:
    """Attach every command group to the app's CLI."""
    groups = (
        *(keys_cli, apikeys_cli, blocklist_cli, audit_cli, webhooks_cli, leads_cli, forms_cli),
        mail_cli,
    )
    for group in groups:
        app.cli.add_command(group)


def asks_for_key_generation(argv: Sequence[str] | None = None) -> bool:
    """Whether the command line is `flask … keys generate` (argv: sys.argv by default).

    The factory asks when the configuration refuses to start (production without keys):
    generating the keys that configuration lacks needs no configuration at all. Flask loads
    the app before it looks the command up, so the command line is all there is to go by.
    """
    words: list[str] = []
    args = iter(sys.argv[1:] if argv is None else argv)
    for arg in args:
        if arg in _FLASK_VALUE_OPTIONS:
            next(args, None)
        elif not arg.startswith("-"):
            words.append(arg)
    return words[:2] == ["keys", "generate"]


def register_key_generation(app: Flask) -> None:
    """Attach `keys generate` alone: what a process whose configuration refuses may run."""
    group = AppGroup(keys_cli.name, help=keys_cli.help)
    group.add_command(keys_generate)
    app.cli.add_command(group)
