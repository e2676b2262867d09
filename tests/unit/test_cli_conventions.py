"""CLI conventions (issue 13, item 7): destructive verbs ask on a terminal and refuse without
--yes elsewhere, naming the command to run; `promote --full` records its own intent; `retry`
starts a rolled-back release again as it was started, and refuses anything else."""

from __future__ import annotations

import os
import pty
import subprocess
import sys
import time
from pathlib import Path

import pytest
from typer.testing import CliRunner

from runbooks.cli.app import app
from runbooks.cli.retry import rollout_argv
from runbooks.core.plan import build_plan
from runbooks.core.state import Outcome, ReleaseState
from runbooks.local.isolated import isolated_stack
from runbooks.session import current_settings, open_journal
from stackspec.errors import BadInput

SERVICE = "trading-api"


@pytest.fixture
def stack_env(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    isolated_stack(tmp_path)
    monkeypatch.setenv("RUNBOOK_STACKS_DIR", str(tmp_path / "stacks"))
    monkeypatch.setenv("RUNBOOK_STATE_DIR", str(tmp_path / "runbook"))
    return tmp_path


def _start(version: str, steps: tuple[str, ...] = (), **plan: object) -> str:
    """A release of SERVICE journaled as `runbook rollout` starts one."""
    settings = current_settings("local")
    state = ReleaseState(plan=build_plan(settings, SERVICE, version, steps))
    recorded = {"state": state.to_dict(), "faults": {}, "migration": None, **plan}
    return open_journal("local").start_release("local", SERVICE, version, recorded)


def test_abort_refuses_without_yes_when_not_a_terminal(stack_env: Path) -> None:
    release = _start("9.0.0")

    result = CliRunner().invoke(app, ["abort", "-s", "local", "--service", SERVICE])

    assert result.exit_code == 2, result.output
    assert f"abort (roll back) release {release}" in result.output
    assert "runbook abort ... --yes" in result.output  # the command path under a test runner
    assert open_journal("local").pending_intents(release) == []  # nothing recorded


def test_abort_with_yes_records_the_intent(stack_env: Path) -> None:
    release = _start("9.0.0")

    result = CliRunner().invoke(app, ["abort", "-s", "local", "--service", SERVICE, "--yes"])

    assert result.exit_code == 0, result.output
    assert [i.intent for i in open_journal("local").pending_intents(release)] == ["abort"]


def test_promote_full_records_its_own_intent(stack_env: Path) -> None:
    release = _start("9.0.0")

    args = ["promote", "-s", "local", "--service", SERVICE, "--full"]
    assert CliRunner().invoke(app, args).exit_code == 0
    assert CliRunner().invoke(app, args[:-1]).exit_code == 0

    intents = [i.intent for i in open_journal("local").pending_intents(release)]
    assert intents == ["promote-full", "promote"]


def _rollback(stack_env: Path, tty: bool, answer: bytes = b"") -> tuple[int, str]:
    """`runbook rollback` as a user runs it: the console script, on a pseudo-terminal or not."""
    script = str(Path(sys.executable).parent / "runbook")
    argv = [script, "rollback", "-s", "local", "--service", SERVICE]
    env = {**os.environ}
    if not tty:
        done = subprocess.run(argv, env=env, capture_output=True, text=True, timeout=60)
        return done.returncode, done.stdout + done.stderr
    leader, follower = pty.openpty()
    proc = subprocess.Popen(argv, env=env, stdin=follower, stdout=follower, stderr=follower)
    os.close(follower)
    said = b""
    deadline = time.monotonic() + 60
    while b"[y/N]" not in said and time.monotonic() < deadline:
        said += os.read(leader, 1024)
    os.write(leader, answer)
    while proc.poll() is None and time.monotonic() < deadline:
        try:
            said += os.read(leader, 1024)
        except OSError:  # the terminal closed: the process ended
            break
    code = proc.wait(timeout=max(deadline - time.monotonic(), 1))
    os.close(leader)
    return code, said.decode(errors="replace")


def test_rollback_asks_on_a_terminal_and_a_no_changes_nothing(stack_env: Path) -> None:
    code, said = _rollback(stack_env, tty=True, answer=b"n\n")

    assert "roll back trading-api on stack local? [y/N]" in said
    assert code == 2 and "not confirmed; nothing was done" in said, said


def test_rollback_refuses_off_a_terminal_naming_the_command_with_yes(stack_env: Path) -> None:
    code, said = _rollback(stack_env, tty=False)

    assert code == 2, said
    assert "not a terminal; nothing was done" in said
    assert "`runbook rollback -s local --service trading-api --yes`" in said


def test_retry_starts_a_rolled_back_release_as_it_was_started(stack_env: Path) -> None:
    release = _start("9.0.0", ("cache-bump",), migration="1.1.0", config_version=2)
    open_journal("local").finish(release, Outcome.ROLLED_BACK.value)

    argv = rollout_argv("local", SERVICE)

    assert argv == [
        "-s", "local", "--service", SERVICE, "--version", "9.0.0",
        "--step", "cache-bump", "--migration", "1.1.0", "--config-version", "2",
    ]  # fmt: skip


@pytest.mark.parametrize(
    ("outcome", "says"),
    [
        (None, "is still running"),
        (Outcome.PROMOTED.value, "was promoted: nothing to retry"),
        (Outcome.ABORTED.value, "its rollback did not complete"),
    ],
)
def test_retry_refuses_what_is_not_a_rolled_back_release(
    stack_env: Path, outcome: str | None, says: str
) -> None:
    release = _start("9.0.0")
    if outcome is not None:
        open_journal("local").finish(release, outcome)

    with pytest.raises(BadInput, match=says) as refused:
        rollout_argv("local", SERVICE)
    assert "runbook " in refused.value.hint  # the next command to run


def test_retry_refuses_the_rollback_of_a_promoted_release_naming_its_version(
    stack_env: Path,
) -> None:
    promoted = _start("3.8.0")
    open_journal("local").finish(promoted, Outcome.PROMOTED.value)
    revert = _start("3.7.0", reverts=promoted)
    open_journal("local").finish(revert, Outcome.ROLLED_BACK.value)

    with pytest.raises(BadInput, match=f"rolled back promoted release {promoted}") as refused:
        rollout_argv("local", SERVICE)
    assert "--version 3.8.0" in refused.value.hint


def test_retry_without_any_release_names_rollout(stack_env: Path) -> None:
    result = CliRunner().invoke(app, ["retry", "-s", "local", "--service", SERVICE])

    assert result.exit_code == 2, result.output
    assert "runbook rollout -s local --service trading-api --version VERSION" in result.output


def test_promote_full_is_refused_for_a_release_of_several_services(stack_env: Path) -> None:
    """Found in review: it said "recorded" and the engine ignored it (members move in
    lockstep); now it is refused, naming `promote`, which moves them all a step."""
    settings = current_settings("local")
    state = ReleaseState(plan=build_plan(settings, SERVICE, "9.0.0"))
    members = [{"service": SERVICE, "version": "9.0.0"}, {"service": "market-data", "version": "2"}]
    recorded = {"state": state.to_dict(), "faults": {}, "migration": None, "members": members}
    journal = open_journal("local")
    release = journal.start_release("local", f"{SERVICE}+market-data", "9.0.0", recorded)

    args = ["promote", "-s", "local", "--service", SERVICE, "--full"]
    result = CliRunner().invoke(app, args)

    assert result.exit_code == 2, result.output
    assert f"`runbook promote -s local --service {SERVICE}`" in result.output
    assert journal.pending_intents(release) == []
