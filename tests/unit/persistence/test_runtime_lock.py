"""One lock per local runtime: stack files (any names, any paths) whose `local.stateDir` is
the same drive one HAProxy admin socket, so the second to take the lock is refused (exit 4,
naming the holder); stack files with their own runtimes never block each other. Found: two
copies of the local stack file under one RUNBOOK_STATE_DIR got two journal folders and two
locks, and both drove one HAProxy."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
from typer.testing import CliRunner

from runbooks.cli.app import app
from runbooks.journal.lock import RUNTIME_LOCK_FILE, RuntimeLock
from runbooks.local.isolated import isolated_stack
from runbooks.session import holder, open_journal
from stackspec.errors import ExitCode, LockedError
from stackspec.stackfile import load_stack_file


def copy_stack(source: Path, stacks: Path, name: str) -> Path:
    """`source`'s stack file written as stack `name` under `stacks` (same runtime)."""
    stacks.mkdir(parents=True, exist_ok=True)
    target = stacks / f"Pulumi.{name}.yaml"
    target.write_text(source.read_text(encoding="utf-8"), encoding="utf-8")
    return target


@pytest.fixture
def stacks(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """One folder of stack files: `local` (runtime a), `twin` (a copy of it: runtime a)
    and `other` (runtime b); their journals under one RUNBOOK_STATE_DIR."""
    isolated_stack(tmp_path / "a")
    isolated_stack(tmp_path / "b")
    folder = tmp_path / "stacks"
    copy_stack(tmp_path / "a" / "stacks" / "Pulumi.local.yaml", folder, "local")
    copy_stack(tmp_path / "a" / "stacks" / "Pulumi.local.yaml", folder, "twin")
    copy_stack(tmp_path / "b" / "stacks" / "Pulumi.local.yaml", folder, "other")
    monkeypatch.setenv("RUNBOOK_STACKS_DIR", str(folder))
    monkeypatch.setenv("RUNBOOK_STATE_DIR", str(tmp_path / "journals"))
    return folder


def test_two_stack_files_on_one_runtime_share_one_lock(stacks: Path, tmp_path: Path) -> None:
    lease = open_journal("local").acquire("local", holder())
    with pytest.raises(LockedError) as refused:
        open_journal("twin").acquire("twin", holder(), force=True)
    assert refused.value.exit_code == ExitCode.LOCKED
    assert f"pid {os.getpid()}" in refused.value.message
    assert "stack 'local'" in refused.value.message
    assert str(tmp_path / "a" / "state") in refused.value.message
    assert open_journal("twin").lock_holder("twin") is not None  # status shows it
    with open_journal("other").acquire("other", holder()):  # another runtime: free
        pass
    lease.release()
    with open_journal("twin").acquire("twin", holder()):  # given back: taken at once
        assert open_journal("local").lock_holder("local") is not None
    assert open_journal("twin").lock_holder("twin") is None


def test_the_same_name_at_another_path_shares_the_lock(
    stacks: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    lease = open_journal("local").acquire("local", holder())
    monkeypatch.setenv("RUNBOOK_STACKS_DIR", str(tmp_path / "a" / "stacks"))
    with pytest.raises(LockedError):
        open_journal("local").acquire("local", holder())
    lease.release()


def test_a_second_rollout_through_the_cli_exits_4(stacks: Path) -> None:
    """The rollout of the copy is refused at the lock, naming the holder's stack."""
    with open_journal("local").acquire("local", holder()):
        args = ["rollout", "-s", "twin", "--service", "trading-api", "--version", "9.9.9"]
        result = CliRunner().invoke(app, args)
    assert result.exit_code == ExitCode.LOCKED, result.output
    assert "stack 'local'" in result.output and "Traceback" not in result.output
    assert open_journal("twin").history("twin") == []  # nothing recorded


def test_a_dead_holders_runtime_lock_needs_no_force(stacks: Path, tmp_path: Path) -> None:
    """The kernel drops the lock of a killed holder: no stale lock to take over."""
    state = tmp_path / "a" / "state"
    code = (
        "import sys, pathlib; from runbooks.journal.lock import RuntimeLock\n"
        "lease = RuntimeLock(pathlib.Path(sys.argv[1])).acquire('local', 'child')\n"
        "print('held', flush=True); sys.stdin.read()\n"
    )
    argv = [sys.executable, "-c", code, str(state)]
    with subprocess.Popen(argv, stdin=subprocess.PIPE, stdout=subprocess.PIPE) as child:
        try:
            assert child.stdout is not None and child.stdout.readline().strip() == b"held"
            with pytest.raises(LockedError) as refused:
                RuntimeLock(state).acquire("twin", holder())
            assert f"pid {child.pid}" in refused.value.message
        finally:
            child.send_signal(signal.SIGKILL)
            child.wait(timeout=30)
    deadline = time.monotonic() + 10
    while RuntimeLock(state).holder() is not None and time.monotonic() < deadline:
        time.sleep(0.05)
    with RuntimeLock(state).acquire("twin", holder()):
        assert (state / RUNTIME_LOCK_FILE).stat().st_mode & 0o777 == 0o600


def test_the_copies_really_share_a_state_dir(stacks: Path) -> None:
    """The fixture's control: `twin` is `local`'s runtime, `other` is not."""
    runtime = {
        name: load_stack_file(stacks / f"Pulumi.{name}.yaml").local
        for name in ("local", "twin", "other")
    }
    dirs = {name: local.state_dir for name, local in runtime.items() if local is not None}
    assert dirs["local"] == dirs["twin"] != dirs["other"]
