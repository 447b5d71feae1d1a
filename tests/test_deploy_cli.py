"""Clean failures at the edges: production without keys, or any malformed LEADAPP_* setting,
is one line and a failure, never a traceback nor a setting silently ignored.

The one command that runs without keys is the one that makes them: `keys generate`.
"""

from __future__ import annotations

import base64
import os
import re
import subprocess
import sys
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import pytest
from cryptography.fernet import Fernet

from leadapp.cli import asks_for_key_generation
from leadapp.crypto import Keyring
from leadapp.wording import plural
from tests.support.processes import REPO_ROOT
from tests.support.servers import leadapp_environment


def without_keys() -> dict[str, str]:
    """The environment of a production process whose keys were forgotten."""
    env = {name: value for name, value in os.environ.items() if not name.startswith("LEADAPP_")}
    env["LEADAPP_ENV"] = "production"
    return env


def run_without_keys(command: list[str]) -> subprocess.CompletedProcess[str]:
    """Run `python <command>` as that production process, from the repository root."""
    return subprocess.run(
        [sys.executable, *command],
        env=without_keys(),
        cwd=REPO_ROOT,
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )


@pytest.mark.parametrize(
    "command",
    [
        ["-m", "flask", "--app", "leadapp", "apikeys", "list"],
        ["-m", "flask", "--app", "leadapp", "db", "upgrade"],
        ["-m", "flask", "--app", "leadapp", "--help"],
        ["-m", "leadapp.server", "--port", "0"],
    ],
)
def test_production_without_keys_is_one_line_and_a_failure(command: list[str]) -> None:
    result = run_without_keys(command)
    output = (result.stdout + result.stderr).strip()
    assert result.returncode != 0
    assert "Traceback" not in output
    assert len(output.splitlines()) == 1, output
    assert "LEADAPP_ENV=production refuses to start without explicit keys" in output
    assert "LEADAPP_ENCRYPTION_KEYS" in output and "LEADAPP_BLIND_INDEX_KEY" in output


def test_keys_generate_works_in_production_without_keys() -> None:
    """Contract v3: `keys generate` prints keys whatever LEADAPP_ENV says."""
    result = run_without_keys(["-m", "flask", "--app", "leadapp", "keys", "generate"])
    assert result.returncode == 0, result.stderr
    assert "Traceback" not in result.stderr
    lines = result.stdout.splitlines()
    assert [line.split("=", 1)[0] for line in lines] == [
        "LEADAPP_ENCRYPTION_KEYS",
        "LEADAPP_BLIND_INDEX_KEY",
    ]
    encryption_key, blind_index_key = (line.split("=", 1)[1] for line in lines)
    Fernet(encryption_key)  # raises for anything but a Fernet key
    assert len(base64.urlsafe_b64decode(blind_index_key)) == 32
    assert encryption_key != blind_index_key
    # The keys work together as a deployment's keyring.
    keyring = Keyring([encryption_key], blind_index_key)
    assert keyring.decrypt(keyring.encrypt("ada@example.com")) == "ada@example.com"


@pytest.mark.parametrize(
    ("argv", "expected"),
    [
        (["--app", "leadapp", "keys", "generate"], True),
        (["-A", "leadapp", "--debug", "keys", "generate", "--help"], True),
        (["--app=leadapp", "keys", "generate"], True),
        (["--app", "leadapp", "keys", "rotate"], False),
        (["--app", "leadapp", "keys"], False),
        (["--app", "leadapp", "--help"], False),
        (["--app", "leadapp", "blocklist", "add", "keys", "--reason", "generate"], False),
        (["--app", "keys", "generate"], False),
    ],
)
def test_only_keys_generate_runs_without_configuration(argv: list[str], expected: bool) -> None:
    assert asks_for_key_generation(argv) is expected


# A malformed value of every LEADAPP_* variable the code reads (contract v3, "Operations"):
# a variable added to config.py without an entry here fails the enumeration test below.
MALFORMED = {
    "LEADAPP_ENV": "staging",
    "LEADAPP_ENCRYPTION_KEYS": "not-a-fernet-key",
    "LEADAPP_BLIND_INDEX_KEY": "short",
    "LEADAPP_DATABASE_URL": "postgres//leadapp@db/leadapp",
    "LEADAPP_RATELIMIT_STORAGE_URI": "redis//127.0.0.1:6379",
    "LEADAPP_RATELIMIT_LEADS": "5 per fortnight",
    "LEADAPP_RATELIMIT_INTEGRATIONS": "lots",
    "LEADAPP_RATELIMIT_AUTH_FAILURES": "10 per moment",
    "LEADAPP_TRUSTED_PROXIES": "two",
    "LEADAPP_TRUSTED_PROXY_NETWORKS": "10.0.0.0/33",
    "LEADAPP_DEFAULT_REGION": "England",
    "LEADAPP_CORS_ORIGINS": "www.example.com",
    "LEADAPP_CONSENT_TEXT": "I agree\x1b[0m",
    "LEADAPP_CHALLENGE": "yes",
    "LEADAPP_DUPLICATES_ANONYMOUS": "hide",
    "LEADAPP_RETENTION_DAYS": "30d",
    "LEADAPP_SHUTDOWN_SECONDS": "-1",
    "LEADAPP_WEBHOOK_WORKER": "auto",
    "LEADAPP_WEBHOOK_TIMEOUT": "10s",
    "LEADAPP_WEBHOOK_MAX_ATTEMPTS": "0",
    "LEADAPP_WEBHOOK_RETRY_SECONDS": "soon",
    "LEADAPP_SMTP_URL": "mail.example.org:587",
    "LEADAPP_SMTP_CA_FILE": "/nonexistent/ca.pem",
    "LEADAPP_MAIL_FROM": "LeadApp <leads@example.org>",
    "LEADAPP_PUBLIC_URL": "leads.example.org",
    "LEADAPP_MAIL_NOTIFY_PER_HOUR": "0",
    "LEADAPP_OPT_IN_DAYS": "a week",
}
CONFIG_SOURCE = REPO_ROOT / "leadapp" / "config.py"
# Every way config.py reads a variable: environ.get("NAME" …) or a helper's (environ, "NAME" …).
READ_FROM_ENVIRONMENT = re.compile(r'environ(?:\.get\(|,\s*)"(LEADAPP_[A-Z0-9_]+)"')


def variables_read() -> set[str]:
    """The LEADAPP_* variables the code reads from the environment, found in its source."""
    names = set(READ_FROM_ENVIRONMENT.findall(CONFIG_SOURCE.read_text(encoding="utf-8")))
    # config.py is the only reader: no other module of the package looks at os.environ.
    for path in (REPO_ROOT / "leadapp").rglob("*.py"):
        if path != CONFIG_SOURCE:
            assert "os.environ" not in path.read_text(encoding="utf-8") or path.name == (
                "__init__.py"
            ), path
    return names


def test_every_variable_read_has_a_malformed_sample_and_a_documented_row() -> None:
    read = variables_read()
    assert len(read) >= 20, read  # the pattern still finds them
    assert read == set(MALFORMED), "update MALFORMED for: " + ", ".join(read ^ set(MALFORMED))
    documented = set(
        re.findall(
            r"^\| `(LEADAPP_[A-Z0-9_]+)`",
            Path(REPO_ROOT / "docs" / "configuration.md").read_text(encoding="utf-8"),
            re.MULTILINE,
        )
    )
    assert read <= documented, read - documented


def start_with(name: str, value: str, tmp: Path, command: list[str]) -> subprocess.CompletedProcess:
    """Start `python COMMAND` as a production process whose `name` is `value`."""
    env = leadapp_environment(
        {
            "LEADAPP_ENCRYPTION_KEYS": Fernet.generate_key().decode(),
            "LEADAPP_BLIND_INDEX_KEY": Fernet.generate_key().decode(),
        },
        f"sqlite:///{tmp / 'leadapp.sqlite3'}",
    )
    env[name] = value
    return subprocess.run(
        [sys.executable, *command],
        env=env,
        cwd=REPO_ROOT,
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )


def assert_refused(name: str, result: subprocess.CompletedProcess) -> None:
    """Exit status non-zero, one line on stderr naming the variable, no traceback."""
    assert result.returncode != 0, (name, result.stdout, result.stderr)
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1 and name in lines[0], (name, result.stderr)
    assert "Traceback" not in result.stderr


def test_a_malformed_value_of_any_variable_stops_a_command(tmp_path: Path) -> None:
    command = ["-m", "flask", "--app", "leadapp", "webhooks", "list"]
    # A few at a time: each is a Python start-up, mostly waiting on imports.
    with ThreadPoolExecutor(max_workers=4) as pool:
        results = dict(
            zip(
                MALFORMED,
                pool.map(lambda item: start_with(*item, tmp_path, command), MALFORMED.items()),
                strict=True,
            )
        )
    for name, result in results.items():
        assert_refused(name, result)
    # The message names the value too where it is not a secret.
    assert "5 per fortnight" in results["LEADAPP_RATELIMIT_LEADS"].stderr
    assert Fernet.generate_key().decode()[:4] not in results["LEADAPP_ENCRYPTION_KEYS"].stderr


@pytest.mark.parametrize(
    "command",
    [
        ["-m", "leadapp.server", "--port", "0"],  # make run
        ["-m", "flask", "--app", "leadapp", "webhooks", "worker"],
        ["-m", "flask", "--app", "leadapp", "db", "upgrade"],
    ],
)
def test_a_malformed_rate_limit_stops_the_server_and_the_worker(
    command: list[str], tmp_path: Path
) -> None:
    assert_refused(
        "LEADAPP_RATELIMIT_LEADS",
        start_with("LEADAPP_RATELIMIT_LEADS", "5 per fortnight", tmp_path, command),
    )


def test_counts_in_messages_agree_with_their_nouns() -> None:
    """One helper words every count the CLI prints: "1 lead", "2 leads", never "1 leads"."""
    assert plural(1, "lead") == "1 lead"
    assert plural(0, "lead") == "0 leads"
    assert plural(2, "failed delivery", "failed deliveries") == "2 failed deliveries"
    assert plural(1, "failed delivery", "failed deliveries") == "1 failed delivery"
    assert plural(30.0, "day") == "30 days" and plural(1.0, "day") == "1 day"


def test_no_cli_message_puts_a_bare_count_before_a_plural_noun() -> None:
    """A count written straight before a plural noun reads "1 leads" when it is one."""
    cli = Path(__file__).resolve().parent.parent / "leadapp" / "cli"
    bare = re.compile(r"\{[^}]*\} (leads|deliveries|days|keys|endpoints|events)\b")
    offenders = [
        f"{path.name}:{number}: {line.strip()}"
        for path in sorted(cli.glob("*.py"))
        for number, line in enumerate(path.read_text().splitlines(), start=1)
        if bare.search(line)
    ]
    assert offenders == []
