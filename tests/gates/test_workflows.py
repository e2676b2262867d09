"""The CI workflows (.github/workflows/): actionlint and zizmor pass with 0 findings (each with a
negative control), every `runbook`, `make` and `scripts/` command their `run:` blocks call
exists with the options given (checked against the Typer app's click tree and the Makefile),
and the pipelines keep the shape the issue asks for: secrets only from the secret store, in
a protected environment, on a runner inside the stack's VPC, one run per stack at a time.
"""

from __future__ import annotations

import importlib
import re
import shlex
from collections.abc import Iterator
from dataclasses import dataclass
from functools import cache
from pathlib import Path
from typing import Any

import pytest
import typer.main
import yaml

import runbooks.cli
from infra.gates import workflows
from infra.gates.workflows import (
    PROJECT_ROOT,
    actionlint,
    lint,
    self_hosted_labels,
    workflow_files,
    zizmor,
)
from runbooks.cli.app import app
from stackspec.stackfile import load_stack

WORKFLOW_FILES = workflow_files()
SHELL_OPERATORS = {"&&", "||", ";", "|", "&"}
SHA_PIN = re.compile(r"^[\w.-]+/[\w./-]+@[0-9a-f]{40}$")
SECRET_REFERENCE = re.compile(r"^\$\{\{ secrets\.[A-Z][A-Z0-9_]* \}\}$")


# --- the linters ------------------------------------------------------------------------------


def test_the_workflows_pass_actionlint_and_zizmor_with_no_finding() -> None:
    assert len(WORKFLOW_FILES) >= 3
    findings = lint(WORKFLOW_FILES)
    assert findings == [], "\n".join(map(str, findings))


BAD_WORKFLOW = """\
on: pull_request_target
jobs:
  build:
    runs-on: [self-hosted, trading-vpc-staging]
    steps:
      - uses: actions/checkout@v4
      - run: echo "${{ github.event.pull_request.title }}"
"""


def test_negative_control_both_linters_find_a_bad_workflow(tmp_path: Path) -> None:
    bad = tmp_path / "bad.yml"
    bad.write_text(BAD_WORKFLOW)
    kinds = {(finding.tool, finding.kind) for finding in actionlint([bad]) + zizmor([bad])}
    assert ("actionlint", "expression") in kinds  # untrusted input inlined into a script
    assert {
        ("zizmor", "dangerous-triggers"),
        ("zizmor", "template-injection"),
        ("zizmor", "unpinned-uses"),
        ("zizmor", "artipacked"),
    } <= kinds


def test_only_the_declared_self_hosted_labels_pass_actionlint(tmp_path: Path) -> None:
    bad = tmp_path / "bad.yml"
    bad.write_text(BAD_WORKFLOW)
    config = tmp_path / "actionlint.yaml"
    config.write_text("self-hosted-runner:\n  labels: [trading-vpc-production]\n")
    undeclared = [f for f in actionlint([bad], config) if f.kind == "runner-label"]
    assert [f.message.split(" is ")[0] for f in undeclared] == ['label "trading-vpc-staging"']
    assert self_hosted_labels() == {"trading-vpc-staging", "trading-vpc-production"}


def test_a_missing_linter_is_one_error_with_the_setup_hint(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.setattr(workflows, "ZIZMOR", tmp_path / "zizmor")
    assert workflows.main([str(WORKFLOW_FILES[0])]) == 2
    assert capsys.readouterr().err.splitlines() == [
        f"lint-workflows: zizmor is not installed at {tmp_path / 'zizmor'}",
        f"  hint: {workflows.SETUP_HINT}",
    ]


# --- the commands the run: blocks call --------------------------------------------------------


@dataclass(frozen=True)
class Call:
    """One simple command of a `run:` block: where it is and its words."""

    where: str
    words: tuple[str, ...]

    def __str__(self) -> str:
        return f"{self.where}: {shlex.join(self.words)}"


def workflow(path: Path) -> dict[Any, Any]:
    document = yaml.safe_load(path.read_text())
    assert isinstance(document, dict), path
    return document


def triggers(document: dict[Any, Any]) -> dict[str, Any]:
    """The `on:` mapping (PyYAML reads the bare key `on` as True)."""
    value = document.get("on", document.get(True))
    return value if isinstance(value, dict) else {str(value): None}


def run_blocks() -> Iterator[tuple[str, str]]:
    for path in WORKFLOW_FILES:
        for job_id, job in workflow(path)["jobs"].items():
            for step in job.get("steps", []):
                if "run" in step:
                    yield f"{path.name}:{job_id}", step["run"]


def simple_commands(script: str) -> Iterator[list[str]]:
    """The simple commands of a shell script, split on newlines and `&& || ; | &`."""
    for line in script.replace("\\\n", " ").splitlines():
        lexer = shlex.shlex(line, posix=True, punctuation_chars=True)
        lexer.whitespace_split = True
        lexer.commenters = "#"
        words: list[str] = []
        for token in lexer:
            if token in SHELL_OPERATORS:
                yield words
                words = []
            else:
                words.append(token)
        yield words


def command_words(words: list[str]) -> list[str]:
    """`words` less leading VAR=value assignments and a `uv run [--opts]` prefix."""
    while words and re.match(r"^[A-Za-z_][A-Za-z0-9_]*=", words[0]):
        words = words[1:]
    if words[:2] == ["uv", "run"]:
        words = words[2:]
        while words and words[0].startswith("-"):
            words = words[2:] if words[0] in {"--project", "--with"} else words[1:]
    return words


@cache
def calls() -> tuple[Call, ...]:
    found = []
    for where, script in run_blocks():
        for words in simple_commands(script):
            words = command_words(words)
            if words and (
                Path(words[0]).name in {"runbook", "make"} or words[0].startswith("scripts/")
            ):
                found.append(Call(where, tuple(words)))
    return tuple(found)


def calls_of(program: str) -> list[Call]:
    return [call for call in calls() if Path(call.words[0]).name == program]


@cache
def runbook_cli() -> Any:
    """The `runbook` click tree with every verb module registered, as `runbook` runs it."""
    for verb in runbooks.cli.VERBS:
        importlib.import_module(f"runbooks.cli.{verb}")
    return typer.main.get_command(app)


def runbook_problems(args: tuple[str, ...]) -> list[str]:
    """What is wrong with `runbook ARGS` against the CLI: unknown verb or option, an option
    without its value, too many arguments, a required option or argument left out."""
    command, path, rest = runbook_cli(), ["runbook"], list(args)
    while rest and getattr(command, "commands", None) is not None:
        if rest[0] not in command.commands:
            return [f"`{' '.join(path)}` has no verb {rest[0]!r} (has {sorted(command.commands)})"]
        path.append(rest[0])
        command = command.commands[rest.pop(0)]
    if getattr(command, "commands", None) is not None:
        return [f"`{' '.join(path)}` needs a verb"]
    options = {
        name: param
        for param in command.params
        if param.param_type_name == "option"
        for name in (*param.opts, *param.secondary_opts)
    }
    problems, given, positional = [], set(), []
    while rest:
        word = rest.pop(0)
        if not word.startswith("-"):
            positional.append(word)
            continue
        name = word.split("=", 1)[0]
        param = options.get(name)
        if param is None:
            problems.append(f"`{' '.join(path)}` has no option {name} (has {sorted(options)})")
            continue
        given.add(param.name)
        if not param.is_flag and "=" not in word:
            if len(rest) < param.nargs:
                problems.append(f"{name} needs {param.nargs} value(s)")
            rest = rest[param.nargs :]
    for param in command.params:
        if param.param_type_name == "option" and param.required and param.name not in given:
            problems.append(f"`{' '.join(path)}` requires {param.opts[0]}")
    arguments = [p for p in command.params if p.param_type_name == "argument"]
    slots = sum(p.nargs for p in arguments) if all(p.nargs > 0 for p in arguments) else None
    required = sum(p.nargs for p in arguments if p.required and p.nargs > 0)
    if (slots is not None and len(positional) > slots) or len(positional) < required:
        problems.append(
            f"`{' '.join(path)}` takes {required}..{slots} argument(s), got {positional}"
        )
    return problems


@cache
def make_targets() -> frozenset[str]:
    text = (PROJECT_ROOT / "Makefile").read_text()
    return frozenset(re.findall(r"^([A-Za-z0-9_.-]+):(?!=)", text, flags=re.MULTILINE)) - {".PHONY"}


def make_problems(args: tuple[str, ...]) -> list[str]:
    targets = [word for word in args if not word.startswith("-") and "=" not in word]
    return [f"the Makefile has no target {t!r}" for t in targets if t not in make_targets()]


def script_problems(words: tuple[str, ...]) -> list[str]:
    script = PROJECT_ROOT / words[0]
    if not (script.is_file() and script.stat().st_mode & 0o111):
        return [f"{words[0]} is not an executable file of the project"]
    if words[0] == "scripts/deploy":
        stack, verb = words[1], words[2]
        if not (PROJECT_ROOT / "policy" / "config" / f"{stack}.json").is_file():
            return [f"scripts/deploy: stack {stack!r} has no policy pack config"]
        if verb not in {"preview", "up"}:
            return [f"scripts/deploy takes preview or up, not {verb!r}"]
    return []


def problems(call: Call) -> list[str]:
    program = Path(call.words[0]).name
    if program == "runbook":
        return runbook_problems(call.words[1:])
    if program == "make":
        return make_problems(call.words[1:])
    return script_problems(call.words)


@pytest.mark.parametrize("call", calls(), ids=str)
def test_every_command_the_workflows_call_exists(call: Call) -> None:
    assert problems(call) == []


def test_negative_control_the_command_check_finds_what_does_not_exist() -> None:
    assert problems(Call("x", ("runbook", "policy", "check", "--json"))) == [
        "`runbook policy check` requires --stack"
    ]
    assert problems(Call("x", ("runbook", "plan", "--stack"))) == ["--stack needs 1 value(s)"]
    [unknown_option] = problems(Call("x", ("runbook", "plan", "--stack", "dev", "--no-such-flag")))
    assert unknown_option.startswith("`runbook plan` has no option --no-such-flag")
    [unknown_verb] = problems(Call("x", ("runbook", "policy", "enforce", "--stack", "dev")))
    assert unknown_verb.startswith("`runbook policy` has no verb 'enforce'")
    assert problems(Call("x", ("make", "test", "no-such-target"))) == [
        "the Makefile has no target 'no-such-target'"
    ]
    assert problems(Call("x", ("scripts/deploy", "qa", "up"))) == [
        "scripts/deploy: stack 'qa' has no policy pack config"
    ]


def test_the_command_extraction_reads_continuations_operators_and_uv_run() -> None:
    script = (
        "cd x && uv run --project . runbook plan \\\n  --stack dev # a comment\n"
        "make test; make validate\n"
    )
    words = [command_words(w) for w in simple_commands(script)]
    assert ["runbook", "plan", "--stack", "dev"] in words
    assert ["make", "test"] in words and ["make", "validate"] in words


def test_the_pipelines_call_what_the_issue_asks() -> None:
    said = {shlex.join(call.words) for call in calls()}
    assert {"make test", "make validate"} <= said
    assert {"scripts/deploy staging preview", "scripts/deploy staging up"} <= {
        " ".join(call.words[:3]) for call in calls_of("deploy")
    }
    verbs = {
        tuple(w for w in call.words[1:3] if not w.startswith("-")) for call in calls_of("runbook")
    }
    assert {("plan",), ("rollout",), ("evidence", "export"), ("approve",)} <= verbs
    promotion = [c for c in calls_of("runbook") if "--from" in c.words]
    assert [c.words[c.words.index("--stack") + 1] for c in promotion] == ["production"]
    assert {"--evidence", "--decision-record"} <= set(promotion[0].words)


# --- the pipelines' shape ---------------------------------------------------------------------


def jobs() -> Iterator[tuple[str, str, dict[str, Any]]]:
    for path in WORKFLOW_FILES:
        for job_id, job in workflow(path)["jobs"].items():
            yield path.name, job_id, job


def deployed_stacks() -> set[str]:
    stacks = (p.name.split(".")[1] for p in (PROJECT_ROOT / "stacks").glob("Pulumi.*.yaml"))
    return {stack for stack in stacks if load_stack(stack).substrate != "local"}


def test_no_workflow_runs_on_untrusted_triggers_or_with_default_permissions() -> None:
    for path in WORKFLOW_FILES:
        document = workflow(path)
        assert not {"pull_request_target", "workflow_run"} & set(triggers(document)), path.name
        assert document["permissions"] == {}, f"{path.name}: top-level permissions must be {{}}"
    for name, job_id, job in jobs():
        assert isinstance(job.get("permissions"), dict), f"{name}:{job_id} states its permissions"


def test_every_action_is_pinned_and_no_checkout_keeps_credentials() -> None:
    for name, job_id, job in jobs():
        for step in job.get("steps", []):
            if "uses" in step:
                assert SHA_PIN.match(step["uses"]), f"{name}:{job_id}: {step['uses']} not by SHA"
            if step.get("uses", "").startswith("actions/checkout@"):
                assert step["with"]["persist-credentials"] is False, f"{name}:{job_id}"


def secret_references(node: Any) -> Iterator[str]:
    if isinstance(node, dict):
        for value in node.values():
            yield from secret_references(value)
    elif isinstance(node, list):
        for value in node:
            yield from secret_references(value)
    elif isinstance(node, str) and "secrets." in node:
        yield node


def test_jobs_with_secrets_run_in_the_stacks_environment_inside_its_vpc() -> None:
    deploying = 0
    for name, job_id, job in jobs():
        references = list(secret_references(job))
        if not references:
            continue
        deploying += 1
        where = f"{name}:{job_id}"
        # Whole values only: a secret is never pasted into a script's text.
        assert all(SECRET_REFERENCE.match(ref) for ref in references), (where, references)
        stack = job["environment"]
        assert stack in deployed_stacks() - {"dev"}, where
        assert job["runs-on"][0] == "self-hosted" and f"trading-vpc-{stack}" in job["runs-on"]
        assert workflow(PROJECT_ROOT / ".github" / "workflows" / name)["concurrency"] == {
            "group": f"stack-{stack}",
            "cancel-in-progress": False,
        }, where
    assert deploying >= 3


def test_ci_plans_every_deployed_stack_and_promotion_is_manual() -> None:
    ci = workflow(PROJECT_ROOT / ".github" / "workflows" / "ci.yml")
    assert set(triggers(ci)) == {"push", "pull_request"}
    assert set(ci["jobs"]["plan"]["strategy"]["matrix"]["stack"]) == deployed_stacks()
    staging = workflow(PROJECT_ROOT / ".github" / "workflows" / "staging.yml")
    assert triggers(staging)["push"] == {"branches": ["main"]}
    promote = workflow(PROJECT_ROOT / ".github" / "workflows" / "promote-production.yml")
    assert set(triggers(promote)) == {"workflow_dispatch"}
    assert promote["jobs"]["promote"]["environment"] == "production"


def steps_using(action: str) -> list[dict[str, Any]]:
    return [
        step
        for _, _, job in jobs()
        for step in job.get("steps", [])
        if step.get("uses", "").startswith(f"{action}@")
    ]


def test_the_promotion_downloads_the_evidence_staging_keeps_and_keeps_its_decision() -> None:
    uploads = {
        step["with"]["name"]: step["with"]["path"]
        for step in steps_using("actions/upload-artifact")
    }
    [download] = steps_using("actions/download-artifact")
    assert uploads[download["with"]["name"]] == "evidence.json"
    assert download["with"]["run-id"] == "${{ inputs.staging_run_id }}"
    assert uploads["production-decision-record"] == "decision.json"
