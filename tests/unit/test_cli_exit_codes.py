"""Bad input gets a clear error, exit code 2, and changes nothing; the help documents codes.

Runs the real `runbook` application against a private copy of the local stack whose
servers are NOT started: every case here must fail before anything is touched.
"""

from __future__ import annotations

import importlib
from pathlib import Path

import pytest
import yaml
from typer.testing import CliRunner

from runbooks.cli import VERBS
from runbooks.cli.app import app
from runbooks.local.isolated import isolated_stack
from runbooks.session import open_journal

for _verb in VERBS:
    importlib.import_module(f"runbooks.cli.{_verb}")


@pytest.fixture
def stack_env(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    isolated_stack(tmp_path)
    monkeypatch.setenv("RUNBOOK_STACKS_DIR", str(tmp_path / "stacks"))
    monkeypatch.setenv("RUNBOOK_STATE_DIR", str(tmp_path / "runbook"))
    return tmp_path


def _run(*args: str) -> tuple[int, str]:
    result = CliRunner().invoke(app, list(args))
    return result.exit_code, result.output


ROLLOUT = ("rollout", "--stack", "local", "--service", "trading-api", "--version", "9.0.0")

BAD_INPUT = [
    (
        "unknown-stack",
        ("rollout", "--stack", "nope", "--service", "x", "--version", "1"),
        "existing stack files",
    ),
    (
        "unknown-service",
        ("rollout", "--stack", "local", "--service", "nope", "--version", "2"),
        "trading-api",
    ),
    ("unknown-step", (*ROLLOUT, "--step", "db-migrate"), "db-migration"),
    ("unknown-fault", (*ROLLOUT, "--fault", "explode"), "error-rate"),
    ("fault-without-number", (*ROLLOUT, "--fault", "error-rate=lots"), "float"),
    (
        "version-already-active",
        ("rollout", "--stack", "local", "--service", "trading-api", "--version", "1.0.0"),
        "already",
    ),
    (
        "bad-version",
        ("rollout", "--stack", "local", "--service", "trading-api", "--version", "1 0"),
        "version",
    ),
    (
        "pause-without-release",
        ("pause", "--stack", "local", "--service", "trading-api"),
        "no release",
    ),
    (
        "rollback-without-history",
        ("rollback", "--stack", "local", "--service", "trading-api"),
        "nothing to roll back",
    ),
    (
        "resume-without-release",
        ("resume", "--stack", "local", "--service", "trading-api"),
        "no release",
    ),
    ("status-unknown-service", ("status", "--stack", "local", "--service", "nope"), "trading-api"),
    (
        "unknown-migration",
        (*ROLLOUT, "--step", "db-migration", "--migration", "9.9.9"),
        "no migration '9.9.9'",
    ),
    (
        "migration-outside-migrations",
        (*ROLLOUT, "--step", "db-migration", "--migration", "../../etc"),
        "not a migration version",
    ),
    ("migration-without-step", (*ROLLOUT, "--migration", "1.2.0"), "needs --step db-migration"),
    ("config-version-without-step", (*ROLLOUT, "--config-version", "2"), "needs --step config"),
    (
        "unknown-config-version",
        (*ROLLOUT, "--step", "config", "--config-version", "99"),
        "v99.yaml",
    ),
    ("db-lint-outside", ("db", "lint", "--migration", "../1.2.0"), "not a migration version"),
    (
        "db-restore-unknown-backup",
        ("db", "restore", "--stack", "local", "--backup-id", "20990101T000000Z-00000000"),
        "no backup",
    ),
]


@pytest.mark.parametrize(
    ("args", "says"), [c[1:] for c in BAD_INPUT], ids=[c[0] for c in BAD_INPUT]
)
def test_bad_input_exits_2_and_records_nothing(
    stack_env: Path, args: tuple[str, ...], says: str
) -> None:
    code, output = _run(*args)
    assert code == 2, output
    assert says in output
    journal = open_journal("local")
    assert journal.history("local") == []
    assert journal.lock_holder("local") is None


def test_bad_stack_file_exits_2_naming_the_key(stack_env: Path) -> None:
    path = stack_env / "stacks" / "Pulumi.local.yaml"
    doc = yaml.safe_load(path.read_text())
    doc["config"]["trading-platform:rollout"]["steps"] = [{"weight": 40}]
    path.write_text(yaml.safe_dump(doc))
    code, output = _run(*ROLLOUT)
    assert code == 2
    assert str(path) in output and "trading-platform:rollout.steps" in output


def test_fault_on_a_cloud_stack_is_refused() -> None:
    code, output = _run(
        "rollout",
        "--stack",
        "staging",
        "--service",
        "trading-api",
        "--version",
        "9.0.0",
        "--fault",
        "error-rate=0.2",
    )
    assert code == 2
    assert "local stack only" in output


def test_a_stack_that_is_not_up_fails_before_anything_is_recorded(stack_env: Path) -> None:
    code, output = _run(*ROLLOUT)
    assert code == 1
    assert "admin" in output or "socket" in output
    assert open_journal("local").history("local") == []


def test_help_documents_the_exit_codes() -> None:
    code, output = _run("--help")
    assert code == 0
    for line in ("0  done", "2  bad input", "3  rolled back", "4  locked"):
        assert line in output
