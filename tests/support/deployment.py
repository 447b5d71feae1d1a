"""Real `python -m leadapp.server` processes for the deployment tests, on a migrated database.

Thin on purpose: the servers are started by servers.py's LeadAppServer, exactly as `make run`
starts them; this only prepares their database.
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from tests.support.processes import flask_command
from tests.support.servers import LeadAppServer, leadapp_environment, leadapp_servers


def migrated_sqlite(tmp_path: Path, keys: Mapping[str, str]) -> str:
    """A fresh SQLite database in tmp_path, migrated by `flask db upgrade`; its URL."""
    url = f"sqlite:///{tmp_path / 'leadapp.sqlite3'}"
    flask_command(leadapp_environment(keys, url), "db", "upgrade")
    return url


@contextmanager
def served(
    tmp_path: Path,
    keys: Mapping[str, str],
    *,
    count: int = 1,
    database_url: str | None = None,
    threads: int = 8,
    **settings: str,
) -> Iterator[list[LeadAppServer]]:
    """`count` servers with these LEADAPP_* settings on one database; stopped on exit."""
    url = database_url or migrated_sqlite(tmp_path, keys)
    env = leadapp_environment(keys, url, **settings)
    options: dict[str, Any] = {"threads": threads}
    with leadapp_servers(count, env, tmp_path, **options) as servers:
        yield servers
