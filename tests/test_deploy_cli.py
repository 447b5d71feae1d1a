"""Clean failures at the edges: production without keys is one line, never a traceback.

The one command that runs without keys is the one that makes them: `keys generate`.
"""

from __future__ import annotations

import base64
import os
import re
import subprocess
import sys
from pathlib import Path

import pytest
from cryptography.fernet import Fernet

from leadapp.cli import asks_for_key_generation
from leadapp.crypto import Keyring
from leadapp.wording import plural
from tests.support.processes import REPO_ROOT


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
