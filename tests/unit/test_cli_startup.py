"""The CLI answers at once: `runbook --help`, `--version`, a verb's help and every refusal
of bad input import none of the heavy libraries (pulumi, boto3, kubernetes, Kafka, Redis,
PostgreSQL, scipy), and `--help` lists the verbs from VERB_TABLE, which must match what the
verb modules really register. Timing figures live in benchmarks/startup.py."""

from __future__ import annotations

import importlib
import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
import typer
from typer._click.utils import make_default_short_help

from runbooks.cli import VERBS
from runbooks.cli.app import VERB_TABLE, app

HEAVY = (
    "pulumi",
    "boto3",
    "botocore",
    "kubernetes",
    "confluent_kafka",
    "redis",
    "psycopg",
    "scipy",
)
# Runs the console script's main() and, at exit, writes which HEAVY modules were imported.
PROBE = """
import atexit, json, sys
heavy, out = json.loads(sys.argv[1]), sys.argv[2]
def report():
    with open(out, "w") as f:
        json.dump(sorted(m for m in heavy if m in sys.modules), f)
atexit.register(report)
sys.argv = ["runbook", *sys.argv[3:]]
from runbooks.cli import main
main()
"""


def _registered() -> dict[str, tuple[str, str]]:
    """verb -> (module registering it, its full one-line help), every verb module imported."""
    for module in VERBS:
        importlib.import_module(f"runbooks.cli.{module}")
    group = typer.main.get_group(app)
    found: dict[str, tuple[str, str]] = {}
    for command in app.registered_commands:
        assert command.callback is not None
        name = command.name or command.callback.__name__.replace("_", "-")
        found[name] = (command.callback.__module__, group.commands[name].get_short_help_str(999))
    for sub in app.registered_groups:
        first = sub.typer_instance.registered_commands[0].callback
        name = sub.name if isinstance(sub.name, str) else sub.typer_instance.info.name
        assert isinstance(name, str) and first is not None
        found[name] = (first.__module__, group.commands[name].get_short_help_str(999))
    return found


def test_the_verb_table_is_what_the_modules_register() -> None:
    registered = _registered()
    assert sorted(VERB_TABLE) == sorted(registered), (
        "add the verb to VERB_TABLE (runbooks/cli/app.py)"
    )
    for name, verb in VERB_TABLE.items():
        module, short = registered[name]
        assert module == f"runbooks.cli.{verb.module}", name
        assert make_default_short_help(verb.help, 999) == short, name


def _run(
    tmp_path: Path,
    *args: str,
    env: dict[str, str] | None = None,
    watch: tuple[str, ...] = HEAVY,
) -> tuple[int, str, list[str]]:
    """Exit status, output and which modules of `watch` the console script imported."""
    out = tmp_path / "heavy.json"
    done = subprocess.run(
        [sys.executable, "-c", PROBE, json.dumps(watch), str(out), *args],
        capture_output=True,
        text=True,
        timeout=60,
        env={**os.environ, "RUNBOOK_STATE_DIR": str(tmp_path / "state"), **(env or {})},
        stdin=subprocess.DEVNULL,
    )
    return done.returncode, done.stdout + done.stderr, json.loads(out.read_text())


@pytest.mark.parametrize(
    ("args", "code", "said"),
    [
        (("--help",), 0, "rollout"),
        (("--version",), 0, "runbook "),
        (("rollout", "--help"), 0, "--service"),
        (("rollout", "-s", "nosuch", "--service", "x", "--version", "1.0"), 2, "nosuch"),
        (("rollout", "-s", "local", "--service", "nosuch", "--version", "1.0"), 2, "nosuch"),
        (("status", "--bogus"), 2, "--bogus"),
        (("plan", "-s", "nosuch"), 2, "nosuch"),
        (("db", "status", "-s", "nosuch"), 2, "nosuch"),
        (("local", "status", "-s", "nosuch"), 2, "nosuch"),
        (("pause", "--service", "x"), 2, "RUNBOOK_STACK"),
    ],
    ids=lambda v: " ".join(v) if isinstance(v, tuple) else None,
)
def test_help_and_refusals_import_no_heavy_library(
    tmp_path: Path, args: tuple[str, ...], code: int, said: str
) -> None:
    env = {"RUNBOOK_STACK": ""} if args[0] == "pause" else None
    returncode, output, heavy = _run(tmp_path, *args, env=env)
    assert (returncode, heavy) == (code, []), output
    assert said in output
    assert "Traceback" not in output


# What rollout's help and its refusals must not load either: the live view (rich), the
# settings model, the engine, the session (its backends' registries).
ROLLOUT_LATER = (
    "rich",
    "stackspec.model",
    "runbooks.engine",
    "runbooks.session",
    "runbooks.cli.events",
    "runbooks.core.state",
)


@pytest.mark.parametrize(
    ("args", "said"),
    [
        (("rollout", "--help"), "--service"),
        (("rollout", "-s", "nosuch", "--service", "x", "--version", "1.0"), "nosuch"),
        (("status", "-s", "nosuch"), "nosuch"),
        (("rollout", "-s", "local", "--service", "nosuch", "--version", "1.0"), "market-data"),
        (("rollout", "-s", "local", "--service", "trading-api", "--version", "../1"), "--version"),
        (("rollout", "-s", "local", "--service", "trading-api=1", "--service", "x=2"), "'x'"),
        (
            (
                "rollout",
                "-s",
                "local",
                "--service",
                "trading-api",
                "--version",
                "1",
                "--fault",
                "x=1",
            ),
            "error-rate",
        ),
    ],
    ids=lambda v: " ".join(v) if isinstance(v, tuple) else None,
)
def test_rollout_help_and_refusals_load_no_model_engine_or_view(
    tmp_path: Path, args: tuple[str, ...], said: str
) -> None:
    returncode, output, loaded = _run(tmp_path, *args, watch=ROLLOUT_LATER)
    assert (returncode, loaded) == (0 if "--help" in args else 2, []), output
    assert said in output and "Traceback" not in output


def test_the_stack_comes_from_runbook_stack(tmp_path: Path) -> None:
    returncode, output, _ = _run(
        tmp_path, "pause", "--service", "x", env={"RUNBOOK_STACK": "nosuch"}
    )
    assert returncode == 2 and "Pulumi.nosuch.yaml" in output, output


def test_version_is_the_package_version(tmp_path: Path) -> None:
    from importlib.metadata import version

    _, output, _ = _run(tmp_path, "--version")
    assert output.strip() == f"runbook {version('trading-platform')}"


def test_completion_lists_verbs_without_importing_them(tmp_path: Path) -> None:
    env = {"_RUNBOOK_COMPLETE": "complete_bash", "COMP_WORDS": "runbook ro", "COMP_CWORD": "1"}
    returncode, output, heavy = _run(tmp_path, env=env)
    assert (returncode, heavy) == (0, []), output
    assert set(output.split()) == {"rollout", "rollback"}


# Verbs whose stack is not "the stack to work on": every stack by default, or a source.
NO_DEFAULT_STACK = {"docs", "evidence verify"}


def test_every_verb_taking_a_stack_has_s_and_the_default_stack() -> None:
    _registered()  # every verb module imported
    root = typer.main.get_group(app)
    seen = []
    for name, command in root.commands.items():
        leaves = getattr(command, "commands", None) or {"": command}
        for sub, leaf in leaves.items():
            verb = f"{name} {sub}".strip()
            for param in leaf.params:
                if param.name in ("stack", "stack_name"):
                    seen.append(verb)
                    assert "-s" in param.opts, verb
                    if verb not in NO_DEFAULT_STACK:
                        assert getattr(param, "envvar", None) == "RUNBOOK_STACK", verb
    assert {"rollout", "plan", "rehearse", "local status", "policy check", "retry"} <= set(seen)
