"""A local stack's runtime lock, taken before a releasing verb parses its options.

Ten `runbook rollout` started together on one stack must see nine refused (exit 4) within
a second each. Parsing a verb's options costs typer's pydantic coercion and the verb its
engine imports; on a 2-core machine ten of those together take seconds. So `main`,
before it loads typer, takes the runtime lock of the stack named on the command line
(reading the stack file as plain YAML), for the verb that starts a release, and holds it
until the verb ends; the engine adopts it (`RuntimeLock.held_for_verb`). Nothing here
imports typer or pydantic.

Anything this cannot read plainly (no stack given, an option it does not know, a file that
is missing or not YAML, a cloud stack, `--help`, a bad version or an unknown service, which
are bad input: exit 2) takes nothing here: the verb's own checks answer as before. A
cloud stack's lock is its journal's (PostgreSQL, SQLite), taken by the engine.
"""

from __future__ import annotations

import os
from collections.abc import Iterator, Mapping, Sequence
from contextlib import AbstractContextManager, ExitStack, contextmanager, nullcontext, suppress
from pathlib import Path
from typing import Any

from stackspec.errors import RunbookError

STACK_ENV = "RUNBOOK_STACK"  # the stack a verb works on when -s/--stack is not given

# The verb that starts a release on a stack, with its options: those that take a value and
# the flags (tests/unit/cli/test_early_lock.py checks them against the command). `retry`,
# `resume` and `rollback` answer a held lock with messages of their own.
RELEASING_VERB = "rollout"
VALUE_OPTIONS = frozenset(
    {
        "-s",
        "--stack",
        "--service",
        "--version",
        "--step",
        "--fault",
        "--migration",
        "--config-version",
        "--from",
        "--evidence",
        "--decision-record",
        "--output",
        "-o",
    }
)
FLAGS = frozenset({"--force", "--json"})


def parsed_options(args: Sequence[str]) -> dict[str, list[str]] | None:
    """The verb's options as {name: [values]} ("-s" filed as "--stack", "-sX" and
    "--name=X" understood), or None for anything this does not read as click would (an
    unknown option, a missing value, a positional argument, `--`, `--help`): the verb's own
    parsing then answers."""
    found: dict[str, list[str]] = {}
    items = iter(args)
    for arg in items:
        name, given, value = arg.partition("=") if arg.startswith("--") else (arg, "", "")
        if arg.startswith("-s") and len(arg) > 2 and not arg.startswith("--"):
            name, given, value = "-s", "=", arg[2:]
        if name in FLAGS and not given:
            found.setdefault(name, []).append("")
            continue
        if name not in VALUE_OPTIONS:
            return None
        if not given:
            value = next(items, None) or ""
            if not value:
                return None
        found.setdefault("--stack" if name == "-s" else name, []).append(value)
    return found


def stack_named(args: Sequence[str], env_var: str) -> str | None:
    """The stack the verb's `args` name (the last `-s`/`--stack`), else `$env_var`; None
    when the arguments are not plainly readable (see `parsed_options`)."""
    options = parsed_options(args)
    return None if options is None else _stack_of(options, env_var)


def _stack_of(options: Mapping[str, Sequence[str]], env_var: str) -> str | None:
    named = options.get("--stack")
    return named[-1] if named else os.environ.get(env_var) or None


def check_names(
    section: Mapping[str, Any], services: Sequence[str], versions: Sequence[str]
) -> None:
    """BadInput (exit 2) for a bad version or a `--service NAME[=VERSION]` that is not
    well formed or not declared in the stack's raw `section`. A file whose `services` are
    not plainly a list of named mappings is left to the settings model to name."""
    from stackspec.errors import BadInput
    from stackspec.names import service_name, version

    for given in versions:
        version(given)
    declared = section.get("services")
    if not isinstance(declared, list) or not all(
        isinstance(s, Mapping) and isinstance(s.get("name"), str) for s in declared
    ):
        return
    known = [s["name"] for s in declared]
    for item in services:
        name, _, pinned = item.partition("=")
        service_name(name)
        if pinned:
            version(pinned)
        if name not in known:
            raise BadInput(
                f"no service '{name}' in this stack", hint=f"services: {', '.join(known)}"
            )


def names_are_plain(section: Mapping[str, Any], options: Mapping[str, Sequence[str]]) -> bool:
    """Whether the version and every `--service` of the parsed `options` pass `check_names`
    and the file declares its services plainly: only then may a held lock answer first."""
    if not isinstance(section.get("services"), list):
        return False
    try:
        check_names(section, options.get("--service", []), options.get("--version", []))
    except RunbookError:
        return False
    return True


def runtime_dir(stack: str, options: Mapping[str, Sequence[str]] | None = None) -> Path | None:
    """The runtime dir of a local `stack` read plainly from its file, else None (also when
    `options` name a bad version or an unknown service: the verb refuses them, exit 2)."""
    from stackspec.stackfile import local_runtime_dir, read_config, stack_path

    try:
        section = read_config(stack_path(stack))
    except RunbookError:  # a bad name or file: the verb's own checks say what is wrong
        return None
    return local_runtime_dir(section) if names_are_plain(section, options or {}) else None


def runtime_lock_for_argv(argv: Sequence[str], env_var: str) -> AbstractContextManager[None]:
    """`runtime_lock_for` the verb of a `runbook` command line (its first word that is not
    an option: the root's options take no value) and the arguments after it."""
    at = next((i for i, a in enumerate(argv) if not a.startswith("-")), len(argv))
    if at == len(argv):
        return nullcontext()
    return runtime_lock_for(argv[at], argv[at + 1 :], env_var)


@contextmanager
def runtime_lock_for(verb: str, args: Sequence[str], env_var: str) -> Iterator[None]:
    """Hold the runtime lock of the local stack `verb` releases on, for the block, when
    `verb` starts releases; LockedError (exit 4) at once if another process holds it."""
    options = parsed_options(args) if verb == RELEASING_VERB else None
    stack = _stack_of(options, env_var) if options is not None else None
    state_dir = runtime_dir(stack, options) if stack and options is not None else None
    if stack is None or state_dir is None:
        yield
        return
    from runbooks.journal.lock import RuntimeLock, holder

    held = ExitStack()
    with suppress(OSError):  # an unusable state dir: the engine's own lock reports it, exit 1
        held.enter_context(RuntimeLock(state_dir).held_for_verb(stack, holder()))
    with held:
        yield
