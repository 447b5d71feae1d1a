"""Keys: `flask --app leadapp keys generate|rotate|reindex`."""

from __future__ import annotations

import sys
from collections.abc import Callable
from typing import TypeVar

import click
from flask.cli import AppGroup

from leadapp.crypto import generate_blind_index_key, generate_encryption_key
from leadapp.services import reindex, rotation
from leadapp.wording import plural

T = TypeVar("T")

keys_cli = AppGroup("keys", help="Encryption and blind-index keys.")

batch_size_option = click.option(
    "--batch-size", default=500, show_default=True, type=click.IntRange(1, 10_000)
)


# No app context: it needs no configuration, so it runs whatever LEADAPP_ENV says (cli/__init__).
@keys_cli.command("generate", with_appcontext=False)
def keys_generate() -> None:
    """Print a fresh Fernet key and blind-index key, for the environment."""
    click.echo(f"LEADAPP_ENCRYPTION_KEYS={generate_encryption_key()}")
    click.echo(f"LEADAPP_BLIND_INDEX_KEY={generate_blind_index_key()}")


def _over_every_lead(label: str, job: Callable[..., T], batch_size: int) -> T:
    """Run a batched job over every lead, with a progress bar on stderr."""
    with click.progressbar(length=rotation.count_leads(), label=label, file=sys.stderr) as bar:
        return job(batch_size=batch_size, progress=bar.update)


@keys_cli.command("rotate")
@batch_size_option
def keys_rotate(batch_size: int) -> None:
    """Re-encrypt every encrypted value under the newest key (safe to interrupt and rerun).

    Every table with an encrypted column: leads, webhook endpoints' URLs and secrets, and
    whatever the models add; afterwards the older keys can be dropped.
    """
    total = rotation.count_encrypted_rows()
    with click.progressbar(length=total, label="Re-encrypting", file=sys.stderr) as bar:
        result = rotation.rotate_all(batch_size=batch_size, progress=bar.update)
    for table, (checked, rotated) in result.tables.items():
        noun = table.replace("_", " ").removesuffix("s")  # tables are named in the plural
        click.echo(f"Checked {plural(checked, noun)}, re-encrypted {rotated}.")


@keys_cli.command("reindex")
@batch_size_option
def keys_reindex(batch_size: int) -> None:
    """Recompute every lead's email blind index (after a change of the match key; rerunnable)."""
    result = _over_every_lead("Reindexing emails", reindex.reindex_emails, batch_size)
    click.echo(f"Checked {plural(result.checked, 'lead')}, reindexed {result.reindexed}.")
    for lead_id, holder in result.collisions:
        click.echo(
            f"Collision: lead {lead_id} has the same email as lead {holder}; it keeps its old"
            " index until one of the two is erased.",
            err=True,
        )
    if result.collisions:
        raise click.exceptions.Exit(1)
