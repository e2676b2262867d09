"""`runbook local` on the command line: exit codes and output, without starting servers."""

from __future__ import annotations

import json
from pathlib import Path

from typer.testing import CliRunner

import runbooks.cli.local  # noqa: F401  # registers `local` on the app
from runbooks.cli.app import app


def test_status_of_an_empty_state_dir_says_nothing_runs(tmp_path: Path) -> None:
    result = CliRunner().invoke(app, ["local", "status", "--state-dir", str(tmp_path)])
    assert result.exit_code == 1
    assert "nothing running" in result.output


def test_status_json_of_an_empty_state_dir(tmp_path: Path) -> None:
    result = CliRunner().invoke(app, ["local", "status", "--json", "--state-dir", str(tmp_path)])
    assert json.loads(result.output) == {"state_dir": str(tmp_path), "healthy": False, "parts": []}


def test_down_with_nothing_recorded_stops_nothing(tmp_path: Path) -> None:
    result = CliRunner().invoke(app, ["local", "down", "--json", "--state-dir", str(tmp_path)])
    assert result.exit_code == 0
    assert json.loads(result.output)["stopped"] == []


def test_a_stack_that_is_not_local_is_refused_with_exit_2() -> None:
    result = CliRunner().invoke(app, ["local", "up", "--stack", "dev"])
    assert result.exit_code == 2
    assert "substrate 'local'" in result.output


def test_an_unknown_stack_is_refused_with_exit_2() -> None:
    result = CliRunner().invoke(app, ["local", "status", "--stack", "nosuch"])
    assert result.exit_code == 2
    assert "Pulumi.nosuch.yaml" in result.output
