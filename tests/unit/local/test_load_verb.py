"""`runbook local load` against a stack that is not up: every request fails, so it exits 1
and names `runbook local up` instead of reporting success."""

from __future__ import annotations

from pathlib import Path

import pytest
from typer.testing import CliRunner

from runbooks.cli.app import app
from runbooks.cli.local import local_app  # noqa: F401  (registers `local` on app)
from runbooks.local.isolated import isolated_stack
from stackspec.errors import ExitCode


def test_load_on_a_stack_that_is_down_exits_1_naming_local_up(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    isolated_stack(tmp_path)  # a stack file on free ports: nothing listens on them
    monkeypatch.setenv("RUNBOOK_STACKS_DIR", str(tmp_path / "stacks"))
    monkeypatch.setenv("RUNBOOK_STATE_DIR", str(tmp_path / "runbook"))

    args = ["local", "load", "-s", "local", "--rate", "20", "--for", "2"]
    result = CliRunner().invoke(app, args)

    assert result.exit_code == ExitCode.FAILED, result.output
    assert "every request" in result.output and "runbook local up -s local" in result.output
