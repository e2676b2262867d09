"""The installed `runbook` command, as a user runs it, on expected failures: its documented
exit code and one error line (plus a hint) on stderr, never a traceback.

A real process, unlike CliRunner: Typer's own traceback printer is live here. No server is
started: the local stack is an isolated copy that is not up.
"""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

from runbooks.local.isolated import isolated_stack
from stackspec.errors import ExitCode

pytestmark = pytest.mark.integration

RUNBOOK = Path(sys.executable).with_name("runbook")
ROLLOUT = ("--service", "trading-api", "--version", "9.0.0")


@pytest.fixture(scope="module")
def stacks(tmp_path_factory: pytest.TempPathFactory) -> Path:
    base = tmp_path_factory.mktemp("cli-failures")
    isolated_stack(base)
    return base


def _runbook(args: tuple[str, ...], env: dict[str, str]) -> subprocess.CompletedProcess[str]:
    if not RUNBOOK.exists():
        pytest.skip(f"{RUNBOOK} is not installed (uv sync installs the console script)")
    return subprocess.run(
        [str(RUNBOOK), *args],
        env={**os.environ, **env},
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )


CASES = [
    (
        "state-dir-unusable",
        ("status", "--stack", "local"),
        {"RUNBOOK_STATE_DIR": "/etc/hostname/runbook-state"},
        ExitCode.FAILED,
        "cannot create the state dir",
    ),
    (
        "stack-down",
        ("rollout", "--stack", "local", *ROLLOUT),
        {},
        ExitCode.FAILED,
        "admin socket",
    ),
    (
        "staging-without-pulumi",
        ("rollout", "-s", "staging", *ROLLOUT),
        {"PATH": "", "RUNBOOK_STACKS_DIR": ""},
        ExitCode.FAILED,
        "the Pulumi CLI is not installed",
    ),
    (
        "bad-stack-name",
        ("rollout", "-s", "nope", *ROLLOUT),
        {},
        ExitCode.BAD_INPUT,
        "existing stack files",
    ),
]


@pytest.mark.parametrize(
    ("args", "env", "exit_code", "says"), [c[1:] for c in CASES], ids=[c[0] for c in CASES]
)
def test_runbook_fails_in_one_line(
    stacks: Path,
    args: tuple[str, ...],
    env: dict[str, str],
    exit_code: ExitCode,
    says: str,
) -> None:
    given = {
        "RUNBOOK_STACKS_DIR": str(stacks / "stacks"),
        "RUNBOOK_STATE_DIR": str(stacks / "runbook"),
        **env,
    }
    done = _runbook(args, given)
    assert done.returncode == exit_code, done.stderr
    assert "Traceback" not in done.stderr + done.stdout
    lines = done.stderr.strip().splitlines()
    assert lines[0].startswith("error: ") and says in done.stderr, done.stderr
    assert len(lines) <= 2, done.stderr  # the error and its hint (or its one problem)
