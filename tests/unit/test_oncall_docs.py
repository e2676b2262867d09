"""The on-call runbooks: the committed ones match what the stack files render now, a stack
change without rendering again fails the check, the values are the stack's own, and every
`runbook` command they tell on-call staff to run exists with the options they give it."""

from __future__ import annotations

import importlib
import re
import shlex
import shutil
from pathlib import Path

import pytest
import typer
from typer._click.core import Command, Context  # typer 0.29 vendors click
from typer.core import TyperGroup
from typer.testing import CliRunner

from runbooks.cli import VERBS
from runbooks.cli.app import app
from runbooks.docs.render import DOCS_DIR, ROUTERS, UNDO, render, stack_names
from runbooks.routers.registry import ROUTERS as ROUTER_REGISTRY
from runbooks.steps.registry import STEPS
from stackspec.errors import ExitCode
from stackspec.stackfile import PROJECT_ROOT, load_stack

for _verb in VERBS:
    importlib.import_module(f"runbooks.cli.{_verb}")

STACKS = ["dev", "local", "production", "staging"]


@pytest.fixture(scope="module")
def rendered() -> dict[str, str]:
    return {stack: render(stack) for stack in STACKS}


def _run(*args: str) -> tuple[int, str]:
    result = CliRunner().invoke(app, list(args))
    return result.exit_code, result.output


def test_every_stack_has_a_committed_runbook_that_matches_its_stack_file(
    rendered: dict[str, str],
) -> None:
    assert stack_names() == STACKS
    stale = [s for s in STACKS if (DOCS_DIR / f"{s}.md").read_text(encoding="utf-8") != rendered[s]]
    assert stale == [], f"re-render with `runbook docs` and commit: {stale}"
    code, output = _run("docs", "--check")
    assert code == ExitCode.OK, output


@pytest.fixture
def stacks_copy(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """A copy of the stack files and of their runbooks, rendered from them."""
    shutil.copytree(PROJECT_ROOT / "stacks", tmp_path / "stacks")
    shutil.copytree(DOCS_DIR, tmp_path / "runbooks")
    monkeypatch.setenv("RUNBOOK_STACKS_DIR", str(tmp_path / "stacks"))
    return tmp_path


def test_a_stack_change_without_rendering_again_fails_the_check_naming_the_file(
    stacks_copy: Path,
) -> None:
    out = str(stacks_copy / "runbooks")
    staging = stacks_copy / "stacks" / "Pulumi.staging.yaml"
    staging.write_text(
        staging.read_text().replace("failureLimit: 1", "failureLimit: 2"), encoding="utf-8"
    )
    before = (stacks_copy / "runbooks" / "staging.md").read_text()

    code, output = _run("docs", "--check", "--out", out)

    assert code == ExitCode.FAILED
    assert "staging.md" in output and "production.md" not in output
    assert (stacks_copy / "runbooks" / "staging.md").read_text() == before  # nothing written

    code, output = _run("docs", "--stack", "staging", "--out", out)
    assert code == ExitCode.OK, output
    assert "| `rollout.failureLimit` | 2 |" in (stacks_copy / "runbooks" / "staging.md").read_text()
    assert _run("docs", "--check", "--out", out)[0] == ExitCode.OK


def test_a_release_written_back_to_the_stack_file_does_not_make_its_runbook_stale(
    stacks_copy: Path,
) -> None:
    staging = stacks_copy / "stacks" / "Pulumi.staging.yaml"
    text = staging.read_text()
    assert "activeColor: blue" in text
    staging.write_text(text.replace("activeColor: blue", "activeColor: green"), encoding="utf-8")

    code, output = _run("docs", "--check", "--out", str(stacks_copy / "runbooks"))

    assert code == ExitCode.OK, output


def test_a_missing_runbook_and_one_of_a_removed_stack_are_stale(stacks_copy: Path) -> None:
    runbooks = stacks_copy / "runbooks"
    (runbooks / "dev.md").unlink()
    (runbooks / "gone.md").write_text("old\n")

    code, output = _run("docs", "--check", "--out", str(runbooks))

    assert code == ExitCode.FAILED
    assert "dev.md" in output and "gone.md" in output


def test_an_unknown_stack_is_bad_input_and_writes_nothing(tmp_path: Path) -> None:
    code, output = _run("docs", "--stack", "nope", "--out", str(tmp_path / "out"))

    assert code == ExitCode.BAD_INPUT
    assert "existing stack files" in output and "Traceback" not in output
    assert not (tmp_path / "out").exists()


def test_the_runbook_carries_the_stacks_own_names_and_values(rendered: dict[str, str]) -> None:
    production, local, dev = rendered["production"], rendered["local"], rendered["dev"]
    policy = load_stack("production").rollout
    assert "| 1 | 5 % | 5 min |" in production and "| 2 | 25 % | 10 min |" in production
    assert f"| `rollout.failureLimit` | {policy.failure_limit} |" in production
    assert "| `rollout.thresholds.minRequests` | 200 |" in production
    assert "| `rollout.manualPromotion` | yes |" in production
    assert "`production-trading-writer`" in production  # the RDS writer, restore by snapshot
    assert "--db-snapshot-identifier <backup-id>" in production
    assert "runbook db restore" not in production  # pg_dump restore does not apply on aws
    assert "| `rollout.thresholds.p95LatencyFloorMs` | 10 ms |" in local
    assert "`.local-stack/backups/`" in local and "`haproxy`" in local
    assert "runbook db restore --stack local --backup-id <backup-id> --yes" in local
    assert "| Kubernetes namespace | `trading-dev` |" in dev
    assert "| schema | `db-migration` | 30 min |" in dev
    assert "TRADING_WEBHOOK_URL" in local  # the variable's name, never a secret's value


def test_the_exit_codes_are_ExitCodes_own(rendered: dict[str, str]) -> None:
    for text in rendered.values():
        for code in ExitCode:
            assert f"| {code.value} | {code.meaning} |" in text


def test_every_release_step_and_router_has_its_words() -> None:
    assert set(UNDO) == set(STEPS.names())
    assert set(ROUTERS) == set(ROUTER_REGISTRY.names())


def _commands(text: str) -> list[list[str]]:
    """Each `runbook ...` line of the runbook's shell blocks, as words (comments dropped)."""
    blocks = re.findall(r"```sh\n(.*?)```", text, flags=re.S)
    lines = [line for block in blocks for line in block.splitlines()]
    return [shlex.split(line, comments=True) for line in lines if line.startswith("runbook ")]


def test_every_command_in_the_runbooks_exists_with_its_options(rendered: dict[str, str]) -> None:
    root = typer.main.get_command(app)
    assert isinstance(root, TyperGroup)
    seen = 0
    for stack, text in rendered.items():
        for words in _commands(text):
            command: Command = root
            rest = words[1:]
            while isinstance(command, TyperGroup):
                found = command.get_command(Context(command), rest[0])
                assert found is not None, f"{stack}: no `runbook {' '.join(words[1:])}`"
                command, rest = found, rest[1:]
            options = {o for p in command.params for o in getattr(p, "opts", ())}
            given = {w for w in rest if w.startswith("-")}
            assert given <= options, f"{stack}: {' '.join(words)}: {given - options}"
            seen += 1
    assert seen >= 4 * 10
