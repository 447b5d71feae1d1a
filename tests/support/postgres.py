"""PostgreSQL for tests: reachability checks and a private, throwaway cluster."""

from __future__ import annotations

import glob
import os
import pwd
import shutil
import subprocess
import tempfile
import uuid
from pathlib import Path

from sqlalchemy import create_engine, text

from tests.support.processes import run_as, run_command, runuser
from tests.support.waiting import free_port


def connect_problem(url: str) -> str | None:
    """The class name of the error connecting to `url` and running SELECT 1, or None."""
    try:
        engine = create_engine(url)
        with engine.connect() as connection:
            connection.execute(text("SELECT 1"))
        engine.dispose()
    except Exception as error:
        return type(error).__name__
    return None


def empty_tables(url: str, schema: str = "public") -> None:
    """Empty every table of `schema` but Alembic's, so a migrated database starts clean."""
    engine = create_engine(url)
    try:
        with engine.begin() as connection:
            tables = list(
                connection.execute(
                    text(
                        "SELECT tablename FROM pg_tables WHERE schemaname = :schema "
                        "AND tablename <> 'alembic_version'"
                    ),
                    {"schema": schema},
                ).scalars()
            )
            if tables:
                connection.execute(text(f"TRUNCATE {', '.join(tables)}"))
    finally:
        engine.dispose()


def postgres_bindir() -> Path | None:
    """The directory of initdb/pg_ctl: LEADAPP_TEST_PG_BINDIR, Debian's newest, or PATH."""
    configured = os.environ.get("LEADAPP_TEST_PG_BINDIR")
    candidates = [configured] if configured else []
    candidates += sorted(
        glob.glob("/usr/lib/postgresql/*/bin"),
        key=lambda path: int(Path(path).parent.name) if Path(path).parent.name.isdigit() else 0,
        reverse=True,
    )
    which = shutil.which("initdb")
    if which:
        candidates.append(str(Path(which).parent))
    for candidate in candidates:
        if (Path(candidate) / "initdb").is_file() and (Path(candidate) / "pg_ctl").is_file():
            return Path(candidate)
    return None


def private_postgres_problem() -> str | None:
    """Why a private PostgreSQL cluster can't be run here, or None."""
    if postgres_bindir() is None:
        return "initdb/pg_ctl not found (apt-get install postgresql-15)"
    if os.geteuid() != 0:
        return "a private cluster is run as the postgres user, which needs root"
    if runuser() is None:
        return "runuser (util-linux) not found"
    try:
        pwd.getpwnam("postgres")
    except KeyError:
        return "there is no postgres user"
    return None


class PrivatePostgres:
    """A throwaway PostgreSQL cluster on a free loopback port, owned by the postgres user."""

    USER = "postgres"

    def __init__(self) -> None:
        bindir = postgres_bindir()
        assert bindir is not None
        self.bindir = bindir
        self.port = free_port()
        # Not under pytest's tmp_path: its root is private to root, and postgres must enter.
        self.base = Path(tempfile.mkdtemp(prefix="leadapp-pg-"))
        self.data = self.base / "data"
        self.log_path = self.base / "postgres.log"
        self.template: str | None = None  # a migrated database that create_database copies
        owner = pwd.getpwnam(self.USER)
        os.chown(self.base, owner.pw_uid, owner.pw_gid)
        self.base.chmod(0o700)

    def _run(self, *args: str) -> str:
        """Run one of the cluster's binaries as the postgres user; fail with its output."""
        command = [*run_as(self.USER), str(self.bindir / args[0]), *args[1:]]
        return run_command(command, cwd=self.base, context=self.server_log).stdout

    def server_log(self) -> str:
        """The postmaster's log (for failure messages)."""
        try:
            return self.log_path.read_text(encoding="utf-8", errors="replace")[-4000:]
        except OSError:
            return ""

    def initdb(self) -> None:
        """Create the cluster: trust authentication, reachable only over loopback."""
        self._run(
            "initdb",
            "-D",
            str(self.data),
            "-U",
            self.USER,
            "--auth=trust",
            "--encoding=UTF8",
            "--locale=C",
            "--no-sync",
        )

    def start(self) -> None:
        """Start the postmaster and wait until it accepts connections."""
        options = f"-p {self.port} -k {self.base} -c listen_addresses=127.0.0.1"
        self._run(
            "pg_ctl", "-D", str(self.data), "-l", str(self.log_path), "-o", options, "-w",
            "-t", "60", "start",
        )  # fmt: skip

    def stop(self, mode: str = "fast") -> None:
        """Stop it; `immediate` is a crash (no shutdown checkpoint, recovery on next start)."""
        self._run("pg_ctl", "-D", str(self.data), "-m", mode, "-w", "-t", "60", "stop")

    def running(self) -> bool:
        """Whether the postmaster is running."""
        result = subprocess.run(
            [*run_as(self.USER), str(self.bindir / "pg_ctl"), "-D", str(self.data), "status"],
            cwd=self.base,
            capture_output=True,
            timeout=30,
            check=False,
        )
        return result.returncode == 0

    def url(self, database: str = "postgres") -> str:
        """A SQLAlchemy URL for one of its databases (trust: no password)."""
        return f"postgresql+psycopg://{self.USER}@127.0.0.1:{self.port}/{database}"

    def create_database(self, template: str | None = None) -> str:
        """Create a fresh database (a copy of `template`, if given); return its URL."""
        name = "leadapp_" + uuid.uuid4().hex[:12]
        engine = create_engine(self.url(), isolation_level="AUTOCOMMIT")
        try:
            with engine.connect() as connection:
                clause = f" TEMPLATE {template}" if template else ""
                connection.execute(text(f"CREATE DATABASE {name}{clause}"))
        finally:
            engine.dispose()
        return self.url(name)

    def destroy(self) -> None:
        """Stop the cluster if it runs and delete its files."""
        try:
            if self.running():
                self.stop("immediate")
        finally:
            shutil.rmtree(self.base, ignore_errors=True)
