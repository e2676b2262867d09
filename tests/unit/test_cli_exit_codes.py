"""Every expected failure ends in its documented exit code and one or two lines, never a
traceback; bad input gets exit code 2 and changes nothing; the help documents the codes.

Runs the real `runbook` application against a private copy of the local stack whose
servers are NOT started: every case here must fail before anything is touched.
"""

from __future__ import annotations

import importlib
import os
from pathlib import Path

import pytest
import yaml
from typer.testing import CliRunner

from runbooks.cli import VERBS
from runbooks.cli.app import app
from runbooks.local.isolated import isolated_stack
from runbooks.local.stack import PartStatus, StackStatus
from runbooks.session import open_journal
from stackspec.errors import ExitCode

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
    ("fault-without-number", (*ROLLOUT, "--fault", "error-rate=lots"), "a number from 0 to 1"),
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
        ("rollback", "--stack", "local", "--service", "trading-api", "--yes"),
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
    for member in ExitCode:  # rendered from the enum: no second copy to drift
        assert f"{member.value}  {member.meaning}" in " ".join(output.split("\n"))


# A path no one can create a directory under, root included: its parent is a regular file.
UNUSABLE_STATE_DIR = "/etc/hostname/runbook-state"
STATUS = ("status", "--stack", "local", "--service", "trading-api")
ROLLBACK = ("rollback", "--stack", "local", "--service", "trading-api", "--yes")
CLOUD_ROLLOUT = ("--service", "trading-api", "--version", "9.0.0")

# (id, args, extra environment, exit code, what the one line says)
FAILURES = [
    ("state-dir-unusable-rollout", ROLLOUT, {"RUNBOOK_STATE_DIR": UNUSABLE_STATE_DIR}, 1,
     "cannot create the state dir"),
    ("state-dir-unusable-status", STATUS, {"RUNBOOK_STATE_DIR": UNUSABLE_STATE_DIR}, 1,
     "RUNBOOK_STATE_DIR"),
    ("state-dir-unusable-rollback", ROLLBACK, {"RUNBOOK_STATE_DIR": UNUSABLE_STATE_DIR}, 1,
     "cannot create the state dir"),
    ("stack-down-rollout", ROLLOUT, {}, 1, "admin socket"),
    ("stack-down-local-status", ("local", "status", "--stack", "local"), {}, 1,
     "nothing running"),
    ("stack-down-db-status", ("db", "status", "--stack", "local"), {}, 1,
     "cannot read the migration ledger"),
    ("local-up-state-dir-unusable", ("local", "up", "--state-dir", UNUSABLE_STATE_DIR), {}, 1,
     "file system: /etc/hostname/runbook-state: Not a directory"),
    ("unknown-stack-status", ("status", "--stack", "nope"), {}, 2, "existing stack files"),
    ("staging-without-pulumi", ("rollout", "-s", "staging", *CLOUD_ROLLOUT), {"PATH": ""}, 1,
     "the Pulumi CLI is not installed"),
    # production's file requires a promotion from staging: a plain rollout is refused first
    ("production-without-evidence", ("rollout", "-s", "production", *CLOUD_ROLLOUT),
     {"PATH": ""}, 2, "requires evidence from 'staging'"),
    ("staging-rollback-without-pulumi", ("rollback", "-s", "staging", "--service",
     "trading-api", "--yes"), {"PATH": ""}, 1, "the Pulumi CLI is not installed"),
]  # fmt: skip


@pytest.mark.parametrize(
    ("args", "env", "exit_code", "says"),
    [c[1:] for c in FAILURES],
    ids=[c[0] for c in FAILURES],
)
def test_expected_failures_exit_with_their_code_in_one_line(
    stack_env: Path,
    monkeypatch: pytest.MonkeyPatch,
    args: tuple[str, ...],
    env: dict[str, str],
    exit_code: int,
    says: str,
) -> None:
    if "-s" in args:  # the project's own cloud stack files, not the isolated local one
        monkeypatch.delenv("RUNBOOK_STACKS_DIR")
    for key, value in env.items():
        monkeypatch.setenv(key, value)
    code, output = _run(*args)
    assert code == exit_code, output
    assert says in output
    assert "Traceback" not in output
    assert 1 <= len(output.strip().splitlines()) <= 2, output


def test_chmod_500_state_dir_is_one_line(stack_env: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    if os.geteuid() == 0:
        pytest.skip("root ignores directory permissions: the FAILURES table covers it")
    locked = stack_env / "locked"
    locked.mkdir(mode=0o500)
    monkeypatch.setenv("RUNBOOK_STATE_DIR", str(locked))
    code, output = _run(*STATUS)
    assert code == 1
    assert "Permission denied" in output and "Traceback" not in output


def test_rehearse_on_an_unhealthy_stack_names_the_sick_part(
    stack_env: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    # The bring-up is replaced by its answer: one part up, one that never became healthy.
    sick = StackStatus(
        stack_env / "state",
        (
            PartStatus("postgres", 5432, 11, True, True, "", "pg.log"),
            PartStatus("haproxy", 8080, None, False, False, "not running", "haproxy.log"),
        ),
    )
    monkeypatch.setattr("runbooks.rehearsal.run.local_stack.up", lambda _settings: sick)
    code, output = _run("rehearse", "--report-dir", str(stack_env / "reports"))
    assert code == ExitCode.FAILED
    error = next(line for line in output.splitlines() if line.startswith("error: "))
    assert "haproxy: not running (log haproxy.log)" in error
    assert "postgres:" not in error  # only the sick parts are named
    assert "Traceback" not in output
