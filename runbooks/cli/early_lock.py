"""A local stack's runtime lock, taken before a releasing verb parses its options.

Ten `runbook rollout` started together on one stack must see nine refused (exit 4) within
a second each. Parsing a verb's options costs typer's pydantic coercion and the verb its
engine imports; on a 2-core machine ten of those together take seconds. So the root
group, before it parses its own options, takes the runtime lock of the stack named on the
command line (reading the stack file as plain YAML), for the verbs that start a release,
and holds it until the verb ends; the engine adopts it (`RuntimeLock.held_for_verb`).

Anything this cannot read plainly (no stack given, a file that is missing or not YAML, a
cloud stack, `--help`) takes nothing here: the verb's own checks answer as before. A
cloud stack's lock is its journal's (PostgreSQL, SQLite), taken by the engine.
"""

from __future__ import annotations

import os
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from pathlib import Path

from stackspec.errors import RunbookError

# The verbs that start a release on a stack (resume and rollback take an existing one over,
# with messages of their own about it).
RELEASING_VERBS = frozenset({"rollout", "retry"})
HELP_FLAGS = frozenset({"--help", "-h"})


def stack_named(args: Sequence[str], env_var: str) -> str | None:
    """The value of the last `-s`/`--stack` among a verb's `args` (`-s X`, `-sX`,
    `--stack X`, `--stack=X`; none after `--`), else `$env_var`, else None."""
    found: str | None = None
    items = iter(args)
    for arg in items:
        if arg == "--":
            break
        if arg in ("-s", "--stack"):
            found = next(items, None)
        elif arg.startswith("--stack="):
            found = arg.split("=", 1)[1]
        elif arg.startswith("-s") and not arg.startswith("--"):
            found = arg[2:]
    return found if found is not None else os.environ.get(env_var) or None


def runtime_dir(stack: str) -> Path | None:
    """The runtime dir of a local `stack` read plainly from its file, else None."""
    from stackspec.stackfile import local_runtime_dir, read_config, stack_path

    try:
        return local_runtime_dir(read_config(stack_path(stack)))
    except RunbookError:  # a bad name or file: the verb's own checks say what is wrong
        return None


@contextmanager
def runtime_lock_for(verb: str, args: Sequence[str], env_var: str) -> Iterator[None]:
    """Hold the runtime lock of the local stack `verb` releases on, for the block, when
    `verb` starts releases; LockedError (exit 4) at once if another process holds it."""
    stack = stack_named(args, env_var) if verb in RELEASING_VERBS else None
    state_dir = runtime_dir(stack) if stack and not HELP_FLAGS.intersection(args) else None
    if stack is None or state_dir is None:
        yield
        return
    from runbooks.journal.lock import RuntimeLock, holder

    with RuntimeLock(state_dir).held_for_verb(stack, holder()):
        yield
