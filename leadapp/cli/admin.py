"""Access and its trail: `flask --app leadapp apikeys|blocklist|audit ...`."""

from __future__ import annotations

import click
from flask.cli import AppGroup

from leadapp.cli.tables import echo_table, when
from leadapp.models.blocklist import NETWORK_MAX
from leadapp.services import apikeys, audit, blocklist
from leadapp.wording import plural

apikeys_cli = AppGroup("apikeys", help="API keys for partners and operators.")
blocklist_cli = AppGroup("blocklist", help="Blocked IP addresses and networks.")
audit_cli = AppGroup("audit", help="The trail of admin reads and erasures.")


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
    echo_table(
        [("NAME", 24), ("PREFIX", 14), ("CREATED", 20), ("REVOKED", 0)],
        [(row.name, row.prefix + "…", when(row.created_at), when(row.revoked_at)) for row in rows],
        gap=" ",
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
        click.echo(f"{row.network:<{NETWORK_MAX}} {when(row.created_at):<20} {row.reason}")


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
            ids = plural(event.lead_count, "lead")
        click.echo(f"{when(event.at)}  {event.api_key_name:<24} {event.action:<8} {ids}")
