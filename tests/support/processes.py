"""Running commands for tests and the bench: bounded in time, failing with their output."""

from __future__ import annotations

import os
import pwd
import shutil
import signal
import subprocess
import sys
from collections.abc import Callable, Mapping, Sequence
from contextlib import suppress
from pathlib import Path

REPO_ROOT = Path(__file__).resolve().parents[2]
COMMAND_TIMEOUT = 120.0


def run_command(
    command: Sequence[str],
    *,
    cwd: Path,
    env: Mapping[str, str] | None = None,
    timeout: float | None = COMMAND_TIMEOUT,
    context: Callable[[], str] | None = None,
    input: str | None = None,
    check: bool = True,
) -> subprocess.CompletedProcess[str]:
    """Run a command to its end, `input` on its stdin; fail with its output (and
    `context()`) when it fails, unless `check` is false."""
    result = subprocess.run(
        list(command),
        env=dict(env) if env is not None else None,
        cwd=cwd,
        input=input,
        capture_output=True,
        text=True,
        timeout=timeout,
        check=False,
    )
    if check and result.returncode != 0:
        raise AssertionError(
            f"{' '.join(command)} exited {result.returncode}:\n{result.stdout}{result.stderr}"
            + (f"\n{context()}" if context is not None else "")
        )
    return result


def python_module(
    env: Mapping[str, str],
    module: str,
    *args: str,
    timeout: float | None = COMMAND_TIMEOUT,
    input: str | None = None,
    check: bool = True,
) -> subprocess.CompletedProcess[str]:
    """Run `python -m MODULE ARGS` from the repository root in environment `env`."""
    return run_command(
        [sys.executable, "-m", module, *args],
        cwd=REPO_ROOT,
        env=env,
        timeout=timeout,
        input=input,
        check=check,
    )


def flask_command(
    env: Mapping[str, str],
    *args: str,
    timeout: float | None = COMMAND_TIMEOUT,
    input: str | None = None,
    check: bool = True,
) -> subprocess.CompletedProcess[str]:
    """Run `flask --app leadapp ARGS` in a subprocess, `input` on its stdin; fail with its
    output when it fails (unless `check` is false)."""
    return python_module(
        env, "flask", "--app", "leadapp", *args, timeout=timeout, input=input, check=check
    )


def runuser() -> str | None:
    """Path of util-linux's runuser (in /usr/sbin, which a root PATH may lack)."""
    found = shutil.which("runuser") or "/usr/sbin/runuser"
    return found if os.access(found, os.X_OK) else None


def run_as(user: str | None) -> list[str]:
    """The command prefix that runs a command as `user` (nothing when already that user)."""
    if user is None or pwd.getpwuid(os.geteuid()).pw_name == user:
        return []
    found = runuser()
    assert found is not None, "runuser (util-linux) is needed to run a command as " + user
    return [found, "-u", user, "--"]


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


def signal_group(process: subprocess.Popen[bytes], signum: int) -> None:
    """Signal the process group the child leads (it was started in a session of its own)."""
    with suppress(ProcessLookupError):
        os.killpg(process.pid, signum)


def stop_process(process: subprocess.Popen[bytes] | None, timeout: float) -> None:
    """Terminate a child's session (SIGTERM), killing it (SIGKILL) if it lingers."""
    if process is None or process.poll() is not None:
        return
    signal_group(process, signal.SIGTERM)
    try:
        process.wait(timeout=timeout)
    except subprocess.TimeoutExpired:
        signal_group(process, signal.SIGKILL)
        process.wait(timeout=timeout)
