"""Processes the benchmark runs: databases and waitress servers pinned to a core.

Servers, `flask` commands and ports come from tests/support, so the bench starts LeadApp
exactly as the tests do.
"""

from __future__ import annotations

import os
import subprocess
import sys
import tempfile
from collections.abc import Mapping
from pathlib import Path
from urllib.parse import urlsplit

from cryptography.fernet import Fernet
from sqlalchemy.engine import make_url

from tests.support import servers
from tests.support.postgres import connect_problem
from tests.support.processes import flask_command

SERVER_CORE = 0
CLIENT_CORE = 1
FLASK_TIMEOUT = 300.0
BENCH_DATABASE = "leadapp_bench"
BENCH_ROLE = "leadapp"
# API-key callers are limited per key; the bench must measure the app, not the limiter's 429s.
INTEGRATIONS_LIMIT = "100000000 per minute"


def bench_keys() -> dict[str, str]:
    """Fresh encryption and blind-index keys, fixed for one bench invocation."""
    return {
        "LEADAPP_ENCRYPTION_KEYS": Fernet.generate_key().decode("ascii"),
        "LEADAPP_BLIND_INDEX_KEY": Fernet.generate_key().decode("ascii"),
    }


def leadapp_environment(
    keys: Mapping[str, str], database_url: str, **settings: str
) -> dict[str, str]:
    """The environment of every LeadApp process of a run: the tests', minus API-key limits."""
    return servers.leadapp_environment(
        keys, database_url, LEADAPP_RATELIMIT_INTEGRATIONS=INTEGRATIONS_LIMIT, **settings
    )


def prepare_leadapp(env: Mapping[str, str]) -> str:
    """Migrate the (fresh) database and create the bench's API key; return the key."""
    flask_command(env, "db", "upgrade", timeout=FLASK_TIMEOUT)
    created = flask_command(env, "apikeys", "create", "bench", timeout=FLASK_TIMEOUT)
    return created.stdout.strip().splitlines()[-1]


class SqliteDatabases:
    """Fresh SQLite files in a temporary directory, one per run."""

    name = "sqlite"

    def __init__(self, workdir: Path) -> None:
        self.workdir = workdir
        self.count = 0

    def problem(self) -> str | None:
        """SQLite is always available."""
        return None

    def fresh(self, purpose: str = "") -> str:
        """The URL of a new, empty database file."""
        self.count += 1
        path = self.workdir / f"leadapp-{self.count}{purpose and '-' + purpose}.sqlite3"
        return f"sqlite:///{path}"

    def discard(self, url: str) -> None:
        """Delete a database file and its WAL files."""
        path = Path(make_url(url).database or "")
        for suffix in ("", "-wal", "-shm"):
            Path(str(path) + suffix).unlink(missing_ok=True)


def postgres_url_from_environment() -> str | None:
    """The bench database's URL: LEADAPP_BENCH_POSTGRES_URL, else the test role's credentials.

    The test database itself is never used: only its role and password, with the
    database name replaced by leadapp_bench.
    """
    explicit = os.environ.get("LEADAPP_BENCH_POSTGRES_URL", "").strip()
    if explicit:
        return explicit
    test_url = os.environ.get("LEADAPP_TEST_POSTGRES_URL", "").strip()
    if not test_url:
        return None
    return make_url(test_url).set(database=BENCH_DATABASE).render_as_string(hide_password=False)


class PostgresDatabases:
    """The leadapp_bench database, dropped and created again (owned by leadapp) per run.

    The at-scale database, which lives beside the paired empty-table runs, is
    leadapp_bench_scale.
    """

    name = "postgres"

    def __init__(self, url: str | None) -> None:
        self.url = url

    def _admin(self, *command: str) -> subprocess.CompletedProcess[str]:
        """Run a PostgreSQL client command as the postgres superuser (peer authentication)."""
        return subprocess.run(
            ["su", "postgres", "-c", " ".join(command)],
            capture_output=True,
            text=True,
            timeout=120,
            check=False,
            cwd="/",
        )

    def problem(self) -> str | None:
        """Why PostgreSQL can't be benchmarked here, or None."""
        if not self.url:
            return "no credentials: set LEADAPP_BENCH_POSTGRES_URL or LEADAPP_TEST_POSTGRES_URL"
        if make_url(self.url).database != BENCH_DATABASE:
            return f"the bench database must be named {BENCH_DATABASE}"
        try:
            self.fresh()
        except (RuntimeError, OSError) as error:
            return str(error).splitlines()[0]
        error = connect_problem(self.url)
        return f"{error} connecting as {make_url(self.url).username}" if error else None

    def fresh(self, purpose: str = "") -> str:
        """Drop and create leadapp_bench (or leadapp_bench_<purpose>); return its URL."""
        if self.url is None:
            raise RuntimeError("no PostgreSQL URL")
        url = make_url(self.url)
        name = BENCH_DATABASE + (f"_{purpose}" if purpose else "")
        for command in (
            ("dropdb", "--if-exists", "--force", name),
            ("createdb", "-O", url.username or BENCH_ROLE, name),
        ):
            result = self._admin(*command)
            if result.returncode != 0:
                raise RuntimeError(f"{' '.join(command)} failed: {result.stderr.strip()}")
        return url.set(database=name).render_as_string(hide_password=False)

    def discard(self, url: str) -> None:
        """Drop a bench database."""
        self._admin("dropdb", "--if-exists", "--force", make_url(url).database or BENCH_DATABASE)


def databases_for(backend: str, scratch: Path) -> SqliteDatabases | PostgresDatabases:
    """Where a backend's fresh databases come from ("sqlite" or "postgres"; ask problem())."""
    if backend == "postgres":
        return PostgresDatabases(postgres_url_from_environment())
    return SqliteDatabases(scratch)


def fresh_leadapp(
    databases: SqliteDatabases | PostgresDatabases,
    keys: Mapping[str, str],
    purpose: str = "",
    **settings: str,
) -> tuple[str, dict[str, str], str]:
    """A fresh, migrated database with an API key: its URL, LeadApp's environment and the key.

    The caller discards the URL when done; a database whose preparation failed is discarded here.
    """
    url = databases.fresh(purpose)
    try:
        env = leadapp_environment(keys, url, **settings)
        return url, env, prepare_leadapp(env)
    except BaseException:
        databases.discard(url)
        raise


def cpu_times(pid: int) -> tuple[float, float]:
    """User and system CPU seconds a process has used so far, from /proc/<pid>/stat."""
    fields = Path(f"/proc/{pid}/stat").read_text().rpartition(")")[2].split()
    tick = os.sysconf("SC_CLK_TCK")
    return int(fields[11]) / tick, int(fields[12]) / tick


def peak_rss_mb(pid: int) -> float:
    """A process's peak resident set size (VmHWM) in MiB."""
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmHWM:"):
            return int(line.split()[1]) / 1024
    raise RuntimeError(f"no VmHWM for pid {pid}")


class Server(servers.LeadAppServer):
    """A server (`python -m MODULE`, LeadApp's waitress settings) pinned to SERVER_CORE.

    The tests' LeadAppServer under `taskset`, which execs the server, so `pid` is the
    Python process. Ready when /healthz gets any answer (the ceiling app has no /healthz).
    """

    def __init__(
        self,
        module: str,
        env: Mapping[str, str],
        log_path: Path,
        *,
        threads: int,
        python: str = sys.executable,
    ) -> None:
        super().__init__(
            env,
            log_path,
            module=module,
            threads=threads,
            command_prefix=("taskset", "-c", str(SERVER_CORE)),
            ready_status=None,
            python=python,
        )

    def cpu_times(self) -> tuple[float, float]:
        """User and system CPU seconds the server has used so far."""
        return cpu_times(self.pid)

    def peak_rss_mb(self) -> float:
        """The server's peak RSS so far."""
        return peak_rss_mb(self.pid)


def workdir() -> Path:
    """A temporary directory for the bench's databases and logs."""
    return Path(tempfile.mkdtemp(prefix="leadapp-bench-"))


def redact(url: str) -> str:
    """A database URL without its password, for printing."""
    parts = urlsplit(url)
    if parts.password:
        return url.replace(f":{parts.password}@", ":***@")
    return url
