"""`runbook rollout` with several services: every mistake is exit 2, one line naming what
is wrong, and nothing recorded. Runs the real CLI against a private copy of the local stack
whose servers are NOT started, so each case must fail before anything is touched.
"""

from __future__ import annotations

import importlib
from pathlib import Path

import pytest
from typer.testing import CliRunner

from runbooks.cli import VERBS
from runbooks.cli.app import app
from runbooks.local.isolated import isolated_stack
from runbooks.session import open_journal
from stackspec.errors import ExitCode

for _verb in VERBS:
    importlib.import_module(f"runbooks.cli.{_verb}")

BASE = ("rollout", "--stack", "local")
TWO = ("--service", "trading-api=1.2.0", "--service", "market-data=1.2.0")
CASES = [
    (
        "unknown",
        ("--service", "trading-api=1.2.0", "--service", "nope=1.2.0"),
        "services: trading-api, market-data",
    ),
    ("twice", ("--service", "trading-api=1.2.0", "--service", "trading-api=1.3.0"), "twice"),
    ("mixed", (*TWO, "--version", "1.2.0"), "leave out --version"),
    ("malformed", ("--service", "trading-api=", "--service", "market-data=1.2.0"), "NAME=VER"),
    ("no-version", ("--service", "trading-api", "--service", "market-data"), "a version each"),
    ("bad-version", ("--service", "trading-api=1.2.0", "--service", "market-data=x y"), "x y"),
    ("fault-elsewhere", (*TWO, "--fault", "web:error-rate=0.1"), "does not release"),
    ("promotion", (*TWO, "--from", "staging"), "not promoted from evidence"),
]


@pytest.fixture
def stack_env(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    isolated_stack(tmp_path)
    monkeypatch.setenv("RUNBOOK_STACKS_DIR", str(tmp_path / "stacks"))
    monkeypatch.setenv("RUNBOOK_STATE_DIR", str(tmp_path / "runbook"))
    return tmp_path


@pytest.mark.parametrize(("name", "args", "says"), CASES, ids=[c[0] for c in CASES])
def test_a_bad_multi_service_rollout_is_exit_2_and_records_nothing(
    stack_env: Path, name: str, args: tuple[str, ...], says: str
) -> None:
    result = CliRunner().invoke(app, [*BASE, *args])

    assert result.exit_code == ExitCode.BAD_INPUT, result.output
    assert says in result.output
    assert "Traceback" not in result.output
    assert open_journal("local").history("local") == []
    assert open_journal("local").lock_holder("local") is None
