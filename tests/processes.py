"""Real processes for end-to-end tests: LeadApp servers, a private PostgreSQL and a private Redis.

Everything here is bounded in time and stops what it started, so a test that kills a
database or a server mid-run cannot hang the suite or leave processes behind.
"""

from __future__ import annotations

import glob
import http.client
import json
import os
import pwd
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import threading
import time
import uuid
from collections.abc import Callable, Iterator, Mapping, Sequence
from contextlib import contextmanager, suppress
from dataclasses import dataclass
from pathlib import Path
from typing import Any, TypeVar

import redis
from sqlalchemy import create_engine, text

from leadapp.crypto import Keyring
from leadapp.services.leads import blind_indexes
from tests.conftest import free_port

REPO_ROOT = Path(__file__).resolve().parent.parent
START_TIMEOUT = 30.0
STOP_TIMEOUT = 10.0
COMMAND_TIMEOUT = 120.0
PROBLEM_JSON = "application/problem+json"

T = TypeVar("T")


def wait_until(
    probe: Callable[[], T | None], *, timeout: float, interval: float = 0.1, what: str
) -> T:
    """Call `probe` until it returns something truthy; fail after `timeout` seconds."""
    deadline = time.monotonic() + timeout
    while True:
        result = probe()
        if result:
            return result
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out after {timeout:.0f} s waiting for {what}")
        time.sleep(interval)


@dataclass
class Answer:
    """One HTTP response: status, lower-cased headers and the parsed JSON body (or None)."""

    status: int
    headers: dict[str, str]
    body: Any

    @property
    def is_problem(self) -> bool:
        """Whether the body is an RFC 9457 problem document whose status matches."""
        return (
            self.headers.get("content-type", "").startswith(PROBLEM_JSON)
            and isinstance(self.body, dict)
            and self.body.get("status") == self.status
        )

    def retry_after(self) -> int | None:
        """The Retry-After header in seconds, or None when absent."""
        value = self.headers.get("retry-after")
        return int(value) if value is not None else None


def http_request(
    port: int,
    method: str,
    path: str,
    body: Any = None,
    *,
    source_ip: str = "127.0.0.1",
    headers: Mapping[str, str] | None = None,
    timeout: float = 30.0,
    before_send: Callable[[], None] | None = None,
) -> Answer:
    """Send one request from a loopback source address; `before_send` runs once connected."""
    connection = http.client.HTTPConnection(
        "127.0.0.1", port, timeout=timeout, source_address=(source_ip, 0)
    )
    try:
        connection.connect()
        if before_send is not None:
            before_send()
        payload = json.dumps(body).encode() if body is not None else None
        all_headers = {"Content-Type": "application/json", **(headers or {})}
        connection.request(method, path, body=payload, headers=all_headers)
        response = connection.getresponse()
        raw = response.read()
        try:
            data = json.loads(raw) if raw else None
        except ValueError:
            data = raw.decode("utf-8", "replace")
        return Answer(response.status, {k.lower(): v for k, v in response.getheaders()}, data)
    finally:
        connection.close()


def _runuser() -> str | None:
    """Path of util-linux's runuser (in /usr/sbin, which a root PATH may lack)."""
    found = shutil.which("runuser") or "/usr/sbin/runuser"
    return found if os.access(found, os.X_OK) else None


def _run_as(user: str | None) -> list[str]:
    """The command prefix that runs a command as `user` (nothing when already that user)."""
    if user is None or pwd.getpwuid(os.geteuid()).pw_name == user:
        return []
    runuser = _runuser()
    assert runuser is not None, "runuser (util-linux) is needed to run a command as " + user
    return [runuser, "-u", user, "--"]


def bound_by_file_permissions() -> list[str]:
    """A command prefix under which file permissions bind (root overrides them otherwise).

    As root, `setpriv` drops the capabilities that let root ignore permission bits from
    the bounding set, so the child runs as root yet cannot write a 0444 file or create
    files in a 0555 directory. Other users are bound by permissions already.
    """
    if os.geteuid() != 0:
        return []
    setpriv = shutil.which("setpriv")
    assert setpriv is not None, "setpriv (util-linux) is needed to drop root's file override"
    return [setpriv, "--bounding-set=-dac_override,-dac_read_search,-fowner", "--"]


def leadapp_environment(
    keys: Mapping[str, str], database_url: str, **settings: str
) -> dict[str, str]:
    """The environment of a LeadApp process: no inherited LEADAPP_* settings, shared keys."""
    env = {name: value for name, value in os.environ.items() if not name.startswith("LEADAPP_")}
    env.update(
        {
            "LEADAPP_ENV": "production",
            "LEADAPP_DATABASE_URL": database_url,
            "PYTHONUNBUFFERED": "1",
            **keys,
            **settings,
        }
    )
    return env


def flask_command(
    env: Mapping[str, str], *args: str, timeout: float = COMMAND_TIMEOUT
) -> subprocess.CompletedProcess[str]:
    """Run `flask --app leadapp ARGS` in a subprocess; fail with its output when it fails."""
    result = subprocess.run(
        [sys.executable, "-m", "flask", "--app", "leadapp", *args],
        env=dict(env),
        cwd=REPO_ROOT,
        capture_output=True,
        text=True,
        timeout=timeout,
        check=False,
    )
    if result.returncode != 0:
        raise AssertionError(
            f"flask {' '.join(args)} exited {result.returncode}:\n{result.stdout}{result.stderr}"
        )
    return result


class LeadAppServer:
    """One `python -m leadapp.server` process on a free loopback port."""

    def __init__(
        self,
        env: Mapping[str, str],
        log_path: Path,
        *,
        threads: int = 8,
        command_prefix: Sequence[str] = (),
    ) -> None:
        self.env = dict(env)
        self.log_path = log_path
        self.threads = threads
        self.command_prefix = list(command_prefix)
        self.port = 0
        self.process: subprocess.Popen[bytes] | None = None

    @property
    def pid(self) -> int:
        """The server's process id."""
        assert self.process is not None
        return self.process.pid

    def alive(self) -> bool:
        """Whether the process is still running."""
        return self.process is not None and self.process.poll() is None

    def log(self) -> str:
        """Everything the server wrote to stdout and stderr so far."""
        try:
            return self.log_path.read_text(encoding="utf-8", errors="replace")
        except FileNotFoundError:
            return ""

    def start(self) -> LeadAppServer:
        """Start the process and wait until /healthz answers (a taken port is retried)."""
        for _attempt in range(3):
            self.port = free_port()
            with self.log_path.open("ab") as log:
                self.process = subprocess.Popen(
                    [
                        *self.command_prefix,
                        sys.executable,
                        "-m",
                        "leadapp.server",
                        "--host",
                        "127.0.0.1",
                        "--port",
                        str(self.port),
                        "--threads",
                        str(self.threads),
                    ],
                    env=self.env,
                    cwd=REPO_ROOT,
                    stdout=log,
                    stderr=subprocess.STDOUT,
                    start_new_session=True,
                )
            if self._wait_healthy():
                return self
            self.stop()
            if "address already in use" not in self.log().lower():
                break
        raise AssertionError(f"LeadApp server did not become healthy; its log:\n{self.log()}")

    def _wait_healthy(self) -> bool:
        """Poll /healthz until it answers 200, the process dies or START_TIMEOUT passes."""
        deadline = time.monotonic() + START_TIMEOUT
        while time.monotonic() < deadline:
            if not self.alive():
                return False
            try:
                if self.request("GET", "/healthz", timeout=2).status == 200:
                    return True
            except OSError:
                pass
            time.sleep(0.05)
        return False

    def request(self, method: str, path: str, body: Any = None, **options: Any) -> Answer:
        """Send one request to this server (see http_request)."""
        return http_request(self.port, method, path, body, **options)

    def kill(self) -> None:
        """Kill the process outright (SIGKILL): a crash, with no chance to finish anything."""
        assert self.process is not None
        _signal_group(self.process, signal.SIGKILL)
        self.process.wait(timeout=STOP_TIMEOUT)

    def stop(self) -> None:
        """Terminate the process (SIGTERM to its session), killing it if it lingers."""
        if self.process is None or self.process.poll() is not None:
            return
        _signal_group(self.process, signal.SIGTERM)
        try:
            self.process.wait(timeout=STOP_TIMEOUT)
        except subprocess.TimeoutExpired:
            _signal_group(self.process, signal.SIGKILL)
            self.process.wait(timeout=STOP_TIMEOUT)


def _signal_group(process: subprocess.Popen[bytes], signum: int) -> None:
    """Signal the process group the child leads (it was started in a session of its own)."""
    with suppress(ProcessLookupError):
        os.killpg(process.pid, signum)


@contextmanager
def leadapp_servers(
    count: int, env: Mapping[str, str], log_dir: Path, **options: Any
) -> Iterator[list[LeadAppServer]]:
    """Start `count` servers with one environment; stop them all on exit, whatever happened."""
    servers: list[LeadAppServer] = []
    try:
        for n in range(count):
            server = LeadAppServer(env, log_dir / f"server-{len(servers)}-{n}.log", **options)
            servers.append(server)
            server.start()
        yield servers
    finally:
        for server in servers:
            server.stop()


def unhandled_errors(servers: list[LeadAppServer]) -> list[str]:
    """Log lines of 500s (unhandled errors) from any of the servers."""
    return [
        line
        for server in servers
        for line in server.log().splitlines()
        if "unhandled error" in line or '"status": 500' in line
    ]


@contextmanager
def black_hole() -> Iterator[int]:
    """A loopback port that accepts TCP connections (in the kernel) and never answers.

    What a client sees of a database host that vanished or hangs: no refusal, no reply.
    """
    with socket.socket() as listener:
        listener.bind(("127.0.0.1", 0))
        listener.listen(128)
        yield listener.getsockname()[1]


# --- private Redis -------------------------------------------------------------------


def redis_server_problem() -> str | None:
    """Why a private redis-server can't be started, or None."""
    if shutil.which("redis-server") is None:
        return "redis-server is not on PATH (apt-get install redis-server)"
    return None


class PrivateRedis:
    """A redis-server of our own on a free port, without persistence, that a test may stop."""

    def __init__(self, log_path: Path) -> None:
        self.port = free_port()
        self.log_path = log_path
        self.process: subprocess.Popen[bytes] | None = None

    def url(self, db: int = 0) -> str:
        """Its URL."""
        return f"redis://127.0.0.1:{self.port}/{db}"

    def client(self) -> redis.Redis:
        """A client with short timeouts."""
        return redis.Redis(
            host="127.0.0.1", port=self.port, socket_timeout=2, socket_connect_timeout=2
        )

    def running(self) -> bool:
        """Whether the server process is alive."""
        return self.process is not None and self.process.poll() is None

    def _answers(self) -> bool:
        """Whether it answers PING."""
        try:
            with self.client() as client:
                return bool(client.ping())
        except redis.RedisError:
            return False

    def start(self) -> None:
        """Start it (on the same port every time) and wait for PING."""
        with self.log_path.open("ab") as log:
            self.process = subprocess.Popen(
                [
                    "redis-server",
                    "--port",
                    str(self.port),
                    "--bind",
                    "127.0.0.1",
                    "--save",
                    "",
                    "--appendonly",
                    "no",
                    "--daemonize",
                    "no",
                ],
                stdout=log,
                stderr=subprocess.STDOUT,
                start_new_session=True,
            )
        wait_until(
            lambda: self._answers() or not self.running(), timeout=START_TIMEOUT, what="redis"
        )
        if not self.running():
            raise AssertionError(f"redis-server exited; its log:\n{self.log_path.read_text()}")

    def stop(self) -> None:
        """Stop it (SIGTERM, then SIGKILL) and wait until the port is closed."""
        if self.process is None or self.process.poll() is not None:
            return
        self.process.terminate()
        try:
            self.process.wait(timeout=STOP_TIMEOUT)
        except subprocess.TimeoutExpired:
            self.process.kill()
            self.process.wait(timeout=STOP_TIMEOUT)


# --- private PostgreSQL ----------------------------------------------------------------


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
    if _runuser() is None:
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

    def _run(self, *args: str, timeout: float = COMMAND_TIMEOUT) -> str:
        """Run one of the cluster's binaries as the postgres user; fail with its output."""
        result = subprocess.run(
            [*_run_as(self.USER), str(self.bindir / args[0]), *args[1:]],
            cwd=self.base,
            capture_output=True,
            text=True,
            timeout=timeout,
            check=False,
        )
        if result.returncode != 0:
            raise AssertionError(
                f"{args[0]} exited {result.returncode}:\n{result.stdout}{result.stderr}\n"
                f"{self.server_log()}"
            )
        return result.stdout

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
            [*_run_as(self.USER), str(self.bindir / "pg_ctl"), "-D", str(self.data), "status"],
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


# --- what the database holds -----------------------------------------------------------


def read_leads(database_url: str, keys: Mapping[str, str]) -> list[dict[str, Any]]:
    """Every stored lead, decrypted; fails unless each row is whole.

    Whole means every encrypted field decrypts under the configured keys and the blind
    indexes are exactly those of the decrypted values: no half-written or torn row.
    """
    keyring = Keyring(keys["LEADAPP_ENCRYPTION_KEYS"].split(","), keys["LEADAPP_BLIND_INDEX_KEY"])
    engine = create_engine(database_url)
    try:
        with engine.connect() as connection:
            rows = (
                connection.execute(
                    text(
                        "SELECT id, name, email, phone, ip_address, email_bidx, phone_bidx,"
                        " ip_bidx, created_at FROM leads"
                    )
                )
                .mappings()
                .all()
            )
    finally:
        engine.dispose()
    leads = []
    for row in rows:
        lead = {
            "id": str(uuid.UUID(str(row["id"]))),
            "name": keyring.decrypt(row["name"]),
            "email": keyring.decrypt(row["email"]),
            "phone": keyring.decrypt(row["phone"]),
            "ip_address": keyring.decrypt(row["ip_address"]) if row["ip_address"] else None,
        }
        expected = blind_indexes(keyring, lead["email"], lead["phone"], lead["ip_address"])
        stored = {column: row[column] for column in expected}
        stored = {k: bytes(v) if v is not None else None for k, v in stored.items()}
        assert stored == expected, f"lead {lead['id']} has blind indexes of other values"
        assert lead["name"] and row["created_at"] is not None, f"lead {lead['id']} is incomplete"
        leads.append(lead)
    return leads


def by_id(leads: list[dict[str, Any]]) -> dict[str, dict[str, Any]]:
    """Leads keyed by id, with only the fields the API returns on creation."""
    fields = ("id", "name", "email", "phone", "ip_address")
    return {lead["id"]: {field: lead[field] for field in fields} for lead in leads}


class LoadGenerator:
    """Threads posting distinct valid leads to servers until stopped, recording every answer."""

    def __init__(
        self, servers: list[LeadAppServer], make_body: Callable[[int], dict[str, Any]], workers: int
    ) -> None:
        self.servers = servers
        self.make_body = make_body
        self.answers: list[tuple[dict[str, Any], str, Answer | BaseException]] = []
        self._lock = threading.Lock()
        self._stop = threading.Event()
        self._counter = 0
        self._threads = [threading.Thread(target=self._work, daemon=True) for _ in range(workers)]

    def _next(self) -> int:
        """A number no other request uses."""
        with self._lock:
            self._counter += 1
            return self._counter

    def _work(self) -> None:
        """Post leads round-robin until stopped."""
        while not self._stop.is_set():
            n = self._next()
            body = self.make_body(n)
            source_ip = f"127.1.{n // 250}.{n % 250 + 1}"
            server = self.servers[n % len(self.servers)]
            try:
                answer: Answer | BaseException = server.request(
                    "POST", "/leads", body, source_ip=source_ip, timeout=20
                )
            except (OSError, http.client.HTTPException) as error:
                answer = error
            with self._lock:
                self.answers.append((body, source_ip, answer))
            time.sleep(0.01)

    def __enter__(self) -> LoadGenerator:
        for thread in self._threads:
            thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        for thread in self._threads:
            thread.join(timeout=30)

    def statuses(self) -> list[int | str]:
        """Every status so far (an exception's class name where no answer came)."""
        with self._lock:
            return [
                a.status if isinstance(a, Answer) else type(a).__name__ for _, _, a in self.answers
            ]

    def count(self, status: int) -> int:
        """How many answers had this status."""
        return sum(1 for s in self.statuses() if s == status)
