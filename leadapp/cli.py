"""Command-line interface: `flask --app leadapp keys|apikeys|blocklist|audit ...`."""

from __future__ import annotations

import sys

import click
from flask import Flask
from flask.cli import AppGroup

from leadapp.crypto import generate_blind_index_key, generate_encryption_key
from leadapp.models.blocklist import NETWORK_MAX
from leadapp.services import apikeys, audit, blocklist, reindex, rotation

keys_cli = AppGroup("keys", help="Encryption and blind-index keys.")
apikeys_cli = AppGroup("apikeys", help="API keys for partners and operators.")
blocklist_cli = AppGroup("blocklist", help="Blocked IP addresses and networks.")
audit_cli = AppGroup("audit", help="The trail of admin reads and erasures.")


def _when(value: object) -> str:
    """A timestamp for tables, or '-'."""
    return value.strftime("%Y-%m-%d %H:%M:%S") if value else "-"  # type: ignore[attr-defined]


@keys_cli.command("generate")
def keys_generate() -> None:
    """Print a fresh Fernet key and blind-index key, for the environment."""
    click.echo(f"LEADAPP_ENCRYPTION_KEYS={generate_encryption_key()}")
    click.echo(f"LEADAPP_BLIND_INDEX_KEY={generate_blind_index_key()}")


@keys_cli.command("rotate")
@click.option("--batch-size", default=500, show_default=True, type=click.IntRange(1, 10_000))
def keys_rotate(batch_size: int) -> None:
    """Re-encrypt every lead under the newest key (safe to interrupt and rerun)."""
    total = rotation.count_leads()
    with click.progressbar(length=total, label="Re-encrypting leads", file=sys.stderr) as bar:
        result = rotation.rotate_all(batch_size=batch_size, progress=bar.update)
    click.echo(f"Checked {result.checked} leads, re-encrypted {result.rotated}.")


@keys_cli.command("reindex")
@click.option("--batch-size", default=500, show_default=True, type=click.IntRange(1, 10_000))
def keys_reindex(batch_size: int) -> None:
    """Recompute every lead's email blind index (after a change of the match key; rerunnable)."""
    total = rotation.count_leads()
    with click.progressbar(length=total, label="Reindexing emails", file=sys.stderr) as bar:
        result = reindex.reindex_emails(batch_size=batch_size, progress=bar.update)
    click.echo(f"Checked {result.checked} leads, reindexed {result.reindexed}.")
    for lead_id, holder in result.collisions:
        click.echo(
            f"Collision: lead {lead_id} has the same email as lead {holder}; it keeps its old"
            " index until one of the two is erased.",
            err=True,
        )
    if result.collisions:
        raise click.exceptions.Exit(1)


@apikeys_cli.command("create")
@click.argument("name")
def apikeys_create(name: str) -> None:
    """Create an API key; it is printed once, alone on the last line."""
    try:
        api_key, key = apikeys.create_api_key(name)
    except apikeys.ApiKeyError as error:
        raise click.ClickException(str(error)) from None
    click.echo(f"Created API key {api_key.name!r}. Store it now; it cannot be shown again:")
    click.echo(key)


@apikeys_cli.command("list")
def apikeys_list() -> None:
    """List keys (name, prefix, dates), never the secret."""
    rows = apikeys.list_api_keys()
    if not rows:
        click.echo("No API keys.")
        return
    click.echo(f"{'NAME':<24} {'PREFIX':<14} {'CREATED':<20} REVOKED")
    for row in rows:
        prefix = row.prefix + "…"
        click.echo(
            f"{row.name:<24} {prefix:<14} {_when(row.created_at):<20} {_when(row.revoked_at)}"
        )


@apikeys_cli.command("revoke")
@click.argument("name")
def apikeys_revoke(name: str) -> None:
    """Revoke a key by name."""
    try:
        apikeys.revoke_api_key(name)
    except apikeys.ApiKeyError as error:
        raise click.ClickException(str(error)) from None
    click.echo(f"Revoked API key {name!r}.")


@blocklist_cli.command("add")
@click.argument("network")
@click.option("--reason", default="", help="Why it is blocked (shown by `blocklist list`).")
def blocklist_add(network: str, reason: str) -> None:
    """Block an IP address or CIDR network."""
    try:
        entry = blocklist.add_network(network, reason)
    except blocklist.BlocklistError as error:
        raise click.ClickException(str(error)) from None
    click.echo(f"Blocked {entry.network}.")


@blocklist_cli.command("remove")
@click.argument("network")
def blocklist_remove(network: str) -> None:
    """Unblock an IP address or CIDR network."""
    try:
        removed = blocklist.remove_network(network)
    except blocklist.BlocklistError as error:
        raise click.ClickException(str(error)) from None
    click.echo(f"Unblocked {removed}.")


@blocklist_cli.command("list")
def blocklist_list() -> None:
    """List blocked networks."""
    rows = blocklist.list_networks()
    if not rows:
        click.echo("No blocked networks.")
        return
    for row in rows:
        click.echo(f"{row.network:<{NETWORK_MAX}} {_when(row.created_at):<20} {row.reason}")


@audit_cli.command("list")
@click.option("--limit", default=50, show_default=True, type=click.IntRange(1, 10_000))
def audit_list(limit: int) -> None:
    """Show the newest admin reads and erasures: when, which key, what, which lead ids."""
    events = audit.recent_events(limit)
    if not events:
        click.echo("No audit events.")
        return
    for event in events:
        ids = ",".join(event.lead_ids) or "-"
        if event.lead_count is not None:
            ids = f"{event.lead_count} leads"
        click.echo(f"{_when(event.at)}  {event.api_key_name:<24} {event.action:<8} {ids}")


def register_commands(app: Flask) -> None:
    """Attach every command group to the app's CLI."""
    from leadapp.leads_cli import leads_cli
    from leadapp.webhooks_cli import webhooks_cli

    for group in (keys_cli, apikeys_cli, blocklist_cli, audit_cli, webhooks_cli, leads_cli):
        app.cli.add_command(group)
