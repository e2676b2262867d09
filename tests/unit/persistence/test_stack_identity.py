"""Journals keyed on the stack's identity (its resolved stack file path and name): two
`local` stacks with their own runtimes sharing a state dir blocked each other and showed
each other's release, as both were keyed on the name alone. An existing state dir keeps
working (first claim). Stack files sharing one runtime: tests/unit/persistence/
test_runtime_lock.py. A cloud stack stays keyed on its name."""

from __future__ import annotations

import json
import shutil
import stat
from pathlib import Path

import pytest
from typer.testing import CliRunner

from runbooks.cli.app import app
from runbooks.journal.sqlite import SqliteJournal
from runbooks.local.isolated import isolated_stack
from runbooks.session import IDENTITY_FILE, holder, open_journal, runbook_state_dir
from stackspec.errors import LockedError
from stackspec.stackfile import PROJECT_ROOT

STACK = "local"


@pytest.fixture
def two_stacks(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> tuple[Path, Path]:
    """Two isolated local stacks (a/ and b/) whose runs share one state dir."""
    isolated_stack(tmp_path / "a")
    isolated_stack(tmp_path / "b")
    monkeypatch.setenv("RUNBOOK_STATE_DIR", str(tmp_path / "shared"))
    return tmp_path / "a" / "stacks", tmp_path / "b" / "stacks"


def use(monkeypatch: pytest.MonkeyPatch, stacks: Path) -> None:
    monkeypatch.setenv("RUNBOOK_STACKS_DIR", str(stacks))


def test_two_stacks_of_one_name_get_their_own_journal_and_lock(
    two_stacks: tuple[Path, Path], monkeypatch: pytest.MonkeyPatch
) -> None:
    a, b = two_stacks
    use(monkeypatch, a)
    journal_a, dir_a = open_journal(STACK), runbook_state_dir(STACK)
    lease = journal_a.acquire(STACK, holder())
    journal_a.start_release(STACK, "trading-api", "9.0.0", {})
    use(monkeypatch, b)
    journal_b, dir_b = open_journal(STACK), runbook_state_dir(STACK)
    assert dir_a.name == STACK and dir_b.name.startswith(f"{STACK}-") and dir_a != dir_b
    assert journal_b.lock_holder(STACK) is None
    assert journal_b.history(STACK) == []
    with journal_b.acquire(STACK, holder()):  # not blocked by a's lock
        pass
    use(monkeypatch, a)
    assert runbook_state_dir(STACK) == dir_a  # stable: a keeps its claim
    assert open_journal(STACK).lock_holder(STACK) is not None
    lease.release()


def test_the_cli_on_one_stack_sees_neither_the_others_lock_nor_its_release(
    two_stacks: tuple[Path, Path], monkeypatch: pytest.MonkeyPatch
) -> None:
    a, b = two_stacks
    use(monkeypatch, a)
    journal = open_journal(STACK)
    lease = journal.acquire(STACK, holder())
    journal.start_release(STACK, "trading-api", "9.0.0", {})
    args = ["status", "-s", STACK, "--json"]
    seen = json.loads(CliRunner().invoke(app, args).output)
    assert seen["lock"] is not None  # the control: a's status shows its own lock
    use(monkeypatch, b)
    result = CliRunner().invoke(app, args)
    assert result.exit_code == 0, result.output
    assert json.loads(result.output)["lock"] is None
    assert "9.0.0" not in result.output
    lease.release()


def test_an_existing_state_dir_keeps_its_releases(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    isolated_stack(tmp_path)
    use(monkeypatch, tmp_path / "stacks")
    monkeypatch.setenv("RUNBOOK_STATE_DIR", str(tmp_path / "state"))
    old = SqliteJournal.in_state_dir(tmp_path / "state" / STACK)  # as before: no claim
    old.start_release(STACK, "trading-api", "9.0.0", {})
    assert runbook_state_dir(STACK) == tmp_path / "state" / STACK
    assert [r.version for r in open_journal(STACK).history(STACK)] == ["9.0.0"]
    claim = (tmp_path / "state" / STACK / IDENTITY_FILE).read_text(encoding="utf-8")
    assert claim.strip() == str((tmp_path / "stacks" / "Pulumi.local.yaml").resolve())


def test_a_cloud_stack_is_keyed_on_its_name_wherever_its_file_is(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A cloud stack's name is its Pulumi stack (one set of cloud resources): every copy of
    its file meets at one journal and lock, as with the PostgreSQL journal."""
    monkeypatch.delenv("RUNBOOK_STACKS_DIR", raising=False)
    monkeypatch.setenv("RUNBOOK_STATE_DIR", str(tmp_path / "state"))
    project = runbook_state_dir("staging")
    copy = tmp_path / "elsewhere"
    copy.mkdir()
    shutil.copy(PROJECT_ROOT / "stacks" / "Pulumi.staging.yaml", copy)
    use(monkeypatch, copy)
    assert runbook_state_dir("staging") == project == tmp_path / "state" / "staging"
    lease = open_journal("staging").acquire("staging", holder())
    monkeypatch.delenv("RUNBOOK_STACKS_DIR")
    with pytest.raises(LockedError):
        open_journal("staging").acquire("staging", holder())
    lease.release()


def test_journal_files_are_private(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    isolated_stack(tmp_path)
    use(monkeypatch, tmp_path / "stacks")
    monkeypatch.setenv("RUNBOOK_STATE_DIR", str(tmp_path / "state"))
    journal = open_journal(STACK)
    journal.start_release(STACK, "trading-api", "9.0.0", {})
    folder = runbook_state_dir(STACK)
    assert stat.S_IMODE(folder.stat().st_mode) == 0o700
    files = [p for p in folder.iterdir() if p.is_file()]
    assert any(p.name == "journal.sqlite3" for p in files)
    for path in files:
        assert stat.S_IMODE(path.stat().st_mode) == 0o600, path
