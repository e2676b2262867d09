"""A local stack's runtime lock is taken before a releasing verb parses its options.

Found: ten `runbook rollout` started together on a 2-core machine answered "locked" after
up to 3.7 s each, because each refusal first paid for typer's pydantic coercion and the
engine's imports (0.74 s of CPU). Taken by the root group from the plain stack file, the
refusal needs neither; the engine adopts the lock the verb took.
"""

from __future__ import annotations

import subprocess
import sys
import threading
from pathlib import Path

import pytest
import typer
from typer._click.core import Context

from runbooks.cli.app import app
from runbooks.cli.early_lock import (
    FLAGS,
    VALUE_OPTIONS,
    runtime_dir,
    runtime_lock_for,
    stack_named,
)
from runbooks.journal.lock import RuntimeLock, holder
from runbooks.local.isolated import isolated_stack
from stackspec.errors import ExitCode, LockedError
from stackspec.stackfile import PROJECT_ROOT, local_runtime_dir, read_config

ENV = "RUNBOOK_STACK"


@pytest.mark.parametrize(
    ("args", "expected"),
    [
        (["-s", "local", "--version", "1"], "local"),
        (["--stack", "dev"], "dev"),
        (["--stack=staging"], "staging"),
        (["-sproduction"], "production"),
        (["-s", "a", "-s", "b"], "b"),  # the last one wins, as in click
        (["--service", "-sdev", "-s", "local"], "local"),  # -sdev is the service's value
        (["--service", "trading-api"], None),
        (["-s"], None),  # no value: click refuses it
        (["--", "-s", "local"], None),  # not read plainly: the verb's parsing answers
        (["--bogus", "-s", "local"], None),
        (["-s", "local", "--help"], None),
    ],
)
def test_the_stack_is_read_from_the_verbs_arguments(
    args: list[str], expected: str | None, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv(ENV, raising=False)
    assert stack_named(args, ENV) == expected


def test_the_options_read_are_the_rollout_commands() -> None:
    """The table of options must follow the command's: a new option unknown here would
    only lose the early answer (the verb parses it), a wrong one would misread a stack."""
    command = typer.main.get_group(app).get_command(Context(typer.main.get_group(app)), "rollout")
    assert command is not None
    declared = {name for param in command.params for name in param.opts}
    flags = {name for param in command.params if param.is_flag for name in param.opts}  # type: ignore[attr-defined]
    assert flags == FLAGS  # --help is click's own, not a parameter
    assert declared - flags == VALUE_OPTIONS


def test_without_an_argument_the_stack_comes_from_the_environment(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv(ENV, "local")
    assert stack_named(["--version", "1"], ENV) == "local"
    assert stack_named(["-s", "dev"], ENV) == "dev"


@pytest.fixture
def local(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """A private local stack's runtime dir; its stack file under RUNBOOK_STACKS_DIR."""
    settings = isolated_stack(tmp_path)
    monkeypatch.setenv("RUNBOOK_STACKS_DIR", str(tmp_path / "stacks"))
    monkeypatch.setenv("RUNBOOK_STATE_DIR", str(tmp_path / "runbook"))
    assert settings.local is not None
    found = runtime_dir("local")
    assert found is not None and found.is_absolute()
    return found


def test_only_a_readable_local_stack_has_a_runtime_dir(local: Path) -> None:
    staging = read_config(PROJECT_ROOT / "stacks" / "Pulumi.staging.yaml")
    assert local_runtime_dir(staging) is None  # a cloud stack: its journal has the lock
    assert runtime_dir("no-such-stack") is None  # the verb's own checks say so
    assert runtime_dir("../../etc") is None


def test_the_engine_adopts_the_verbs_lock_and_other_threads_are_refused(local: Path) -> None:
    refused: list[BaseException] = []

    def other_thread() -> None:
        try:
            RuntimeLock(local).acquire("local", "other")
        except LockedError as err:
            refused.append(err)

    with runtime_lock_for("rollout", ["-s", "local"], ENV):
        with RuntimeLock(local).acquire("local", holder()):  # adopted, not refused
            pass
        assert RuntimeLock(local).holder() is not None  # still held: the verb has not ended
        worker = threading.Thread(target=other_thread)
        worker.start()
        worker.join()
    assert len(refused) == 1
    assert RuntimeLock(local).holder() is None  # given back when the verb ended


@pytest.mark.parametrize(
    ("verb", "args"),
    [
        ("status", ["-s", "local"]),
        ("retry", ["-s", "local", "--service", "trading-api"]),  # says "resume it" itself
        ("rollout", ["-s", "local", "--help"]),
        ("rollout", ["-s", "local", "--service", "trading-api", "--version", "bad version!"]),
        ("rollout", ["-s", "local", "--service", "nosuch", "--version", "1.0.0"]),
        ("rollout", ["-s", "local", "--service", "trading-api=bad!"]),
    ],
)
def test_no_early_lock_where_the_verb_answers_otherwise(
    local: Path, verb: str, args: list[str]
) -> None:
    """Bad input is exit 2 whether or not the stack is locked; other verbs keep their own
    answers to a held lock."""
    with runtime_lock_for(verb, args, ENV):
        assert RuntimeLock(local).holder() is None


# Run in a child: which modules the refused process imported.
REFUSED = """
import sys
from runbooks.cli import main
try:
    main()
finally:
    heavy = [m for m in ("pydantic", "runbooks.engine", "runbooks.cli.rollout") if m in sys.modules]
    print("imported:", ",".join(heavy), file=sys.stderr)
"""


def test_a_locked_rollout_is_refused_before_options_and_engine_are_loaded(local: Path) -> None:
    held = RuntimeLock(local).acquire("local", "someone-else")
    try:
        argv = ["--stack", "local", "--service", "trading-api", "--version", "9.9.9"]
        child = subprocess.run(
            [sys.executable, "-c", REFUSED, "rollout", *argv],
            capture_output=True,
            text=True,
            timeout=60,
        )
    finally:
        held.release()
    assert child.returncode == ExitCode.LOCKED, child.stderr
    assert "locked by someone-else" in child.stderr and "Traceback" not in child.stderr
    assert "imported: \n" in child.stderr  # none of them


def test_a_nested_verb_lock_is_given_back_once_by_the_outer_verb(local: Path) -> None:
    """Found in review: a nested hold on one thread deleted the outer's record, whose exit
    then failed with KeyError before releasing the flock."""
    with RuntimeLock(local).held_for_verb("local", "a"):
        with RuntimeLock(local).held_for_verb("local", "a"):
            pass
        assert RuntimeLock(local).holder() is not None  # the outer still holds it
    assert RuntimeLock(local).holder() is None


def test_an_unusable_state_dir_is_left_to_the_engine_to_report(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Found in review: the early lock's OSError (state dir under a plain file) escaped as a
    traceback; the engine's lock reports it as `error: file system: ...`, exit 1."""
    blocker = tmp_path / "not-a-dir"
    blocker.write_text("x")
    stacks = tmp_path / "stacks"
    stacks.mkdir()
    (stacks / "Pulumi.t.yaml").write_text(
        "config:\n  trading-platform:substrate: local\n"
        f"  trading-platform:local:\n    stateDir: {blocker / 'sub'}\n"
        "  trading-platform:services:\n    - name: api\n",
        encoding="utf-8",
    )
    monkeypatch.setenv("RUNBOOK_STACKS_DIR", str(stacks))
    with runtime_lock_for("rollout", ["-s", "t", "--service", "api", "--version", "1.0"], ENV):
        pass  # no lock taken, nothing raised
