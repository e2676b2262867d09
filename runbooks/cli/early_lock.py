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
    if options is None:
        return None
    named = options.get("--stack")
    return named[-1] if named else os.environ.get(env_var) or None


def names_are_plain(section: Mapping[str, Any], args: Sequence[str]) -> bool:
    """Whether the version and every `--service NAME[=VERSION]` in `args` pass the checks
    of names a bad input gets exit 2 for (a valid version, a declared service): only then
    may a held lock answer first."""
    from stackspec.names import service_name, version

    options = parsed_options(args) or {}
    declared = section.get("services")
    if not isinstance(declared, list):
        return False
    known = {s.get("name") for s in declared if isinstance(s, Mapping)}
    try:
        for given in options.get("--version", []):
            version(given)
        for item in options.get("--service", []):
            name, _, pinned = item.partition("=")
            service_name(name)
            if pinned:
                version(pinned)
            if name not in known:
                return False
    except RunbookError:
        return False
    return True


def runtime_dir(stack: str, args: Sequence[str] = ()) -> Path | None:
    """The runtime dir of a local `stack` read plainly from its file, else None (also when
    `args` name a bad version or an unknown service: the verb refuses them, exit 2)."""
    from stackspec.stackfile import local_runtime_dir, read_config, stack_path

    try:
        section = read_config(stack_path(stack))
    except RunbookError:  # a bad name or file: the verb's own checks say what is wrong
        return None
    return local_runtime_dir(section) if names_are_plain(section, args) else None


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
    stack = stack_named(args, env_var) if verb == RELEASING_VERB else None
    state_dir = runtime_dir(stack, args) if stack else None
    if stack is None or state_dir is None:
        yield
        return
    from runbooks.journal.lock import RuntimeLock, holder

    held = ExitStack()
    with suppress(OSError):  # an unusable state dir: the engine's own lock reports it, exit 1
        held.enter_context(RuntimeLock(state_dir).held_for_verb(stack, holder()))
    with held:
        yield
