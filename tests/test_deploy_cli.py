"""Clean failures at the edges: production without keys is one line, never a traceback."""

from __future__ import annotations

import os
import subprocess
import sys

import pytest

from tests.support.processes import REPO_ROOT


def without_keys() -> dict[str, str]:
    """The environment of a production process whose keys were forgotten."""
    env = {name: value for name, value in os.environ.items() if not name.startswith("LEADAPP_")}
    env["LEADAPP_ENV"] = "production"
    return env


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
    result = subprocess.run(
        [sys.executable, *command],
        env=without_keys(),
        cwd=REPO_ROOT,
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    output = (result.stdout + result.stderr).strip()
    assert result.returncode != 0
    assert "Traceback" not in output
    assert len(output.splitlines()) == 1, output
    assert "LEADAPP_ENV=production refuses to start without explicit keys" in output
    assert "LEADAPP_ENCRYPTION_KEYS" in output and "LEADAPP_BLIND_INDEX_KEY" in output
